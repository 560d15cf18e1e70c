"""Runtimes: one file each, registered by name.

A runtime file is self-contained at import time (the standard library only; numpy and the runtime
itself are imported inside functions), because the same file is shipped to a board beside the
runner. It declares, as module attributes:

- ``NAME``, ``DESCRIPTION``; ``MODULE`` (the Python module that must import where it runs),
  ``PIP`` (what to install there) and ``EXTRA`` (the xcelerator extra that installs it here);
- ``FORMATS``: the artifact formats it runs; ``CONVERTS``: formats it converts from on the host
  (then ``convert(path, fmt, out_dir, inputs) -> path`` does it, results are cached by the caller);
- ``OPTIONS``: ``{name: {"help": str, "choices": [...], "integer": bool}}``, checked by the
  registry (every error lists the valid choices);
- ``VARIANTS``: option strings that ``xcel targets`` probes (``""`` is the plain runtime);
- ``probe(options) -> (usable, detail)``, which never raises;
- ``class Adapter(options)`` with ``version``, ``load(path, inputs)``, ``run()``, ``info()`` and
  ``profile(runs) -> (layers, e2e_ms)`` (``NotImplementedError`` with the reason when the runtime
  has no profiler); ``layers`` are ``{"name", "op_type", "mean_ms"}`` dicts.

Third-party packages add runtimes through the entry-point group ``xcelerator.runtimes``; the
entry point loads a module (or any object) with the same attributes.
"""

import pkgutil
from pathlib import Path

# every file in this folder is a runtime: adding one is adding a file (listed in this order first)
_FIRST = ("onnxruntime", "openvino", "torch", "litert")
_HERE = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
BUILTIN = tuple([n for n in _FIRST if n in _HERE] + [n for n in _HERE if n not in _FIRST])
