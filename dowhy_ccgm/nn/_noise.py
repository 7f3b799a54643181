"""The exogenous noise of a :class:`~dowhy_ccgm.nn.CCGMNet`: a typed record of it
(:class:`Noise`) and the one place its prior law is written (:func:`prior_noise`), drawn
from torch's generators (the estimator) or from numpy's global random state (DoWhy's
convention, the ``dowhy.gcm`` mechanisms)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

__all__ = ["Noise", "NOISE_KEYS", "TorchRandom", "NumpyRandom", "prior_noise"]

#: the three kinds of noise, in their order of drawing
NOISE_KEYS = ("z", "eps", "unif")


@dataclass
class Noise:
    """The noise of a batch of units, one row per unit.

    ``z`` (rows, n_cont): the continuous nodes' latents (an exogenous node's is its noise);
    ``eps`` (rows, n_noisy): the noise latents of endogenous continuous nodes; ``unif``
    (rows, n_disc): the discrete nodes' U(0, 1); ``root_values`` (rows, k) float64,
    optional: the training values of the pooled continuous roots whose noise was taken
    from stored training rows (:class:`~dowhy_ccgm._root_sampling.EmpiricalRoots`), so
    that the output shows them bit for bit."""
    z: torch.Tensor
    eps: torch.Tensor
    unif: torch.Tensor
    root_values: torch.Tensor | None = None

    def part(self, key: str) -> torch.Tensor:
        """The block ``"z"``, ``"eps"`` or ``"unif"``."""
        if key not in NOISE_KEYS:
            raise KeyError(f"noise has the parts {NOISE_KEYS}, not {key!r}")
        return getattr(self, key)

    @property
    def n_rows(self) -> int:
        for t in (self.z, self.unif, self.eps):
            if t.numel():
                return t.shape[0]
        return self.eps.shape[0]

    def rows(self, rows) -> "Noise":
        """The noise of the units ``rows`` (a slice or an index)."""
        return Noise(self.z[rows], self.eps[rows], self.unif[rows],
                     None if self.root_values is None else self.root_values[rows])

    def node(self, slot) -> torch.Tensor | None:
        """The scalar noise (rows,) at ``slot`` ``(key, column)`` (None: no noise)."""
        return None if slot is None else self.part(slot[0])[:, slot[1]]

    def with_values(self, root_values) -> "Noise":
        return replace(self, root_values=root_values)


class TorchRandom:
    """Draws from a ``torch.Generator`` (on the CPU, so that results do not depend on the
    device), moved to ``device``."""

    def __init__(self, generator: torch.Generator | None, device):
        self.generator, self.device = generator, device

    def normal(self, n: int, k: int):
        return torch.randn(n, k, generator=self.generator, device="cpu").to(self.device)

    def uniform(self, n: int, k: int):
        return torch.rand(n, k, generator=self.generator, device="cpu").to(self.device)

    def index(self, high: int, n: int):
        return torch.randint(high, (n,), generator=self.generator, device="cpu").to(self.device)

    def take(self, table: torch.Tensor, idx, cols):
        rows = table[idx]
        return rows if cols is None else rows[:, cols]


class NumpyRandom:
    """Draws from numpy's global random state (``dowhy.gcm.util.general.set_random_seed``
    carries through): float64 arrays."""

    @staticmethod
    def normal(n: int, k: int):
        return np.random.standard_normal(size=(n, k))

    @staticmethod
    def uniform(n: int, k: int):
        return np.random.uniform(0.0, 1.0, size=(n, k))

    @staticmethod
    def index(high: int, n: int):
        return np.random.randint(0, high, size=n)

    @staticmethod
    def take(table: torch.Tensor, idx, cols):
        t = table if cols is None else table[:, cols]
        return t.cpu().numpy()[idx]


def prior_noise(net, n: int, random, slot=None) -> dict:
    """The prior law of the noise of ``n`` units, drawn with ``random`` (a
    :class:`TorchRandom` or :class:`NumpyRandom`): ``{key: (n, k)}`` in the order z, eps,
    unif, every column of every key, or with ``slot`` ``(key, column)`` (one node's noise,
    :meth:`CCGMNet.noise_slot`) only that column, as ``{key: (n, 1)}``.

    ``z``: N(0, 1), or under ``prior="conditional"`` a draw from the aggregate posterior
    (a training row's posterior mean and spread); ``eps``: N(0, 1), one per noise latent;
    ``unif``: U(0, 1), one per discrete node."""
    out = {}
    if slot is None or slot[0] == "z":
        cols = None if slot is None else [slot[1]]
        k = len(net.cont) if slot is None else 1
        if net.prior == "conditional" and net.agg_mu.shape[0] > 0:
            idx = random.index(net.agg_mu.shape[0], n)
            out["z"] = (random.take(net.agg_mu, idx, cols)
                        + random.take(net.agg_sd, idx, cols) * random.normal(n, k))
        else:
            out["z"] = random.normal(n, k)
    if slot is None or slot[0] == "eps":
        out["eps"] = random.normal(n, len(net.noisy) if slot is None else 1)
    if slot is None or slot[0] == "unif":
        out["unif"] = random.uniform(n, len(net.disc) if slot is None else 1)
    return out
