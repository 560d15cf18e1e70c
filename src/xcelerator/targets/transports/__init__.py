"""Transports: how a round reaches the machine that runs it, one file each (``local``, ``ssh``,
``adb``, ``command``), each defining one ``Transport`` subclass (``base.py`` is the interface);
third-party packages add theirs through the entry-point group ``xcelerator.transports`` (the
entry point loads a ``Transport`` subclass)."""

import pkgutil
from pathlib import Path

# every file in this folder but the interface is a transport: adding one is adding a file
_FIRST = ("local", "ssh", "adb", "command")
_HERE = sorted(
    m.name
    for m in pkgutil.iter_modules([str(Path(__file__).parent)])
    if not m.name.startswith("_") and m.name != "base"
)
BUILTIN = tuple([n for n in _FIRST if n in _HERE] + [n for n in _HERE if n not in _FIRST])
