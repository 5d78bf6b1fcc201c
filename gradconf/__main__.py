"""``python -m gradconf``."""

import sys

from gradconf.cli import main

sys.exit(main())
