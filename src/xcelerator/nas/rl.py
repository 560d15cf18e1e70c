"""Reinforcement-learning strategies as Optuna samplers, and the same decision process as a
gymnasium environment.

The decision process (both seeds): the state is the current point of a grid space (each
parameter's value index, normalized to [0, 1]); an action moves parameters one grid step.

* ``reinforce`` (aisys2021_AutoML): per dimension −/0/+ at once; while the current point
  violates the constraints the move is "shrink every dimension" (the seed's start); reward is
  the change in accuracy, −0.5 for an invalid (off-grid) or violating point; a policy network
  trained with REINFORCE and a moving-average baseline.
* ``dqn`` (xcelerator): one parameter one step up or down (a ``keep`` parameter of the
  ``blocks`` space makes that "remove a block"); reward is the change in accuracy minus the
  relative change in latency, −0.5 for invalid or violating points; a Q-network with an
  experience-replay buffer, a target network and ε-greedy exploration.

We write these agents ourselves (small torch MLPs) because they must live inside Optuna's
sampler protocol (one ask at a time, learning in ``after_trial``); RL libraries drive the
gymnasium environment below instead. Pre-training on a cost-model surrogate comes with the
cost-model issue.
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from xcelerator.models.spaces import Param, Space

INVALID = -0.5
REVISIT = 0.1


def grid(space: Space) -> list[list[Any]]:
    vals = []
    for p in space.params():
        n = p.count()
        if n is None or n > 10_000:
            raise ValueError(f"parameter {p.name} is not a small grid")
        vals.append(p.values())
    return vals


def _index(values: list[Any], v: Any) -> int:
    for i, x in enumerate(values):
        if x == v or (isinstance(x, float) and isinstance(v, (int, float)) and math.isclose(x, float(v))):
            return i
    return 0


class _RLSampler(optuna.samplers.BaseSampler):
    """Shared plumbing: the current state is the last completed trial's point."""

    def __init__(self, space: Space, seed: int = 0) -> None:
        self.space = space
        self.params: list[Param] = space.params()
        self.values = grid(space)
        self.rng = random.Random(seed)
        torch.manual_seed(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._current: list[int] | None = None
        self._current_values: dict[str, float] | None = None
        self._pending: dict[int, Any] = {}

    # Optuna protocol -------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        from xcelerator.nas.distributions import distributions

        return distributions(self.space)

    def sample_relative(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, search_space: dict[str, Any]
    ) -> dict[str, Any]:
        if self._current is None:
            self._sync(study)
        if self._current is None:  # nothing evaluated yet: the enqueued baseline comes first
            return {}
        idx, memo = self.act(self._current, self._current_values or {})
        off_grid = any(not 0 <= j < len(v) for j, v in zip(idx, self.values, strict=True))
        # an off-grid move is an invalid state (reward -0.5); its nearest grid point is evaluated instead
        idx = [min(max(0, j), len(v) - 1) for j, v in zip(idx, self.values, strict=True)]
        self._pending[trial.number] = (list(self._current), idx, memo, off_grid)
        return {p.name: self.values[i][j] for i, (p, j) in enumerate(zip(self.params, idx, strict=True))}

    def sample_independent(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: Any, values: Any) -> None:
        vals = trial.user_attrs.get("values_all")
        ok = state == optuna.trial.TrialState.COMPLETE and vals is not None
        feasible = ok and all(v <= 0 for v in trial.user_attrs.get("constraints", [0.0]))
        new_idx = [_index(self.values[i], trial.params.get(p.name)) for i, p in enumerate(self.params)]
        pending = self._pending.pop(trial.number, None)
        if pending is not None:
            prev, _, memo, off_grid = pending
            reward = INVALID if off_grid else self.reward(self._current_values, vals if ok else None, feasible)
            if "repeat_of" in trial.user_attrs:  # a point already evaluated teaches nothing new: discourage it
                reward -= REVISIT
            self.learn(prev, memo, reward, new_idx, done=False)
        if ok:
            # move when the new point is feasible, or when we are still looking for a feasible one
            cur_feasible = self._current_values is not None and self._current_values.get("_feasible", 0) > 0
            if feasible or not cur_feasible:
                self._current = new_idx
                self._current_values = {**(vals or {}), "_feasible": 1.0 if feasible else 0.0}

    def _sync(self, study: optuna.Study) -> None:
        done = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state == optuna.trial.TrialState.COMPLETE and "values_all" in t.user_attrs
        ]
        if done:
            t = done[-1]
            self._current = [_index(self.values[i], t.params.get(p.name)) for i, p in enumerate(self.params)]
            feas = all(v <= 0 for v in t.user_attrs.get("constraints", [0.0]))
            self._current_values = {**t.user_attrs["values_all"], "_feasible": 1.0 if feas else 0.0}

    def state(self, idx: list[int]) -> torch.Tensor:
        return torch.tensor(
            [i / max(1, len(v) - 1) for i, v in zip(idx, self.values, strict=True)], dtype=torch.float32
        )

    # agent hooks -------------------------------------------------------------------
    def act(self, idx: list[int], cur: dict[str, float]) -> tuple[list[int], Any]:
        raise NotImplementedError

    def reward(self, before: dict[str, float] | None, after: dict[str, float] | None, feasible: bool) -> float:
        raise NotImplementedError

    def learn(self, prev: list[int], memo: Any, reward: float, new: list[int], done: bool) -> None:
        raise NotImplementedError


