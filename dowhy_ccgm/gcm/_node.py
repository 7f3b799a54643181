"""One node of a trained CCGM net seen through numpy: the bridge between DoWhy's arrays
(parents in DoWhy's sorted-predecessor order, one scalar noise per node) and the net's
state blocks.

:class:`NodeModel` is shared by the per-node :class:`~dowhy_ccgm.gcm.CCGMMechanism` (a
star-graph net parents -> node) and by :func:`~dowhy_ccgm.gcm.to_gcm` (one node of a whole
trained generator). It never modifies its inputs.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from .._codec import MAX_STANDARDIZED, codes_of_labels, label_array, standardized
from .._removal import numpy_rows
from .._utils import torch_threads
from ..nn._noise import NumpyRandom, prior_noise

__all__ = ["NodeModel", "as_2d", "values_to_codes"]


def as_2d(a) -> np.ndarray:
    """A (n, k) view of ``a`` ((n,) -> (n, 1)); never a modified copy of the input."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got shape {a.shape}")
    return a


def as_column(a, what: str) -> np.ndarray:
    """(n,) or (n, 1) -> (n,)."""
    a = as_2d(a)
    if a.shape[1] != 1:
        raise ValueError(f"{what} must have one column, got shape {a.shape}")
    return a[:, 0]


#: (kept under its old name: the mechanisms and tests import it from here)
values_to_codes = codes_of_labels


