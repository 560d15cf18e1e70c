"""xcelerator: make a neural network fast on the device it will run on.

The public API re-exports the records and entry points that cross module lines; everything
else lives in the role packages (``models``, ``targets``, ``measure``, ``store``, ``cli``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcelerator.errors import BadInputError, RunFailedError, XcelError

if TYPE_CHECKING:  # what the lazy names below are, for type checkers
    from xcelerator.api import calibrate, compare, pareto, profile, search
    from xcelerator.compress.config import OptimizeConfig
    from xcelerator.compress.core import Candidate, OptimizeResult, optimize
    from xcelerator.compress.deploy import deployed
    from xcelerator.compress.prune import PruneSpace
    from xcelerator.costmodel.model import CostModel
    from xcelerator.measure.caveats import caveats
    from xcelerator.measure.records import Measurement
    from xcelerator.rounds.plan import Plan

from xcelerator._version import __version__

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
    "caveats",
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
    "caveats": "xcelerator.measure.caveats",
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
