"""LiteRT (TFLite) interpreter, XNNPACK delegate on by default."""

from __future__ import annotations

from typing import Any

NAME = "litert"
DESCRIPTION = "LiteRT (TFLite) interpreter"
MODULE = "ai_edge_litert"
PIP = "ai-edge-litert"
EXTRA = "litert"
FORMATS = ("tflite",)
CONVERTS: tuple[str, ...] = ()
OPTIONS: dict[str, dict[str, Any]] = {
    "threads": {"help": "intra-op threads (0: runtime default)", "integer": True},
    "xnnpack": {"help": "use the XNNPACK delegate", "choices": ["0", "1"]},
}
VARIANTS = ("",)


def probe(options: dict[str, str]) -> tuple[bool, str]:
    import importlib.util

    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        return False, "ai-edge-litert is not installed: pip install 'xcelerator[litert]'"
    except Exception as e:
        return False, f"ai-edge-litert does not import: {type(e).__name__}: {e}"
    conv = (
        "a .tflite converter is installed"
        if importlib.util.find_spec("litert_torch") is not None
        else "no .tflite converter (pip install 'xcelerator[tflite]'); .tflite files still run"
    )
    return True, f"LiteRT interpreter; {conv}"


class Adapter:
    def __init__(self, options: dict[str, str]) -> None:
        import ai_edge_litert
        from ai_edge_litert import interpreter

        self.mod = interpreter
        self.opts = options
        self.version = getattr(ai_edge_litert, "__version__", "?")

    def load(self, path: str, inputs: dict[str, Any]) -> None:
        kw: dict[str, Any] = {"model_path": path}
        if int(self.opts.get("threads", 0)) > 0:
            kw["num_threads"] = int(self.opts["threads"])
        if self.opts.get("xnnpack", "1") in ("0", "false", "no"):
            kw["experimental_op_resolver_type"] = self.mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.it = self.mod.Interpreter(**kw)
        details = self.it.get_input_details()
        by_name = {d["name"]: d for d in details}
        for i, (name, arr) in enumerate(inputs.items()):
            d = by_name.get(name, details[i])
            if tuple(d["shape"]) != tuple(arr.shape):
                self.it.resize_tensor_input(d["index"], list(arr.shape))
        self.it.allocate_tensors()
        details = self.it.get_input_details()
        by_name = {d["name"]: d for d in details}
        for i, (name, arr) in enumerate(inputs.items()):
            d = by_name.get(name, details[i])
            self.it.set_tensor(d["index"], arr.astype(d["dtype"]))

    def run(self) -> None:
        self.it.invoke()

    def info(self) -> dict[str, Any]:
        return {"xnnpack": self.opts.get("xnnpack", "1")}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        raise NotImplementedError(
            "LiteRT's Python API has no op profiler; use benchmark_model --enable_op_profiling "
            "through a command target for per-op times"
        )
