"""``runtime-options``: threads, graph optimization, execution mode and the runtime itself
(``fronts.space.RuntimeOptionsSpace``)."""

from __future__ import annotations

from typing import Any

NAME = "runtime-options"
HELP = "threads, graph optimization level, execution mode and runtime for one ONNX file"


def make(art: Any, target: str, options: Any) -> Any:
    from xcelerator.fronts.space import RuntimeOptionsSpace

    return RuntimeOptionsSpace(art)