def _mlp(n_in: int, n_out: int, hidden: int = 64) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out)
    )


class ReinforceSampler(_RLSampler):
    """Per-dimension −/0/+ policy trained with REINFORCE (the aisys2021_AutoML seed)."""

    def __init__(self, space: Space, seed: int = 0, lr: float = 0.02, episode: int = 4) -> None:
        super().__init__(space, seed)
        n = len(self.params)
        self.policy = _mlp(n, 3 * n)
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.episode = episode
        self.buffer: list[tuple[torch.Tensor, float]] = []
        self.baseline = 0.0

    def act(self, idx: list[int], cur: dict[str, float]) -> tuple[list[int], Any]:
        n = len(idx)
        if cur and cur.get("_feasible", 1.0) == 0.0:  # shrink until the constraints hold
            return [max(0, i - 1) for i in idx], None
        logits = self.policy(self.state(idx)).view(n, 3)
        dist = torch.distributions.Categorical(logits=logits)
        a = dist.sample()
        logp = dist.log_prob(a).sum()
        new = [i + int(d) - 1 for i, d in zip(idx, a.tolist(), strict=True)]
        if all(d == 1 for d in a.tolist()):  # "stay" everywhere would re-evaluate the same point: nudge one
            k = self.rng.randrange(n)
            new[k] += self.rng.choice((-1, 1))
        return new, logp

    def reward(self, before: dict[str, float] | None, after: dict[str, float] | None, feasible: bool) -> float:
        if after is None or not feasible:
            return INVALID
        return float(after["accuracy"] - (before or after)["accuracy"])

    def learn(self, prev: list[int], memo: Any, reward: float, new: list[int], done: bool) -> None:
        if memo is None:  # a forced shrink move: nothing to learn from
            return
        self.buffer.append((memo, reward))
        if len(self.buffer) >= self.episode:
            rewards = [r for _, r in self.buffer]
            self.baseline = 0.9 * self.baseline + 0.1 * float(np.mean(rewards))
            loss = -sum(lp * (r - self.baseline) for lp, r in self.buffer) / len(self.buffer)
            self.opt.zero_grad()
            loss.backward()  # type: ignore[union-attr]
            self.opt.step()
            self.buffer = []


