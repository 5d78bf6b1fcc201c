"""gradconf adapter for HIPS autograd, registered as ``autograd`` under ``gradconf.adapters``.

A separate distribution (``gradconf-autograd``): the engine finds it through the entry
point in this package's ``pyproject.toml`` and needs no change to run it.
"""

from __future__ import annotations

from gradconf_autograd.adapter import AutogradAdapter

__all__ = ["AutogradAdapter"]
