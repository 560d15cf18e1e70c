"""xcelerator: make a neural network fast on the device it will run on.

The public API re-exports the records and entry points that cross module lines; everything
else lives in the role packages (``models``, ``targets``, ``measure``, ``store``, ``cli``).
"""

from __future__ import annotations

from xcelerator.errors import BadInputError, RunFailedError, XcelError

__version__ = "0.1.0"

__all__ = ["BadInputError", "RunFailedError", "XcelError", "__version__"]
