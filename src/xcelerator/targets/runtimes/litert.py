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
        by_name = {d["name"]: d for d in self.it.get_input_details()}
        unknown = [n for n in inputs if n not in by_name]
        if unknown:  # matched by name, never by position
            raise ValueError(f"the model has no input {unknown[0]!r}; its inputs: {sorted(by_name)}")
        for name, arr in inputs.items():
            if tuple(by_name[name]["shape"]) != tuple(arr.shape):
                self.it.resize_tensor_input(by_name[name]["index"], list(arr.shape))
        self.it.allocate_tensors()
        by_name = {d["name"]: d for d in self.it.get_input_details()}
        for name, arr in inputs.items():
            self.it.set_tensor(by_name[name]["index"], arr.astype(by_name[name]["dtype"]))

    def run(self) -> None:
        self.it.invoke()

    def info(self) -> dict[str, Any]:
        return {"xnnpack": self.opts.get("xnnpack", "1")}

    def profile(self, runs: int) -> tuple[list[dict[str, Any]], float]:
        raise NotImplementedError(
            "LiteRT's Python API has no op profiler; use benchmark_model --enable_op_profiling "
            "through a command target for per-op times"
        )
