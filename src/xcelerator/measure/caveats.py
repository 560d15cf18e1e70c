"""What a reader of a measurement's figures must know, in words: how far the CI reaches, a
machine that was not quiet, a precision the runtime chose, rounds at two speeds, too few rounds,
a CI wider than asked, and each regression past a gate. ``xcel profile``/``compare`` print
them (and put them in ``--json`` as ``caveats``); an API user gets the same list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xcelerator.measure.records import Measurement
from xcelerator.rounds.plan import Plan


@dataclass(frozen=True)
class Caveat:
    level: str  # note | warning | regression
    text: str
    model: str = ""  # the measurement it is about ("" for the run as a whole)
    target: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def caveats(
    ms: Sequence[Measurement],
    plan: Plan,
    comparing: bool = False,
    gate: float | None = None,
    regressions: Sequence[Any] = (),
) -> list[Caveat]:
    """The caveats of measurements ``ms`` taken under ``plan`` (``comparing``: a comparison,
    whose paired ratios do not carry the spread between runs; ``regressions``: the speed-ups
    slower than ``gate``)."""
    out: list[Caveat] = []
    basis = {m.stats.ci_basis: m.target for m in ms if m.stats and m.stats.rounds >= 2}
    if "prior" in basis and not comparing:
        out.append(Caveat(
            "note",
            "the CI is widened by a shipped prior spread between runs (wide, meant to cover a repeat); "
            f"`xcel calibrate -t {basis['prior']}` narrows it, and so do more runs with this database",
        ))  # fmt: skip
    elif "rounds only" in basis and not comparing:
        out.append(Caveat(
            "note", "the CI covers this run's rounds only (--ci rounds); a repeat minutes later can land outside it"
        ))  # fmt: skip
    for m in ms:
        out += _of(m, plan)
    for s in regressions:
        out.append(Caveat(
            "regression",
            f"{s.model} is slower than {s.reference} on {s.target} by more than {100 * (gate or 0):g}% "
            f"(speed-up {s.speedup:.3f}, 95% CI {s.ci_low:.3f}–{s.ci_high:.3f})",
            s.model, s.target,
        ))  # fmt: skip
    return out


def _of(m: Measurement, plan: Plan) -> list[Caveat]:
    """One measurement's own caveats."""
    out: list[Caveat] = []
    who = f"{m.model} on {m.target}"

    def add(level: str, text: str) -> None:
        out.append(Caveat(level, text, m.model, m.target))

    if m.quiet and not m.quiet.get("quiet", True):
        add("warning", f"{who} was not measured on a quiet machine: {'; '.join(m.quiet.get('reasons', []))}")
    if m.reduced_precision and "precision=" not in m.target:
        add("note", f"{who} ran at {m.reduced_precision} (the runtime's own default on this CPU), not FP32; "
            "add precision=f32 to the target to time FP32")  # fmt: skip
    groups = m.stats.round_groups if m.stats else None
    if groups:
        (nf, fast), (ns, slow) = groups
        add("warning", f"{who}: its rounds ran at two speeds, {nf} at {fast:.4g} ms and {ns} at {slow:.4g} ms, and "
            "the median follows whichever got more. The machine changed speed between rounds (more threads than "
            "free cores, or a busy neighbour): measure again, or with fewer threads")  # fmt: skip
    level = m.stats.rounds_ci_level if m.stats else None
    if m.stats is not None and (level is None or level < 0.95):
        cover = "does not cover" if level is None else f"covers {100 * level:.0f}% of"
        add("warning", f"{who}: with {m.stats.rounds} round(s) the CI {cover} the spread between processes; "
            "6 rounds give 95% (--rounds 6)")  # fmt: skip
    if m.ci_target_met is False and m.stats is not None and m.stats.ci_basis == "rounds only":
        # (a CI widened by the spread between runs is as narrow as that spread: more rounds cannot help)
        add("warning", f"{who}: the CI is ±{100 * m.stats.rel_ci:.1f}%, wider than the --rel-ci "
            f"{100 * plan.rel_ci:g}% asked (rounds or time ran out; see --rounds, --max-time)")  # fmt: skip
    return out
