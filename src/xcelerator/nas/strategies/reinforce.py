"""REINFORCE, a policy gradient that picks one parameter after another (``nas/rl.py``), on grid spaces."""

from typing import Any

from xcelerator.errors import BadInputError

NAME = "reinforce"
HELP = "REINFORCE policy gradient, one parameter at a time (grid spaces)"
SETTINGS: dict[str, dict[str, Any]] = {"search": {}}


def make(space: Any, seed: int, **settings: Any) -> Any:
    from xcelerator.nas.rl import ReinforceSampler

    try:
        return ReinforceSampler(space, seed=seed, **settings)
    except ValueError as e:
        raise BadInputError(f"strategy {NAME}: space {space.name} is not a grid ({e})") from None
