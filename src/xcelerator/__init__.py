"""xcelerator: make a neural network fast on the device it will run on.

The public API re-exports the records and entry points that cross module lines; everything
else lives in the role packages (``models``, ``targets``, ``measure``, ``store``, ``cli``).
"""

from __future__ import annotations

from xcelerator.errors import BadInputError, RunFailedError, XcelError

__version__ = "0.1.0"

__all__ = [
    "BadInputError",
    "Candidate",
    "CostModel",
    "Measurement",
    "OptimizeConfig",
    "OptimizeResult",
    "Plan",
    "PruneSpace",
    "RunFailedError",
    "XcelError",
    "__version__",
    "calibrate",
    "compare",
    "deployed",
    "optimize",
    "pareto",
    "profile",
    "search",
]

_LAZY = {
    "profile": "xcelerator.api",
    "compare": "xcelerator.api",
    "calibrate": "xcelerator.api",
    "Plan": "xcelerator.rounds.plan",
    "Measurement": "xcelerator.measure.records",
    "optimize": "xcelerator.compress.core",
    "deployed": "xcelerator.compress.deploy",
    "OptimizeResult": "xcelerator.compress.core",
    "OptimizeConfig": "xcelerator.compress.config",
    "Candidate": "xcelerator.compress.core",
    "PruneSpace": "xcelerator.compress.prune",
    "search": "xcelerator.api",
    "pareto": "xcelerator.api",
    "CostModel": "xcelerator.costmodel.model",
}


def __getattr__(name: str) -> object:
    """The API is imported on first use: ``import xcelerator`` does no work."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xcelerator' has no attribute {name!r}")