def _continuous_state(spec, values, role: str, device) -> torch.Tensor:
    """Values of a continuous column -> its state block (n, 1), with errors naming the
    ``role`` ("parent" or "node") and the column."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{role} {spec.name!r} is continuous but got non-numeric values "
                         f"such as {np.asarray(values)[:3].tolist()}") from None
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{role} {spec.name!r} has missing or infinite values")
    return torch.as_tensor(standardized(spec, x, role), dtype=torch.float32,
                           device=device).unsqueeze(-1)


def _numeric_binary(spec) -> bool:
    cats = spec.categories
    return (spec.kind == "binary" and all(isinstance(c, numbers.Number)
                                          and not isinstance(c, (bool, np.bool_)) for c in cats))


class NodeModel:
    """Node ``node`` of a CCGM net, with its parents in a fixed column order.

    Parameters
    ----------
    net : CCGMNet
        Trained, in eval mode (shared, never trained here).
    node : int
        The node's index in the net.
    spec : ColumnSpec
        The node's column spec (kind, categories, standardization).
    parents : list of (int, ColumnSpec)
        Parents in the column order of the ``parent_samples`` arrays (DoWhy's order).
    fixed : dict {int: Insertion}, optional
        Net inputs not among ``parents`` (edges removed from a generator), each a
        :class:`~dowhy_ccgm._removal.Insertion` of states. When sampling, a pool input is a
        random draw per row (numpy's global random state); at unit level
        (``evaluate``/``estimate_noise``) every fixed input is its reference state (the
        package's edge-removal policy, :mod:`dowhy_ccgm._removal`), so abduction and
        prediction agree exactly and match ``CCGMGenerator.counterfactual``.
    n_threads : int, optional
        Torch threads for inference (default 1).
    """

    def __init__(self, net, node: int, spec, parents, fixed=None, n_threads=None):
        self.net = net
        self.node = int(node)
        self.spec = spec
        self.parents = [(int(j), s) for j, s in parents]
        self.fixed = dict(fixed or {})
        self.n_threads = n_threads

    # ------------------------------------------------------------------ properties
    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def noise_kind(self) -> str | None:
        """``"normal"``, ``"uniform"``, ``"latent"`` (an exogenous root's latent) or None."""
        return self.net.noise_kind(self.node)

    @property
    def categories(self) -> list:
        return list(self.spec.categories)

    # ------------------------------------------------------------------ conversions
    def _device(self):
        return self.net.mask.device

    def _parent_state(self, j: int, spec, col: np.ndarray) -> torch.Tensor:
        dev = self._device()
        if spec.kind == "continuous":
            return _continuous_state(spec, col, "parent", dev)
        if _numeric_binary(spec):
            # a 0/1 parent: state = value - 0.5, extended linearly to any number (so soft
            # interventions such as do(D := 0.5) are defined)
            try:
                x = np.asarray(col, dtype=np.float64)
            except (TypeError, ValueError):
                x = None
            if x is not None and np.all(np.isfinite(x)):
                a, b = (float(c) for c in spec.categories)
                st = (x - a) / (b - a) - 0.5
                if np.any(np.abs(st) > MAX_STANDARDIZED):
                    k = int(np.argmax(np.abs(st)))
                    raise ValueError(
                        f"parent value {float(x[k])!r} for the binary {spec.name!r} lies "
                        f"{float(abs(st[k])):.3g} category widths from its values {a:g} and "
                        f"{b:g}; the model computes in float32 and cannot represent it")
                return torch.as_tensor(st, dtype=torch.float32, device=dev).unsqueeze(-1)
        codes = torch.as_tensor(values_to_codes(spec, col), device=dev)
        return self.net.disc_state(j, codes)

    def parent_states(self, parent_samples, n: int | None = None, sampling: bool = False
                      ) -> torch.Tensor:
        """State rows (n, width) with the parents' (and fixed inputs') blocks filled."""
        net = self.net
        if self.parents:
            X = as_2d(parent_samples)
            if X.shape[1] != len(self.parents):
                raise ValueError(f"expected {len(self.parents)} parent column(s), got "
                                 f"{X.shape[1]}")
            n = X.shape[0]
        elif n is None:
            n = 0 if parent_samples is None else as_2d(parent_samples).shape[0]
        S = torch.zeros(n, net.width, device=self._device())
        for c, (j, spec) in enumerate(self.parents):
            S[:, net.block(j)] = self._parent_state(j, spec, X[:, c])
        for j, ins in self.fixed.items():
            fed = ins.sampled(n, numpy_rows) if sampling else ins.unit_level()
            S[:, net.block(j)] = fed.to(S.device)
        return S

    def state_of_values(self, values) -> torch.Tensor:
        """The node's own observed values -> its state block (n, w)."""
        spec = self.spec
        dev = self._device()
        if spec.kind == "continuous":
            return _continuous_state(spec, values, "node", dev)
        codes = torch.as_tensor(values_to_codes(spec, values), device=dev)
        return self.net.disc_state(self.node, codes)

    def values_of_state(self, state: torch.Tensor) -> np.ndarray:
        """State block -> values (n,): float for numeric nodes (integer columns rounded and
        clipped as in ``CCGMGenerator``), bool or object for other labels."""
        spec = self.spec
        if spec.kind == "continuous":
            return spec.values(state[:, 0].cpu().numpy()).astype(np.float64)
        return self.labels()[self.net.node_codes(self.node, state).cpu().numpy()]

    def labels(self) -> np.ndarray:
        """A discrete node's categories as returned values (:func:`label_array`)."""
        return label_array(self.spec)

    def draw_noise(self, n: int) -> np.ndarray:
        """Noise (n,) from numpy's global random state (DoWhy's convention), by the net's
        one prior law (:func:`dowhy_ccgm.nn._noise.prior_noise`); zeros when the node has
        no noise."""
        slot = self.net.noise_slot(self.node)
        if slot is None:
            return np.zeros(n)
        return prior_noise(self.net, n, NumpyRandom(), slot)[slot[0]][:, 0]

    def _noise_tensor(self, noise, n: int) -> torch.Tensor:
        e = np.array(noise, dtype=np.float64).reshape(-1)  # a writable copy
        if e.shape[0] != n:
            raise ValueError(f"got {e.shape[0]} noise values for {n} rows of parents")
        if self.noise_kind == "uniform":     # (float64: see category_interval)
            e = np.clip(e, 0.0, np.nextafter(1.0, 0.0))
            return torch.as_tensor(e, dtype=torch.float64, device=self._device())
        return torch.as_tensor(e, dtype=torch.float32, device=self._device())

    def evaluate(self, parent_samples, noise, n: int | None = None, sampling: bool = False
                 ) -> np.ndarray:
        """Values (n,) of the node at the given parents and noise."""
        if n is None:
            n = np.asarray(noise).reshape(-1).shape[0]
        with torch_threads(self.n_threads), torch.no_grad():
            S = self.parent_states(parent_samples, n, sampling=sampling)
            e = self._noise_tensor(noise, S.shape[0])
            state = self.net.evaluate_node(self.node, S, e)
            return self.values_of_state(state)

    def sample(self, parent_samples, n: int | None = None) -> np.ndarray:
        """Draws (n,) given the parents (removed-edge inputs drawn from their pools)."""
        if self.parents:
            n = as_2d(parent_samples).shape[0]
        return self.evaluate(parent_samples, self.draw_noise(n), n=n, sampling=True)

    def estimate_noise(self, target, parent_samples) -> np.ndarray:
        """Noise (n,) reproducing ``target`` at the given parents (exact for continuous
        nodes; a posterior draw within the observed category's CDF interval, an atom's
        interval or an integer value's cell otherwise)."""
        y = np.asarray(target).reshape(-1)
        with torch_threads(self.n_threads), torch.no_grad():
            S = self.parent_states(parent_samples, y.shape[0])
            if S.shape[0] != y.shape[0]:
                raise ValueError(f"got {y.shape[0]} target values for {S.shape[0]} rows of "
                                 "parents")
            state = self.state_of_values(y)
            uniform = None
            if self.noise_kind == "uniform" or self.net.atoms[self.node] \
                    or self.net.cell_noise(self.node):
                uniform = torch.as_tensor(np.random.uniform(0.0, 1.0, size=y.shape[0]),
                                          dtype=torch.float32)
            e = self.net.abduct_node(self.node, S, state, uniform=uniform)
            return e.cpu().numpy().astype(np.float64)

    def probabilities(self, parent_samples, n: int | None = None) -> np.ndarray:
        """Class probabilities (n, K) of a discrete node, columns in ``categories`` order."""
        if self.kind == "continuous":
            raise TypeError(f"node {self.spec.name!r} is continuous: no class probabilities")
        net = self.net
        with torch_threads(self.n_threads), torch.no_grad():
            S = self.parent_states(parent_samples, n)
            logits = net.disc_logits(self.node, net.g.forward_node(self.node, S, net.G))
            return torch.softmax(logits, -1).cpu().numpy().astype(np.float64)
