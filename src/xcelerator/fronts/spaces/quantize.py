"""``quantize``: each op type (or node group) fp32 or int8 (``fronts.space.QuantizeSpace``)."""

from __future__ import annotations

from typing import Any

from xcelerator.errors import BadInputError

NAME = "quantize"
HELP = "each op type (or node group) fp32 or int8, quantized by ONNX Runtime"


def make(art: Any, target: str, options: Any) -> Any:
    from xcelerator.fronts.space import QuantizeSpace

    if target.startswith("cmd:"):
        raise BadInputError("space quantize: measures with our runner; give an onnxruntime or openvino target")
    return QuantizeSpace(art, target, mode=options.mode, max_keys=options.max_keys, calibration=options.calibration)
