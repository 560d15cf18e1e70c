"""The cost-model seed's sequence model (kind ``lstm``)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from xcelerator.costmodel.features import (
    KERNEL_COLUMNS,
    kernel_matrix,
    model_vector,
)
from xcelerator.costmodel.predictors._base import LatencyPredictor, _bagged, _q80
from xcelerator.models.graphstats import GraphStats


class LSTMPredictor(LatencyPredictor):
    """The seed's sequence model: an LSTM over the kernel rows (standardized), mean- and
    last-pooled, then a small MLP to log-latency. Bagged over seeds for the interval.

    Batches hold networks of similar length, at most ``batch_size`` of them and at most
    ``batch_tokens`` padded kernel rows (default: ``batch_size`` × the training networks' median
    length), so the few networks with hundreds of kernels train in small batches instead of
    padding large ones. On 300 ``mixed`` networks (5-fold, 1 thread) that and ``hidden`` 32
    instead of 64 took a fold's fit from 58 s to 23 s, and ±10 % from 54.7 % to 57.0 %
    (hidden 64 with the token limit: 57.3 % in 41 s)."""

    kind = "lstm"
    min_samples = 20
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden": [Interval(Integral, 4, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, 1, closed="right")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "batch_tokens": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        hidden: int = 32,
        epochs: int = 100,
        lr: float = 3e-3,
        n_members: int = 3,
        random_state: int = 0,
        batch_size: int = 64,
        batch_tokens: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.epochs = epochs
        self.lr = lr
        self.n_members = n_members
        self.random_state = random_state

    def _net(self) -> Any:
        import torch
        from torch import nn

        hidden = self.hidden

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(len(KERNEL_COLUMNS), hidden, batch_first=True)
                self.head = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

            def forward(self, x: Any, lengths: Any, total: Any) -> Any:
                # padded, not packed: packing costs more than the padding it saves on CPU; the
                # rows past a model's length are masked out of the mean, and its last state is
                # the output at its own length
                out, _ = self.lstm(x[:, : int(lengths.max())])
                mask = (torch.arange(out.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)
                mean = (out * mask).sum(1) / lengths.unsqueeze(1).to(out.dtype)
                last = out[torch.arange(out.shape[0]), lengths - 1]
                return self.head(torch.cat([mean, last, total.unsqueeze(1)], 1)).squeeze(1)

        return Net()

    def _tensors(self, stats: list[GraphStats]) -> tuple[Any, Any, Any]:
        import torch

        mats = [kernel_matrix(s)[0] for s in stats]
        mats = [m if len(m) else np.zeros((1, len(KERNEL_COLUMNS))) for m in mats]
        mu, sd = np.array(self.norm_["mean"]), np.array(self.norm_["std"])
        lengths = torch.tensor([len(m) for m in mats])
        x = torch.zeros(len(mats), int(lengths.max()), len(KERNEL_COLUMNS))
        for i, m in enumerate(mats):
            x[i, : len(m)] = torch.from_numpy((m - mu) / sd).float()
        tot = torch.tensor([(model_vector(s)[0][0] - self.norm_["tmean"]) / self.norm_["tstd"] for s in stats]).float()
        return x, lengths, tot

    def fit(self, X: Sequence[Any], y: Any, layers: Any = None) -> LSTMPredictor:
        import torch

        stats, arr = self._check_fit_input(X, y)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small sequences: one thread is faster, and leaves a core to measure on
        try:
            return self._fit(stats, arr)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, stats: list[GraphStats], arr: np.ndarray) -> LSTMPredictor:
        import torch

        allrows = np.concatenate([kernel_matrix(s)[0] for s in stats])
        totals = np.array([model_vector(s)[0][0] for s in stats])
        self.norm_ = {
            "mean": allrows.mean(0).tolist(),
            "std": np.maximum(allrows.std(0), 1e-6).tolist(),
            "tmean": float(totals.mean()),
            "tstd": float(max(totals.std(), 1e-6)),
            "ymean": float(np.log(arr).mean()),
            "ystd": float(max(np.log(arr).std(), 1e-6)),
        }
        x, lengths, tot = self._tensors(stats)
        t = torch.from_numpy((np.log(arr) - self.norm_["ymean"]) / self.norm_["ystd"]).float()
        self.members_ = []
        rng = np.random.default_rng(self.random_state)
        n = len(stats)
        oob_err: list[float] = []
        for m in range(self.n_members):
            torch.manual_seed(self.random_state + m)
            net = self._net()
            opt = torch.optim.Adam(net.parameters(), lr=self.lr)
            idx = rng.choice(n, n, replace=True) if self.n_members > 1 else np.arange(n)
            oob = np.setdiff1d(np.arange(n), idx)
            bs = self.batch_size
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs)
            lens = lengths.numpy()
            for _ in range(self.epochs):
                # batches of similar length (a random tie-break each epoch, batches in random
                # order): a batch is padded to its longest network, and lengths here run from a
                # few kernels to hundreds, so random batches would be mostly padding
                perm = rng.permutation(idx)
                perm = perm[np.argsort(lens[perm], kind="stable")]
                batches = self._batches(perm, lens, bs)
                for j in rng.permutation(len(batches)):
                    sel = torch.from_numpy(batches[j])
                    opt.zero_grad()
                    loss = torch.nn.functional.mse_loss(net(x[sel], lengths[sel], tot[sel]), t[sel])
                    loss.backward()
                    opt.step()
                sched.step()
            net.eval()
            if len(oob):
                with torch.no_grad():
                    o = torch.from_numpy(oob)
                    oob_err += ((net(x[o], lengths[o], tot[o]) - t[o]).numpy() * self.norm_["ystd"]).tolist()
            self.members_.append(net)
        self.oob_sigma_ = float(np.sqrt(np.mean(np.square(oob_err)))) if len(oob_err) > 2 else 0.0
        self.oob_q80_: float | None = _q80(oob_err)
        return self

    def _batches(self, order: np.ndarray, lens: np.ndarray, bs: int) -> list[np.ndarray]:
        """Consecutive runs of ``order`` (sorted by length): at most ``bs`` networks and at most
        ``batch_tokens`` padded rows (networks × the longest one; a longer network alone)."""
        tokens = self.batch_tokens or bs * float(np.median(lens))
        out, start = [], 0
        for i in range(1, len(order) + 1):
            if i == len(order) or i - start >= bs or (i - start + 1) * lens[order[i]] > tokens:
                out.append(order[start:i])
                start = i
        return out

    def _predict_log(self, stats: list[GraphStats]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        check_is_fitted(self, "members_")
        x, lengths, tot = self._tensors(stats)
        with torch.no_grad():
            P = np.stack([m(x, lengths, tot).numpy() for m in self.members_])
        return _bagged(P * self.norm_["ystd"] + self.norm_["ymean"], self.oob_q80_, self.oob_sigma_)

    def _state(self) -> dict[str, Any]:
        blobs = []
        for m in self.members_:
            buf = io.BytesIO()
            # plain arrays in an .npz (read back with allow_pickle=False), base64 in the JSON
            np.savez(buf, **{k: v.detach().numpy() for k, v in m.state_dict().items()})
            blobs.append(base64.b64encode(buf.getvalue()).decode())
        return {"norm": self.norm_, "members": blobs, "oob_sigma": self.oob_sigma_, "oob_q80": self.oob_q80_}

    def _load_state(self, d: dict[str, Any]) -> None:
        import torch

        self.norm_ = d["norm"]
        self.oob_sigma_ = float(d["oob_sigma"])
        q = d.get("oob_q80")
        self.oob_q80_ = None if q is None else float(q)
        self.members_ = []
        for blob in d["members"]:
            arrs = np.load(io.BytesIO(base64.b64decode(blob)), allow_pickle=False)
            net = self._net()
            net.load_state_dict({k: torch.from_numpy(arrs[k]) for k in arrs.files})
            net.eval()
            self.members_.append(net)