class DQNSampler(_RLSampler):
    """One-parameter-one-step moves chosen by a Q-network (the xcelerator seed's DQN)."""

    def __init__(
        self,
        space: Space,
        seed: int = 0,
        lr: float = 1e-3,
        gamma: float = 0.9,
        epsilon: float = 0.3,
        buffer: int = 500,
        batch: int = 16,
        target_every: int = 10,
        latency_weight: float = 0.5,
    ) -> None:
        super().__init__(space, seed)
        n = len(self.params)
        self.q = _mlp(n, 2 * n)
        self.target = _mlp(n, 2 * n)
        self.target.load_state_dict(self.q.state_dict())
        self.opt = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.gamma, self.epsilon, self.batch = gamma, epsilon, batch
        self.replay: deque[tuple[list[int], int, float, list[int]]] = deque(maxlen=buffer)
        self.target_every, self.steps = target_every, 0
        self.latency_weight = latency_weight

    def act(self, idx: list[int], cur: dict[str, float]) -> tuple[list[int], Any]:
        n = len(idx)
        if cur and cur.get("_feasible", 1.0) == 0.0:  # start by shrinking the largest dimension until feasible
            k = max(range(n), key=lambda i: (idx[i] / max(1, len(self.values[i]) - 1), -i))
            if idx[k] > 0:
                new = list(idx)
                new[k] -= 1
                return new, 2 * k
        legal = [a for a in range(2 * n) if 0 <= idx[a // 2] + (1 if a % 2 else -1) < len(self.values[a // 2])]
        if not legal:
            legal = list(range(2 * n))
        if self.rng.random() < self.epsilon:
            a = self.rng.choice(legal)
        else:
            with torch.no_grad():
                q = self.q(self.state(idx))
            a = max(legal, key=lambda k: float(q[k]))
        new = list(idx)
        new[a // 2] = min(max(0, new[a // 2] + (1 if a % 2 else -1)), len(self.values[a // 2]) - 1)
        return new, a

    def reward(self, before: dict[str, float] | None, after: dict[str, float] | None, feasible: bool) -> float:
        if after is None or not feasible:
            return INVALID
        b = before or after
        d_acc = after["accuracy"] - b["accuracy"]
        lat_b = b.get("latency") or 1.0
        d_lat = (after.get("latency", lat_b) - lat_b) / lat_b if lat_b else 0.0
        return float(d_acc - self.latency_weight * d_lat)

    def learn(self, prev: list[int], memo: Any, reward: float, new: list[int], done: bool) -> None:
        self.replay.append((prev, int(memo), reward, new))
        self.epsilon = max(0.1, self.epsilon * 0.99)
        if len(self.replay) < self.batch:
            return
        batch = self.rng.sample(list(self.replay), self.batch)
        s = torch.stack([self.state(p) for p, _, _, _ in batch])
        a = torch.tensor([x for _, x, _, _ in batch])
        r = torch.tensor([x for _, _, x, _ in batch], dtype=torch.float32)
        s2 = torch.stack([self.state(n) for _, _, _, n in batch])
        with torch.no_grad():
            target = r + self.gamma * self.target(s2).max(1).values
        q = self.q(s).gather(1, a[:, None]).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps += 1
        if self.steps % self.target_every == 0:
            self.target.load_state_dict(self.q.state_dict())


# ----------------------------------------------------------------------------- gymnasium
def make_env(space: Space, evaluate: Any, constraints: Any = None, mode: str = "dqn", max_steps: int = 20) -> Any:
    """A gymnasium environment over a grid space. ``evaluate(point) -> (values, feasible)``."""
    import gymnasium as gym
    from gymnasium import spaces

    values = grid(space)
    params = space.params()
    n = len(values)

    class ArchEnv(gym.Env):  # type: ignore[misc]
        def __init__(self) -> None:
            self.observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
            self.action_space = spaces.MultiDiscrete([3] * n) if mode == "reinforce" else spaces.Discrete(2 * n)
            self.idx: list[int] = []
            self.cur: dict[str, float] = {}
            self.steps = 0

        def _obs(self) -> np.ndarray:
            return np.array([i / max(1, len(v) - 1) for i, v in zip(self.idx, values, strict=True)], np.float32)

        def _point(self, idx: list[int]) -> dict[str, Any]:
            return {p.name: values[i][j] for i, (p, j) in enumerate(zip(params, idx, strict=True))}

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
            super().reset(seed=seed)
            default = space.default_point()
            self.idx = [_index(values[i], default[p.name]) for i, p in enumerate(params)]
            self.cur, _ = evaluate(self._point(self.idx))
            self.steps = 0
            return self._obs(), {"point": self._point(self.idx), "values": self.cur}

        def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
            self.steps += 1
            new = list(self.idx)
            if mode == "reinforce":
                new = [i + int(a) - 1 for i, a in zip(new, np.asarray(action).tolist(), strict=True)]
            else:
                a = int(action)
                new[a // 2] += 1 if a % 2 else -1
            truncated = self.steps >= max_steps
            if any(not 0 <= j < len(v) for j, v in zip(new, values, strict=True)):
                return self._obs(), INVALID, False, truncated, {"invalid": True}
            vals, feasible = evaluate(self._point(new))
            reward = INVALID if not feasible else float(vals["accuracy"] - self.cur["accuracy"])
            if feasible:
                self.idx, self.cur = new, vals
            return (
                self._obs(),
                reward,
                False,
                truncated,
                {"point": self._point(new), "values": vals, "feasible": feasible},
            )

    return ArchEnv()
