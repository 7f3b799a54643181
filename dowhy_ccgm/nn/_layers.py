"""Pure torch building blocks of CCGM: DAG penalty, the augmented Lagrangian,
monotone per-node decoders and gated per-node MLPs (the nonlinear masks).

Nothing here knows about pandas, DoWhy or training loops.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

__all__ = [
    "dag_penalty",
    "AugmentedLagrangian",
    "MonotoneMap",
    "GatedNodeMLP",
]


def dag_penalty(G: torch.Tensor) -> torch.Tensor:
    """Acyclicity measure ``H(G) = tr[(I + G∘G)^n] - n`` (paper eq. 6).

    Parameters
    ----------
    G : Tensor, shape (n, n)
        Weighted adjacency, ``G[j, i]`` the weight of edge ``j -> i``.

    Returns
    -------
    Tensor, shape ()
        Zero exactly when ``G`` is the adjacency of a DAG, positive otherwise.
    """
    n = G.shape[0]
    M = torch.eye(n, dtype=G.dtype, device=G.device) + G * G
    return torch.trace(torch.linalg.matrix_power(M, n)) - n


class AugmentedLagrangian:
    """Schedule of paper eqs. 7-8: ``l_h = lam H + c/2 H^2``.

    ``step(h)`` is called at the end of every epoch with the epoch's H(G):
    ``lam += c h`` and ``c *= eta`` when ``|h| > gamma |h_prev|``.
    """

    def __init__(self, lam: float = 0.0, c: float = 1.0, eta: float = 2.0, gamma: float = 0.9,
                 c_max: float = 1e8):
        self.lam = float(lam)
        self.c = float(c)
        self.eta = float(eta)
        self.gamma = float(gamma)
        self.c_max = float(c_max)
        self.h_prev = math.inf

    def penalty(self, h: torch.Tensor) -> torch.Tensor:
        return self.lam * h + 0.5 * self.c * h * h

    def step(self, h: float) -> None:
        h = float(h)
        self.lam += self.c * h
        if abs(h) > self.gamma * abs(self.h_prev):
            self.c = min(self.c * self.eta, self.c_max)
        self.h_prev = h

    def state_dict(self) -> dict:
        return {"lam": self.lam, "c": self.c, "eta": self.eta, "gamma": self.gamma,
                "h_prev": self.h_prev if math.isfinite(self.h_prev) else None}


class MonotoneMap(nn.Module):
    """Strictly increasing scalar maps, one per column, with an exact inverse.

    ``y = a + e^b z + sum_k e^{c_k} tanh(e^{d_k} z + f_k)``; the slope is at
    least ``e^b`` everywhere, so the tails are linear and the inverse (by
    bisection) is exact to float precision for any input, including values
    far outside the training range.

    Parameters
    ----------
    n_columns : int
    n_components : int
    """

    def __init__(self, n_columns: int, n_components: int = 6):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(n_columns))
        self.b = nn.Parameter(torch.zeros(n_columns))
        self.c = nn.Parameter(torch.full((n_columns, n_components), -4.0))
        self.d = nn.Parameter(torch.zeros(n_columns, n_components))
        self.f = nn.Parameter(torch.linspace(-2.0, 2.0, n_components).repeat(n_columns, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (batch, n_columns) -> (batch, n_columns)."""
        t = torch.tanh(torch.exp(self.d) * z.unsqueeze(-1) + self.f)
        return self.a + torch.exp(self.b) * z + (torch.exp(self.c) * t).sum(-1)

    def forward_and_derivative(self, z: torch.Tensor):
        """``(y, dy/dz)`` sharing one tanh (the Newton steps of the inverse need both)."""
        return self._terms(z, second=False)[:2]

    def derivative(self, z: torch.Tensor) -> torch.Tensor:
        """dy/dz, elementwise (always >= e^b > 0). z: (batch, n_columns)."""
        e_d = torch.exp(self.d)
        t = torch.tanh(e_d * z.unsqueeze(-1) + self.f)
        return torch.exp(self.b) + (torch.exp(self.c) * e_d * (1 - t * t)).sum(-1)

    def inverse_differentiable(self, y: torch.Tensor, init: torch.Tensor | None = None,
                               tol: float = 1e-3):
        """Exact inverse whose gradient w.r.t. ``y`` and the parameters is the
        implicit-function gradient (solve without grad, then one Newton step).

        ``init`` (a previous solution, e.g. from the last epoch) warm-starts the
        solve: a few Newton steps instead of a bisection. The solve stops at a residual
        of ``tol * (1 + |y|)``; the final Newton step squares that error."""
        z0 = self.inverse(y.detach(), init=init, tol=tol)
        f0, d0 = self.forward_and_derivative(z0)
        return z0 - (f0 - y) / d0.detach()

    def inverse_and_log_derivative(self, y: torch.Tensor, init: torch.Tensor | None = None,
                                   tol: float = 1e-3):
        """``(z, log dy/dz at z)`` with ``z = inverse(y)`` differentiable as in
        :meth:`inverse_differentiable`: the change-of-variables terms of the exact
        likelihood. y: (batch, n_columns).

        One tanh serves both terms (the fit's hot path): with ``z0`` the solve's
        solution, ``t = tanh(e^d z0 + f)`` gives ``f(z0)``, ``f'(z0)`` and ``f''(z0)``;
        ``z = z0 - (f(z0) - y) / f'(z0)`` is the Newton step of
        :meth:`inverse_differentiable` and ``log f'(z) = log f'(z0) + f''(z0)/f'(z0) (z -
        z0)`` its first-order expansion. ``z - z0`` is the squared residual of the solve
        (below about 1e-6), so value and gradient equal those of
        ``log(derivative(inverse_differentiable(y)))`` to that order (tested).

        With ``init`` (the fit's warm starts) the solve's Newton steps run here: the
        evaluation at the first iterate that meets ``tol`` is the differentiable one, so
        the usual case (the warm start misses, one Newton step meets it) costs two decoder
        evaluations, not three; the iterates, and the fallback to bisection after
        ``WARM_STEPS`` of them, are exactly those of :meth:`inverse`."""
        yd = y.detach()
        if init is None:
            return self._polished(y, self.inverse(yd, tol=tol))
        with torch.no_grad():
            lo, hi = self._bracket(yd)
            bound = tol * (1 + yd.abs())
            z0 = torch.minimum(torch.maximum(init, lo), hi)
            fz, dz = self.forward_and_derivative(z0)
            r = fz - yd
            met = bool((r.abs() <= bound).all())
            if not met:
                z0 = torch.minimum(torch.maximum(z0 - r / dz, lo), hi)
        if met:                       # (the warm start itself meets tol)
            return self._polished(y, z0)
        terms = self._terms(z0)
        if bool(((terms[0].detach() - yd).abs() <= bound).all()):
            return self._polished(y, z0, terms)
        with torch.no_grad():         # (rare) the rest of inverse's warm steps, then bisection
            z0 = self.inverse(yd, init=torch.minimum(torch.maximum(
                z0 - (terms[0] - yd) / terms[1], lo), hi), tol=tol,
                warm_steps=self.WARM_STEPS - 2)
        return self._polished(y, z0)

    def _terms(self, z0: torch.Tensor, second: bool = True):
        """``(f(z0), f'(z0), f''(z0))`` from one tanh, differentiable in the parameters
        (``second=False``: ``f''`` is None)."""
        e_d = torch.exp(self.d)
        e_c = torch.exp(self.c)
        e_b = torch.exp(self.b)
        t = torch.tanh(torch.addcmul(self.f, e_d, z0.unsqueeze(-1)))
        f0 = self.a + e_b * z0 + (e_c * t).sum(-1)
        k = e_c * e_d * (1 - t * t)                       # per-component slopes
        d0 = e_b + k.sum(-1)
        d2 = -2.0 * (k * e_d * t).sum(-1) if second else None     # f''(z0)
        return f0, d0, d2

    def _bracket(self, y: torch.Tensor):
        """``(lo, hi)`` with ``inverse(y)`` inside: the slope is at least ``e^b`` and the
        tanh components move ``y`` by at most the sum of their ``e^c``."""
        slope = torch.exp(self.b)
        spread = torch.exp(self.c).sum(-1)
        return (y - self.a - spread) / slope, (y - self.a + spread) / slope

    def _polished(self, y: torch.Tensor, z0: torch.Tensor, terms=None):
        """The differentiable Newton step from the solve's ``z0`` and the log slope there
        (see :meth:`inverse_and_log_derivative`)."""
        f0, d0, d2 = self._terms(z0) if terms is None else terms
        z = z0 - (f0 - y) / d0.detach()
        return z, torch.log(d0) + d2 / d0 * (z - z0)

    def forward_column(self, k: int, z: torch.Tensor) -> torch.Tensor:
        """Column ``k`` only. z: (batch,) -> (batch,)."""
        t = torch.tanh(torch.exp(self.d[k]) * z.unsqueeze(-1) + self.f[k])
        return self.a[k] + torch.exp(self.b[k]) * z + (torch.exp(self.c[k]) * t).sum(-1)

    #: Newton steps tried from a warm start before the inverse falls back to bisection
    WARM_STEPS = 4

    @torch.no_grad()
    def inverse(self, y: torch.Tensor, n_bisect: int = 14, n_newton: int = 4,
                init: torch.Tensor | None = None, tol: float = 1e-4,
                warm_steps: int = WARM_STEPS) -> torch.Tensor:
        """Exact inverse: bisection on a guaranteed bracket, then safeguarded Newton
        steps (the map is smooth with slope >= e^b, so Newton converges
        quadratically once the bracket is small). y: (batch, n_columns).

        With ``init``, up to ``warm_steps`` Newton iterates start there; the rows that
        still miss ``tol`` at the last of them are solved by the bisection (the others
        keep their Newton iterate), so the result is always exact. (Real data's fits
        need it at most steps: a few rows near a point mass or in a flat tail of the
        decoder; LaLonde's at 90% of its steps, where the whole batch used to be
        bisected.)"""
        lo, hi = self._bracket(y)
        if init is not None and warm_steps > 0:
            z = torch.minimum(torch.maximum(init, lo), hi)
            bound = tol * (1 + y.abs())
            for _ in range(warm_steps):
                fz, dz = self.forward_and_derivative(z)
                r = fz - y
                missed = r.abs() > bound
                if not bool(missed.any()):
                    return z
                z = torch.minimum(torch.maximum(z - r / dz, lo), hi)
            rows = missed.reshape(missed.shape[0], -1).any(-1) if missed.dim() > 1 \
                else missed
            if not bool(rows.all()):
                idx = rows.nonzero().squeeze(-1)
                z = z.clone()
                z[idx] = self._bisected(y[idx], lo[idx], hi[idx], n_bisect, n_newton)
                return z
        return self._bisected(y, lo, hi, n_bisect, n_newton)

    def _bisected(self, y, lo, hi, n_bisect: int, n_newton: int) -> torch.Tensor:
        """:meth:`inverse` by bisection on the bracket ``(lo, hi)``, then Newton steps."""
        for _ in range(n_bisect):
            mid = 0.5 * (lo + hi)
            above = self.forward(mid) > y
            hi = torch.where(above, mid, hi)
            lo = torch.where(above, lo, mid)
        z = 0.5 * (lo + hi)
        for _ in range(n_newton):
            fz, dz = self.forward_and_derivative(z)
            z = torch.minimum(torch.maximum(z - (fz - y) / dz, lo), hi)
        return z


