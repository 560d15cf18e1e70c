"""``make docs``: the API reference from the docstrings (pdoc), into ``build/api/``; exits 1
naming every broken reference.

Two checks make a reference "broken": pdoc's own warnings (a name in ``__all__`` that does not
resolve, a module that does not import, an annotation it cannot read), and every dotted name
in double backticks whose first part is one of the package's own modules (``costmodel.adapt``,
``xcelerator.rounds.plan.Plan``, ``measure.core.measure_against``) that does not resolve to a
module or an attribute of one. Written here because pdoc leaves an unresolved reference as
plain text without a word, and mkdocstrings' strict mode needs a MkDocs site around it.

    python tools/apidocs.py [--out build/api] [--check-only]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FILE_SUFFIXES = {
    "json",
    "md",
    "csv",
    "onnx",
    "yaml",
    "yml",
    "py",
    "txt",
    "html",
    "png",
    "db",
    "gz",
    "pt2",
    "pte",
    "tflite",
}
REF = re.compile(r"``((?:xcelerator\.)?[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?``")


def modules() -> list[str]:
    import xcelerator

    names = ["xcelerator"]
    for m in pkgutil.walk_packages(xcelerator.__path__, "xcelerator."):
        names.append(m.name)
    return names


def resolve(ref: str, tops: set[str]) -> bool | None:
    """True if ``ref`` names a module or an attribute of one; None if it is not ours."""
    parts = ref.split(".")
    if parts[-1] in FILE_SUFFIXES:  # a file name (``demo.json``), not a dotted reference
        return None
    if parts[0] == "xcelerator":
        parts = parts[1:]
    if not parts or parts[0] not in tops:
        return None
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module("xcelerator." + ".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for a in parts[cut:]:
                obj = getattr(obj, a)
        except AttributeError:
            return False
        return True
    return False


def broken_refs(names: list[str]) -> list[str]:
    import xcelerator

    tops = {m.name for m in pkgutil.iter_modules(xcelerator.__path__)}
    bad = []
    for name in names:
        mod = importlib.import_module(name)
        docs = [(name, mod.__doc__ or "")]
        for attr, obj in vars(mod).items():
            if getattr(obj, "__module__", None) == name and (inspect.isclass(obj) or inspect.isfunction(obj)):
                docs.append((f"{name}.{attr}", obj.__doc__ or ""))
                if inspect.isclass(obj):
                    docs += [
                        (f"{name}.{attr}.{k}", v.__doc__ or "")
                        for k, v in vars(obj).items()
                        if inspect.isfunction(v) and v.__doc__
                    ]
        for where, doc in docs:
            for ref in REF.findall(doc):
                if resolve(ref, tops) is False:
                    bad.append(f"{where}: ``{ref}`` does not resolve")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "build" / "api"))
    ap.add_argument("--check-only", action="store_true", help="check references, write nothing")
    args = ap.parse_args()
    import pdoc

    import xcelerator

    for n in xcelerator._LAZY:  # the lazy API, materialized so pdoc documents it where it is exported
        setattr(xcelerator, n, getattr(xcelerator, n))
    names = modules()
    problems = broken_refs(names)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.render.configure(docformat="restructuredtext")
        if args.check_only:
            for n in names:
                pdoc.doc.Module(importlib.import_module(n)).members  # noqa: B018 (resolves every member)
        else:
            pdoc.pdoc("xcelerator", output_directory=Path(args.out))  # with every submodule
    problems += [f"pdoc: {w.message}" for w in caught if "pdoc" in str(w.filename)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} broken reference(s) in the API docs", file=sys.stderr)
        return 1
    print(f"API reference: {len(names)} modules" + ("" if args.check_only else f" → {args.out}/index.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
