"""Plan: how a model is measured. Stored with every measurement."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from xcelerator.errors import BadInputError


@dataclass(frozen=True)
class Plan:
    """The measurement protocol.

    Each *round* is one child process: load (``init_ms``), one first run (``first_run_ms``),
    ``warmup_runs`` warm-up runs lasting at least ``warmup_seconds``, then timed runs until the
    exact 95% order-statistic CI of the round's median is within ``rel_ci`` of it (relative
    half-width), with at least ``min_runs`` runs and ``min_seconds``, at most ``max_runs`` runs
    and ``max_seconds``. Rounds are short and many, because the spread between processes (memory
    layout, arena placement, core, scheduling) is what a single long round cannot see:
    ``min_rounds`` (6: the fewest for which a distribution-free 95% interval over round medians
    exists) to ``max_rounds`` rounds, added while that interval (``stats.rounds_interval``,
    hulled with the within-round one: the CI that is reported) is wider than ``rel_ci``. Fewer
    rounds are allowed; the JSON's ``rounds_ci_level`` then gives the lower coverage they have.
    What rounds of one run cannot see is how the machine's state moves over minutes: when the
    store holds a calibration of the target (``xcel calibrate``: reference models measured
    several times, spread over minutes), the CI also holds ``median * exp(±t * sd)`` with ``sd``
    the spread of whole runs' medians at this latency (``stats.RunNoise``), and rounds stop at
    ``min_rounds``, the length the spread was calibrated on. Coverage of this protocol on this
    machine is measured by ``benchmarks/coverage.py`` (BENCHMARKS.md, ``coverage-spaced``;
    docs/measurement.md). A comparison (``measure_many(paired=True)``) times models on one
    target of this machine side by side in one process after a first round alone (``ab``). ``timeout`` bounds one round
    (seconds, load included); a round past it is killed and the measurement is ``timeout``.
    ``input`` is ``random`` (seeded by ``seed``), ``zeros`` or ``npz`` (``npz`` names the file);
    ``shapes`` (input name → shape, ``""`` for a one-input model), ``dims`` (symbolic dimension →
    size) and ``fills`` (input name → constant) set what dynamic or integer inputs get (see
    ``rounds/inputs.py``). They are part of the plan, so measurements at different inputs are
    never mixed: the store, reports and cost models compare plans whole.
    """

    warmup_runs: int = 5
    warmup_seconds: float = 0.0
    min_runs: int = 10
    max_runs: int = 100_000
    min_seconds: float = 0.25
    max_seconds: float = 1.0
    rel_ci: float = 0.01
    min_rounds: int = 6
    max_rounds: int = 12
    timeout: float = 300.0
    threads: int | None = None
    layers: bool = False
    profile_runs: int = 20
    memory: bool = True
    energy: bool = False
    input: str = "random"
    seed: int = 0
    npz: str | None = None
    shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dims: tuple[tuple[str, int], ...] = ()
    fills: tuple[tuple[str, float], ...] = ()
    # "auto": the CI covers a repeat (the target's spread between runs: calibrated, learned from
    # the store's history, or the shipped prior); "rounds": this run's rounds only
    ci: str = "auto"

    def __post_init__(self) -> None:
        checks = [
            (self.warmup_runs >= 0, "warmup_runs", "an integer >= 0"),
            (self.min_runs >= 1, "min_runs", "an integer >= 1"),
            (self.max_runs >= self.min_runs, "max_runs", f"an integer >= min_runs ({self.min_runs})"),
            (self.min_seconds >= 0, "min_seconds", "a number >= 0"),
            (
                self.max_seconds > 0 and self.max_seconds >= self.min_seconds,
                "max_seconds",
                "> 0 and >= min_seconds",
            ),
            (0 < self.rel_ci < 1, "rel_ci", "a fraction in (0, 1), e.g. 0.01 for 1%"),
            (self.min_rounds >= 1, "min_rounds", "an integer >= 1"),
            (
                self.max_rounds >= self.min_rounds,
                "max_rounds",
                f"an integer >= min_rounds ({self.min_rounds})",
            ),
            (self.timeout > 0, "timeout", "a number of seconds > 0"),
            (self.threads is None or self.threads >= 1, "threads", "an integer >= 1"),
            (self.input in ("random", "zeros", "npz"), "input", "one of random, zeros, npz"),
            (self.input != "npz" or bool(self.npz), "npz", "a .npz file when input is npz"),
            (self.ci in ("auto", "rounds"), "ci", "auto or rounds"),
        ]
        for ok, name, what in checks:
            if not ok:
                raise BadInputError(f"plan: {name} must be {what}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise BadInputError(f"plan: unknown field(s) {sorted(unknown)}; valid: {sorted(known)}")
        d = dict(d)
        d["shapes"] = tuple((str(n), tuple(int(x) for x in s)) for n, s in d.get("shapes", ()))
        d["dims"] = tuple((str(n), int(v)) for n, v in d.get("dims", ()))
        d["fills"] = tuple((str(n), float(v)) for n, v in d.get("fills", ()))
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shapes"] = [[n, list(s)] for n, s in self.shapes]
        d["dims"] = [[n, v] for n, v in self.dims]
        d["fills"] = [[n, v] for n, v in self.fills]
        return d

    def replace(self, **kw: Any) -> Plan:
        return replace(self, **kw)


def parse_rel_ci(text: str) -> float:
    try:
        return float(text.rstrip("%")) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BadInputError(f"--rel-ci {text!r}: expected a fraction like 0.01 or a percentage like 1%") from None


def make_plan(
    *,
    runs: int | None = None,
    min_time: float | None = None,
    max_time: float | None = None,
    rel_ci: str = "0.01",
    warmup: int = 5,
    threads: int | None = None,
    timeout: float = 300.0,
    layers: bool = False,
    rounds: str | None = None,
    inputs: str = "random",
    seed: int = 0,
    energy: bool = False,
    shapes: list[str] | None = None,
    dims: list[str] | None = None,
    fills: list[str] | None = None,
    ci: str = "auto",
) -> Plan:
    """The one builder of a Plan from options as the command line spells them, used by the CLI,
    the API and ``optimize`` (``--runs`` fixes the count, ``--rounds N`` or ``MIN..MAX``,
    ``--input random|zeros|FILE.npz``, ``--shape``/``--dim``/``--fill`` texts); the defaults are
    the commands' own; bad values raise ``BadInputError``."""
    kw: dict[str, Any] = {
        "rel_ci": parse_rel_ci(rel_ci),
        "warmup_runs": warmup,
        "threads": threads,
        "timeout": timeout,
        "layers": layers,
        "seed": seed,
        "energy": energy,
    }
    if ci not in ("auto", "rounds"):
        raise BadInputError(f"--ci {ci!r}: expected auto (the CI covers a repeat) or rounds (this run's rounds only)")
    kw["ci"] = ci
    if runs is not None:
        kw.update(min_runs=runs, max_runs=runs, min_seconds=0.0, max_seconds=max(max_time or 0, 3600.0))
    if min_time is not None:
        kw["min_seconds"] = min_time
    if max_time is not None:
        kw["max_seconds"] = max_time
    if kw.get("min_seconds", Plan.min_seconds) > kw.get("max_seconds", Plan.max_seconds):
        kw["max_seconds"] = kw["min_seconds"]
    if rounds is not None:
        lo, _, hi = rounds.partition("..")
        try:
            kw["min_rounds"] = int(lo)
            kw["max_rounds"] = int(hi or lo)
        except ValueError:
            raise BadInputError(f"--rounds {rounds!r}: expected N or MIN..MAX, e.g. 3..6") from None
    if inputs in ("random", "zeros"):
        kw["input"] = inputs
    else:
        p = Path(inputs)
        if not p.exists() or p.suffix != ".npz":
            raise BadInputError(f"--input {inputs!r}: expected random, zeros or an existing .npz file")
        kw.update(input="npz", npz=str(p.resolve()))
    kw.update(input_options(shapes, dims, fills))
    return Plan(**kw)


def input_options(
    shapes: list[str] | None = None, dims: list[str] | None = None, fills: list[str] | None = None
) -> dict[str, Any]:
    """``--shape``/``--dim``/``--fill`` texts as the Plan fields ``shapes``, ``dims``, ``fills``."""
    from xcelerator.rounds.inputs import parse_assignment, parse_shape

    return {
        "shapes": tuple(sorted(parse_shape(s) for s in shapes or ())),
        "dims": tuple(sorted((n, int(v)) for n, v in (parse_assignment(s, "--dim", True) for s in dims or ()))),
        "fills": tuple(sorted(parse_assignment(s, "--fill", False) for s in fills or ())),
    }