def _linear_loaded(module, incompatible_keys) -> None:
    """After ``load_state_dict``: the simple mechanisms' cache follows the loaded buffers
    (a module-level function: modules stay picklable)."""
    module._linear_changed()


class GatedNodeMLP(nn.Module):
    """One small MLP per node, all evaluated in one batched call.

    Node ``i`` sees the parent-state vector gated by column ``i`` of the
    adjacency: block ``j`` of its input is ``A[j, i] * state_j`` (the Hadamard
    product ``A_i ∘ z`` of eq. 13), so every parent is a separate input and an
    entry of ``A`` that is zero cuts both the signal and its gradient.

    Parameters
    ----------
    block_sizes : list of int
        Width of every node's state block (1 for continuous/binary, K for a
        categorical node's one-hot).
    n_out : int
        Output width of every node's MLP.
    hidden : int
    n_layers : int
        Number of hidden layers (0 gives a gated linear map).
    lookup : dict, optional
        ``{node: K}`` for many-level categorical nodes whose state block is one column
        holding the category code (block size 1): every node's first layer adds the gated,
        learned row of that code (``tables``), as a one-hot block would, without its K
        columns.
    """

    def __init__(self, block_sizes, n_out: int, hidden: int = 32, n_layers: int = 2,
                 lookup=None):
        super().__init__()
        n = len(block_sizes)
        self.n = n
        self.block_sizes = list(block_sizes)
        width = int(sum(block_sizes))
        self.width = width
        idx = []
        for j, s in enumerate(block_sizes):
            idx.extend([j] * s)
        self.register_buffer("block_index", torch.tensor(idx, dtype=torch.long))
        dims = [width] + [hidden] * n_layers + [n_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            bound = 1.0 / math.sqrt(max(d_in, 1))
            self.weights.append(nn.Parameter(torch.empty(n, d_in, d_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(n, d_out)))
        # "lookup" blocks {node: K}: one state column holding a category code; every node's
        # first layer reads a learned row per category (what a one-hot block times the first
        # layer's weights computes, without the K columns). Created last, so the other
        # weights' initial values do not depend on them.
        lookup = dict(lookup or {})
        offsets = [0]
        for b in self.block_sizes:
            offsets.append(offsets[-1] + b)
        self.lookup_cols = [offsets[j] for j in sorted(lookup)]
        # each lookup column's first row in ``linear_tab`` (its levels follow)
        self.lookup_rows, start = [], 0
        for j in sorted(lookup):
            self.lookup_rows.append(start)
            start += lookup[j]
        dense = torch.ones(width)
        dense[self.lookup_cols] = 0.0
        self.register_buffer("dense_col", dense, persistent=False)
        full = width - len(lookup) + sum(lookup.values())
        bound = 1.0 / math.sqrt(max(full, 1))
        d1 = dims[1]
        self.tables = nn.ParameterList([
            nn.Parameter(torch.empty(n, lookup[j], d1).uniform_(-bound, bound))
            for j in sorted(lookup)])
        # simple mechanisms (:mod:`dowhy_ccgm._simple`): a node whose ``linear_on`` is 1
        # outputs ``features(states) @ linear_w[i] + linear_b[i]`` instead of its MLP's
        # output, the features being the states and, for the continuous state columns,
        # a restricted cubic spline basis (Harrell's: natural, linear beyond its outer
        # knots) at ``linear_knots`` (``linear_basis`` flags the terms in use): a linear
        # map, or an additive smooth one. ``linear_w[i]``'s rows: the ``width`` states,
        # then ``BASIS`` terms per column (column-major); zero outside the node's parents.
        # Chosen after the fit, never trained by gradient; all off until then.
        # ``linear_mlp[i, c]`` 1: output column ``c`` of a simple node stays its MLP's (a
        # node with point masses whose atom probabilities alone are simple).
        # ``linear_mod[i]`` >= 0: the state column of a binary parent that modifies the
        # node's slopes (the "interaction" mechanism): ``linear_wm[i]`` (width, n_out) on
        # the state values, times that column's state (+-0.5), is added to the map.
        # ``linear_tab[i]`` (levels of every lookup column, n_out): a many-level
        # categorical parent's term, one row per level (its indicators' coefficients; the
        # lookup column ``lookup_cols[t]``'s levels start at row ``lookup_rows[t]``).
        # ``linear_blend[i]`` in (0, 1): the map's columns are ``a * MLP + (1 - a) * map``
        # with ``a = linear_blend[i]`` (a discrete node's logits: its network's blended
        # with a logistic regression's); 0: the map alone.
        B = self.BASIS
        self.register_buffer("linear_on", torch.zeros(n))
        self.register_buffer("linear_knots", torch.zeros(width, B + 2))
        self.register_buffer("linear_basis", torch.zeros(width, B))
        self.register_buffer("linear_w", torch.zeros(n, width * (1 + B), n_out))
        self.register_buffer("linear_b", torch.zeros(n, n_out))
        self.register_buffer("linear_mlp", torch.zeros(n, n_out))
        self.register_buffer("linear_mod", torch.full((n,), -1, dtype=torch.long))
        self.register_buffer("linear_wm", torch.zeros(n, width, n_out))
        self.register_buffer("linear_tab", torch.zeros(n, sum(lookup.values()), n_out))
        self.register_buffer("linear_blend", torch.zeros(n))
        self._linear, self._linear_rows, self._linear_mixed = [], {}, set()
        self._linear_mod, self._linear_tabs, self._linear_blend = {}, {}, {}
        self.register_load_state_dict_post_hook(_linear_loaded)

    #: spline terms per continuous state column of the simple mechanisms (5 knots)
    BASIS = 3

    @property
    def lookup_levels(self) -> list:
        """The number of levels of each lookup column (``lookup_cols``' order)."""
        return [T.shape[1] for T in self.tables]

    def _linear_changed(self) -> None:
        """Caches which nodes are simple and the columns each reads (no device sync on
        the forward path)."""
        self._linear = torch.nonzero(self.linear_on).flatten().tolist()
        self._linear_rows = {}
        self._linear_mixed = {i for i in self._linear if bool(self.linear_mlp[i].any())}
        self._linear_mod, self._linear_tabs = {}, {}
        blend = self._buffers.get("linear_blend")      # (nets pickled before blends)
        self._linear_blend = {} if blend is None else {
            i: float(blend[i]) for i in self._linear if float(blend[i]) > 0.0}
        B, w = self.BASIS, self.width
        # (nets pickled before the many-level parents' rows have neither)
        tab, starts = self._buffers.get("linear_tab"), getattr(self, "lookup_rows", None)
        for i in self._linear:
            self._linear_tabs[i] = [] if tab is None or starts is None else [
                (c, r, K) for c, r, K in zip(self.lookup_cols, starts, self.lookup_levels)
                if bool(tab[i, r:r + K].abs().sum() > 0)]
            W = self.linear_w[i]
            used = W[:w].abs().sum(-1) + W[w:].view(w, B, -1).abs().sum((1, 2))
            cols = torch.nonzero(used).flatten()
            self._linear_rows[i] = (cols, torch.cat(self.feature_rows(cols)))
            mod = int(self.linear_mod[i])
            if mod >= 0:
                self._linear_mod[i] = (mod, torch.nonzero(
                    self.linear_wm[i].abs().sum(-1)).flatten())

    def feature_rows(self, cols: torch.Tensor) -> tuple:
        """The rows of ``linear_w`` (the columns of :meth:`linear_features`) that read the
        state columns ``cols``: ``(their values' rows, their spline terms' rows)``, the
        latter ``BASIS`` per column, column-major."""
        B = self.BASIS
        return cols, (self.width + cols.unsqueeze(1) * B
                      + torch.arange(B, device=cols.device)).flatten()

    def linear_features(self, x: torch.Tensor, cols=None) -> torch.Tensor:
        """The simple mechanisms' features of state values ``x`` (..., width), or of the
        columns ``cols`` (..., len(cols)): the values, then each column's spline terms.

        With knots ``t_1 < ... < t_k`` (``k - 2`` terms in use; ``linear_knots`` holds the
        inner ``t_1..t_{k-2}`` then ``t_{k-1}, t_k``), term ``j`` is Harrell's
        ``((x - t_j)^3_+ - (x - t_{k-1})^3_+ (t_k - t_j) / (t_k - t_{k-1}) + (x - t_k)^3_+
        (t_{k-1} - t_j) / (t_k - t_{k-1})) / (t_k - t_1)^2``: cubic between the knots,
        linear beyond the outer ones."""
        T = self.linear_knots if cols is None else self.linear_knots[cols]
        M = self.linear_basis if cols is None else self.linear_basis[cols]
        inner, a, b = T[:, :-2], T[:, -2:-1], T[:, -1:]
        den = (b - a).clamp(min=1e-6)
        norm = ((b - T[:, :1]) ** 2).clamp(min=1e-6)
        xe = x.unsqueeze(-1)

        def cube(v):
            return F.relu(v) ** 3
        terms = (cube(xe - inner) - cube(xe - a) * ((b - inner) / den)
                 + cube(xe - b) * ((a - inner) / den)) / norm
        return torch.cat([x, (terms * M).flatten(-2)], -1)

    def set_knots(self, knots: torch.Tensor, basis: torch.Tensor) -> None:
        """The spline knots (width, BASIS + 2) and which terms are in use (width, BASIS)."""
        with torch.no_grad():
            self.linear_knots.copy_(knots)
            self.linear_basis.copy_(basis)

    def set_linear(self, i: int, weight: torch.Tensor | None, bias: torch.Tensor | None = None,
                   mlp_columns=(), modifier: int | None = None,
                   modifier_weight: torch.Tensor | None = None,
                   table: torch.Tensor | None = None, blend: float = 0.0) -> None:
        """Make node ``i`` simple (``weight`` (width * (1 + BASIS), n_out) on
        :meth:`linear_features`, ``bias`` (n_out,)), or its MLP again (``weight=None``).
        ``mlp_columns``: output columns that stay the MLP's (the others are the map's).
        ``modifier``: a binary parent's state column whose state (+-0.5) times the state
        values' map ``modifier_weight`` (width, n_out) is added (slopes that differ
        between the parent's two values). ``table`` (levels of every lookup column,
        n_out): the many-level categorical parents' rows (``linear_tab``). ``blend`` in
        [0, 1): the map's columns become ``blend * MLP + (1 - blend) * map``."""
        if not 0.0 <= float(blend) < 1.0:
            raise ValueError(f"blend must be in [0, 1), got {blend!r}")
        with torch.no_grad():
            self.linear_blend[i] = 0.0 if weight is None else float(blend)
            self.linear_tab[i] = 0.0
            if table is not None and weight is not None:
                self.linear_tab[i] = table.to(self.linear_tab)
            self.linear_mlp[i] = 0.0
            self.linear_mod[i] = -1
            self.linear_wm[i] = 0.0
            if modifier is not None:
                self.linear_mod[i] = int(modifier)
                self.linear_wm[i] = modifier_weight.to(self.linear_wm)
            if weight is None:
                self.linear_on[i] = 0.0
                self.linear_w[i] = 0.0
                self.linear_b[i] = 0.0
            else:
                self.linear_on[i] = 1.0
                self.linear_w[i] = weight.to(self.linear_w)
                self.linear_b[i] = bias.to(self.linear_b)
                for c in mlp_columns:
                    self.linear_mlp[i, c] = 1.0
        self._linear_changed()

    def linear_output(self, i: int) -> bool:
        """Whether node ``i``'s location (output column 0) is its simple map's alone."""
        return (i in self._linear_rows and not bool(self.linear_mlp[i, 0] > 0)
                and i not in self.blended)

    @property
    def blended(self) -> dict:
        """``{node: a}``: the nodes whose map's columns are ``a * MLP + (1 - a) * map``."""
        return self.__dict__.get("_linear_blend", {})

    @property
    def linear_nodes(self) -> list:
        """The nodes with a simple map: their whole mechanism (linear or additive), or
        only their atom probabilities (:meth:`linear_output` tells which)."""
        return list(self._linear)

    def _linear_out(self, i: int, states: torch.Tensor) -> torch.Tensor:
        """Simple node ``i``'s output from its parents' columns of ``states`` (batch,
        width), in float64: one computation for every path (batched forward, one node),
        so abduction and generation agree to the last bit."""
        cols, rows = self._linear_rows[i]
        f = self.linear_features(states[:, cols].double(), cols)
        out = torch.addmm(self.linear_b[i].double(), f, self.linear_w[i][rows].double())
        for c, r, K in self.__dict__.get("_linear_tabs", {}).get(i, ()):  # (old pickles)
            code = states[:, c].round().long().clamp(0, K - 1)
            out = out + self.linear_tab[i, r + code].double()
        if i in self._linear_mod:
            m, mc = self._linear_mod[i]
            out = out + states[:, m:m + 1].double() * (
                states[:, mc].double() @ self.linear_wm[i][mc].double())
        return out.to(states.dtype)

    def _with_linear(self, out: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """``out`` (batch, n, n_out) with the simple nodes' outputs in place."""
        out = out.clone()
        for i in self._linear:
            lin = self._linear_out(i, states if states.dim() == 2 else states[:, i])
            if i in self.blended:
                lin = torch.lerp(lin, out[:, i], self.blended[i])
            out[:, i] = (torch.where(self.linear_mlp[i] > 0, out[:, i], lin)
                         if i in self._linear_mixed else lin)
        return out

    def expand_gate(self, A: torch.Tensor) -> torch.Tensor:
        """(n, n) adjacency -> (n_nodes, width) per-node input gates."""
        return A[self.block_index, :].T

    def forward(self, states: torch.Tensor, A: torch.Tensor, inputs=None) -> torch.Tensor:
        """states: (batch, width); A: (n, n) -> (batch, n, n_out).

        All nodes in a handful of tensor ops: the gates are folded into the first
        layer's weights (``(A_i ∘ s) W_i = s (diag(A_i) W_i)``), so the first layer of
        every node is ONE matmul ``(batch, width) @ (width, n * hidden)``, and the
        hidden layers are batched matmuls over nodes.

        ``inputs`` = ``(index, valid)``, both (n, P), lists the state columns each node
        may read (its allowed parents' blocks, padded; ``valid`` 0 on the padding).
        The first layer then reads only those columns: ``n * P`` instead of
        ``n * width`` inputs, the same result (the other gates are zero), and much less
        work on large sparse graphs.

        ``states`` may also be (batch, n, width) when each node sees its own
        version of the parents (edge overrides).
        """
        gate = self.expand_gate(A)  # (n, width)
        # plain lists: slicing an nn.ParameterList builds a new module on every call
        weights, biases = list(self.weights), list(self.biases)
        W0, b0 = weights[0], biases[0]
        tables = list(self.tables)
        dense_gate = gate * self.dense_col if tables else gate   # lookup columns: below
        if inputs is not None and states.dim() == 2:
            index, valid = inputs
            g = dense_gate.gather(1, index) * valid                  # (n, P)
            Wp = W0.gather(1, index.unsqueeze(-1).expand(-1, -1, W0.shape[-1]))
            h = torch.bmm((states[:, index] * g).transpose(0, 1), Wp)
        elif states.dim() == 2:
            W0g = (W0 * dense_gate.unsqueeze(-1)).transpose(0, 1).reshape(self.width, -1)
            h = (states @ W0g).view(states.shape[0], self.n, -1).transpose(0, 1)
        else:
            h = torch.bmm((states * dense_gate.unsqueeze(0)).transpose(0, 1), W0)
        for T, c in zip(tables, self.lookup_cols):    # (n, K, d1) rows by the block's code
            code = states[..., c].round().long().clamp(0, T.shape[1] - 1)
            if states.dim() == 2:
                rows = T[:, code]                                    # (n, batch, d1)
            else:                                                    # (batch, n) codes
                rows = T[torch.arange(self.n, device=code.device), code].transpose(0, 1)
            h = h + gate[:, c].view(-1, 1, 1) * rows
        h = h + b0.unsqueeze(1)                       # (n, batch, d1)
        for W, b in zip(weights[1:], biases[1:]):
            h = torch.baddbmm(b.unsqueeze(1), F.silu(h), W)
        if self._linear:
            return self._with_linear(h.transpose(0, 1), states)
        return h.transpose(0, 1)                      # (batch, n, n_out)

    def forward_node(self, i: int, states: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """Evaluate node ``i`` only. states: (batch, width) -> (batch, n_out).

        On a sparse graph the first layer reads only the columns whose gate is not zero
        (the node's parents' blocks), so a node costs what its in-degree asks, not the
        graph's width (generation and abduction go node by node: the dense product made
        them quadratic in the number of nodes). A simple node (:meth:`set_linear`) is its
        map of its features."""
        mixed = i in self._linear_mixed
        blend = self.blended.get(i)
        if i in self._linear_rows and not mixed and blend is None:
            return self._linear_out(i, states)
        gate = A[self.block_index, i]
        tables = list(self.tables)
        g = gate * self.dense_col if tables else gate
        weights, biases = list(self.weights), list(self.biases)
        cols = torch.nonzero(g).squeeze(1)
        if 2 * cols.numel() <= self.width:
            h = torch.addmm(biases[0][i], states[:, cols] * g[cols], weights[0][i][cols])
        else:
            h = torch.addmm(biases[0][i], states * g, weights[0][i])
        for T, c in zip(tables, self.lookup_cols):
            code = states[:, c].round().long().clamp(0, T.shape[1] - 1)
            h = h + gate[c] * T[i, code]
        inplace = not torch.is_grad_enabled()      # generation: fused, in place
        for W, b in zip(weights[1:], biases[1:]):
            h = torch.addmm(b[i], F.silu(h, inplace=inplace), W[i])
        if blend is not None:
            lin = torch.lerp(self._linear_out(i, states), h, blend)
            return torch.where(self.linear_mlp[i] > 0, h, lin) if mixed else lin
        if mixed:
            h = torch.where(self.linear_mlp[i] > 0, h, self._linear_out(i, states))
        return h
