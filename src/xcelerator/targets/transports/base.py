"""The transport interface: ``run(RoundRequest) -> RoundResult``.

A transport is bound to one target (its address and options). ``run`` never raises for what
happens on the far side: a lost connection, a missing runtime on a board, no phone, a vendor
binary that crashes or prints nothing parseable are all ``RoundResult``s with a status
(``failed``, ``crashed``, ``timeout``) and a one-line ``error``. Bad input that can be known
before anything runs (an unknown option, a runtime that this machine lacks) is refused by
``check`` with ``BadInputError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from xcelerator.rounds.records import RoundRequest, RoundResult


class RuntimeFormats(Protocol):
    """What the default ``Transport.formats`` reads of a runtime (``registry.RuntimeSpec`` is one)."""

    @property
    def formats(self) -> tuple[str, ...]: ...
    @property
    def converts(self) -> tuple[str, ...]: ...


class BoundTarget(Protocol):
    """What a transport reads of the target it is bound to (``registry.Target`` is one). A
    protocol, so that this interface needs nothing of the registry that lists transports."""

    @property
    def runtime(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def uri(self) -> str: ...
    @property
    def opts(self) -> dict[str, str]: ...
    @property
    def runtime_opts(self) -> dict[str, str]: ...
    @property
    def transport_opts(self) -> dict[str, str]: ...
    @property
    def spec(self) -> RuntimeFormats | None: ...


class Transport(ABC):
    """One way of reaching a device. Subclasses declare ``name``, ``scheme`` (the URI prefix,
    ``""`` for this machine), their own ``OPTIONS`` (same form as a runtime's) and, when the
    runtime is fixed by the transport (a phone's ``benchmark_model``, a vendor binary),
    ``runtime`` (then the target's options are the transport's alone)."""

    name: ClassVar[str]
    scheme: ClassVar[str]
    OPTIONS: ClassVar[dict[str, dict[str, Any]]] = {}
    runtime: ClassVar[str | None] = None
    example: ClassVar[str] = ""
    side_by_side: ClassVar[bool] = False  # can time several models in one process (run_side_by_side)

    def __init__(self, target: BoundTarget) -> None:
        self.target = target

    @classmethod
    def split(cls, rest: str) -> tuple[str, str, str]:
        """``ADDRESS/RUNTIME?QUERY`` after the scheme → (address, runtime, query)."""
        address, sep, tail = rest.partition("/")
        runtime, _, query = tail.partition("?")
        if not sep or not address or not runtime:
            from xcelerator.errors import BadInputError

            raise BadInputError(
                f"target '{cls.scheme}{rest}': expected {cls.example or cls.scheme + 'ADDRESS/RUNTIME'}"
            )
        return address, runtime, query

    @classmethod  # noqa: B027 - a hook; most transports accept any parsed target
    def validate(cls, target: BoundTarget) -> None:
        """Refuse a parsed target that cannot be right (``BadInputError``); by default nothing."""

    @classmethod
    def describe(cls) -> tuple[bool, str]:
        """For ``xcel targets``: whether this transport can be used from here, and how."""
        return True, ""

    @classmethod
    def formats(cls, target: BoundTarget) -> tuple[str, ...]:
        """Artifact formats this target takes (by default the runtime's own and what it converts)."""
        spec = target.spec
        return (*spec.formats, *spec.converts) if spec is not None else ()

    def check(self) -> None:  # noqa: B027 - a hook; remote devices are checked when reached
        """Refuse (``BadInputError``) what can be known not to run before any round starts."""

    @abstractmethod
    def run(self, request: RoundRequest) -> RoundResult:
        """Run one round; every failure is a ``RoundResult``, never an exception."""

    def run_side_by_side(self, requests: list[RoundRequest]) -> list[RoundResult]:
        """Run one round of several models of this target in one process, timed in alternating
        blocks, one result per request (transports with ``side_by_side``); never raises for what
        happens on the far side."""
        raise NotImplementedError(f"transport {self.name} times one model per round")

    def close(self) -> None:  # noqa: B027 - a no-op hook, like Optuna's after_trial
        """Release connections (called when a measurement is done)."""
