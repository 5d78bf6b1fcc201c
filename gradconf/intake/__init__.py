"""Everything gradconf reads from outside passes through here before any work is done.

``limits`` bounds what a case file may ask for, ``yamldoc`` loads YAML within those
bounds, ``streams`` reads result streams, results documents and manifests and says whether
a run is complete. Case files themselves are validated by :mod:`gradconf.loader` (with
:mod:`gradconf.schema` and :mod:`gradconf.case`) on top of ``yamldoc``. Every problem is an
:class:`InputError`: one located line, never a traceback, exit code 2 at the command line.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input gradconf cannot trust or use: ``where: what is wrong (hint: ...)``."""

    def __init__(self, where: str, message: str, hint: str = "") -> None:
        super().__init__(f"{where}: {message}" + (f" (hint: {hint})" if hint else ""))
        self.where, self.message, self.hint = where, message, hint
