"""Errors that the command line turns into one line and an exit code.

``BadInputError`` (exit 2): the user asked for something that cannot be done as asked
(missing or corrupt file, unknown target or option, bad config).
``RunFailedError`` (exit 1): the input was fine but the work ran and failed.
"""

from __future__ import annotations


class XcelError(Exception):
    """Base of the errors xcelerator reports to users."""

    exit_code = 1


class BadInputError(XcelError):
    exit_code = 2


class RunFailedError(XcelError):
    exit_code = 1


class MissingDependencyError(BadInputError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, module: str, extra: str, what: str) -> None:
        super().__init__(
            f"{what} needs the Python package '{module}', which is not installed: pip install 'xcelerator[{extra}]'"
        )


def check_params(where: str, given: dict[str, object], rules: dict[str, object]) -> None:
    """Validate settings on entry, scikit-learn style: each rule is a tuple or list of the valid
    values, a type (or tuple of types), or a ``(low, high)`` pair of numbers under the key
    ``"range"`` in a dict ``{"range": (low, high)}`` (``None``: unbounded; ``"optional": True``
    also lets the setting be None). The first setting
    that breaks its rule is one ``BadInputError`` naming the setting, what is valid, and what
    was given. (scikit-learn's own checker, ``sklearn.utils._param_validation``, is private API
    built for estimators' ``get_params``; these are plain config dataclasses.)"""
    for name, rule in rules.items():
        if name not in given:
            continue
        v = given[name]
        if isinstance(rule, dict) and "range" in rule:
            if v is None and rule.get("optional"):
                continue
            lo, hi = rule["range"]  # type: ignore[misc]
            ok = isinstance(v, int | float) and not isinstance(v, bool)
            ok = ok and (lo is None or v >= lo) and (hi is None or v <= hi)  # type: ignore[operator]
            valid = f"a number{'' if lo is None else f' >= {lo}'}{'' if hi is None else f' <= {hi}'}"
        elif isinstance(rule, type) or (isinstance(rule, tuple) and all(isinstance(r, type) for r in rule)):
            ok = isinstance(v, rule)  # type: ignore[arg-type]
            names = rule if isinstance(rule, tuple) else (rule,)
            valid = " or ".join("None" if r is type(None) else r.__name__ for r in names)  # type: ignore[union-attr]
        else:
            ok = v in rule  # type: ignore[operator]
            valid = "one of " + ", ".join(map(repr, rule))  # type: ignore[call-overload]
        if not ok:
            raise BadInputError(f"{where}: the setting {name!r} must be {valid}; got {v!r}")
