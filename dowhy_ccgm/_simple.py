"""Simple mechanisms where the data do not ask for more: a per-node choice, by validation,
between the fitted network's mechanism and three noise models fitted in closed form: a
linear one, an additive spline one and a linear one whose slopes a binary parent changes.

Real data are often close to additive, and a few rows per cell of the parents cannot tell
a flexible mechanism's bends from noise: there the network fits per-cell means (the
sampling noise of a saturated model), its scale varies with the parents and its learned
decoder bends where the data are dense, so a unit's counterfactual moves where the truth
does not. DoWhy's auto-assignment wins such cases by choosing a simpler model. This module
makes that choice for each continuous node after the exact fit. With ``u_i`` the node's
standardized value:

* ``"linear"``: ``u_i = b + sum_c beta_c x_c + s eps``, the sum over the state columns of
  the node's parents (a continuous parent's standardized value, a binary one's ``value -
  0.5``, a categorical one's indicators);
* ``"additive"``: the same plus, for every continuous parent column, a restricted cubic
  spline (Harrell's, knots at the 5, 27.5, 50, 72.5 and 95% quantiles of its training
  values: three terms, cubic between the knots, linear beyond the outer ones): an additive
  smooth mechanism (as in CAM, Buehlmann et al. 2014), linear beyond the data;
* ``"interaction"``: ``u_i = b + sum_c beta_c x_c + m (b' + sum_c gamma_c x_c) + s eps``
  with ``m = +-0.5`` the state of a binary parent (a treatment, a group) and the second sum
  over the other columns: every slope differs between the parent's two values, so the
  parent's effect varies with the other parents (IHDP's surface B; the linear and additive
  models give every unit the same effect). The modifier is the binary parent whose fit
  leaves the least residual variance among the :data:`MAX_MODIFIERS` with the largest
  linear slopes;
* ``"network"``: the fitted network.

The simple models are fitted by least squares on the training rows, weighted by the
parent balance as the network is, and the best of them is picked by BIC (nested
least-squares fits differ too little on held-out rows to rank them; the penalty does). Its
negative log-likelihood of the node's value is then computed on every validation row
beside the network's (through the network's decoder's change of variables, so both are
densities of the same value), and the simple mechanism is kept when its mean validation
NLL is not significantly above the network's: the network is kept only when its mean
advantage exceeds ``NETWORK_Z = 1.96`` standard errors of the paired row differences
(Vuong's 1989 test of non-nested models, one-sided at 2.5%; the simpler model unless the
data say otherwise). The margin is wider than Breiman's one-standard-error rule on
purpose: the network's validation NLL is optimistic, since its early stopping chose the
checkpoint on those same rows, and with the one-standard-error rule a truly linear node
kept the network about one time in six (measured). A kept simple mechanism is refitted
on all rows (training and validation) by plain least squares (the parent balance is for a
flexible model's capacity; a simple model kept because it fits every cell as well is most
efficient unweighted, as a linear regression is) and written into the network
(:meth:`GatedNodeMLP.set_linear`, the decoder's column set to the identity), so sampling,
interventions, counterfactuals, edge removal, ``score`` and model files use it with no
other change.

Eligible: continuous endogenous nodes with a noise of their own (``variant="ccgm_noise"``),
no point mass, not a formula node, no many-level categorical parent (read through lookup
tables). Integer and lattice columns are compared on their dequantized values, as the fit
trains them.

A node with point masses (:mod:`dowhy_ccgm.nn._atoms`) keeps the network for its
continuous part, but its atom probabilities are offered a multinomial logistic regression
of the row's class (the continuous part, or atom ``k``) on the linear design, fitted by
Newton's method with the slopes ridged by :data:`ATOM_RIDGE` (a parent cell whose rows
never sit at an atom keeps a small, finite probability there), and compared with the
network's atom probabilities on the validation rows by the same rule (the two
log-likelihoods of the class are the only terms that differ). A kept one is refitted on
all rows, unweighted, and written into the node's atom logits only
(``GatedNodeMLP.set_linear(..., mlp_columns=...)``). A rare parent cell is where it
matters: the network's atom logit in a cell of 15 rows can stay where the other cells put
it.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["KINDS", "MODES", "atom_kinds", "atom_nodes", "clear_simple", "eligible_nodes",
           "mechanism_kinds", "row_chunks", "select_simple"]

#: the candidates, simplest first
KINDS = ("linear", "additive", "interaction", "network")
#: ``mechanisms`` values besides a dict {node: kind}
MODES = ("auto",) + KINDS
#: the splines' knots: these quantiles of a continuous state column's training values
#: (Harrell's default for five knots; fewer where they coincide, none below three)
KNOT_QUANTILES = (0.05, 0.275, 0.5, 0.725, 0.95)
#: the network is kept when its validation NLL is lower by more than this many standard
#: errors of the paired row differences (Vuong's test, one-sided 2.5%)
NETWORK_Z = 1.96
#: the smallest scale a simple mechanism keeps (a tighter node is a formula)
MIN_SCALE = 2e-3
#: training rows read for the knots' quantiles
KNOT_ROWS = 100_000
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: the decoder's tanh components are switched off with this log-weight (e^-80 ~ 2e-35)
_OFF = -80.0
#: binary parents tried as the modifier of an "interaction" mechanism: the ones with the
#: largest linear slopes (each costs a least-squares fit of twice the linear design)
MAX_MODIFIERS = 4
#: rows per chunk of the least-squares sums (their float64 features and temporaries stay
#: a few MB: the fit's memory is the data's)
_CHUNK = 16_384
#: activations per chunk of the network's validation pass (rows x nodes x hidden)
_ACTIVATIONS = 1 << 19
#: the atom probabilities' logistic regression: the ridge on its slopes (a N(0, 100)
#: prior on a slope per sd of a parent: a cell whose rows never sit at an atom keeps a
#: finite, small probability there), and its Newton steps at most
ATOM_RIDGE = 0.01
_NEWTON_STEPS = 50


def _own_noise_nodes(net) -> list:
    """The continuous endogenous nodes with a normal noise of their own, not formulas and
    without a many-level categorical parent: those a simple model may serve (wholly, or
    their atom probabilities only)."""
    if net.variant != "ccgm_noise" or net.objective != "exact":
        return []
    mask = net.mask.detach().cpu().numpy() != 0
    return [i for i in net.cont
            if net.noise_kind(i) == "normal" and i not in net.formulas
            and not any(mask[j, i] for j in net.wide)]


def eligible_nodes(net) -> list:
    """The nodes that may take a simple mechanism (see the module's docstring)."""
    return [i for i in _own_noise_nodes(net) if not net.atoms[i]]


def ineligible_reason(net, i: int) -> str | None:
    """Why node ``i`` cannot take a simple mechanism (None: it can)."""
    if i in eligible_nodes(net):
        return None
    if net.kinds[i] != "continuous":
        return "it is not continuous"
    if net.exogenous[i]:
        return "it is a root (exogenous: its value is its own latent)"
    if net.variant != "ccgm_noise" or net.objective != "exact":
        return "variant='ccgm_noise' and objective='exact' are needed"
    if net.atoms[i]:
        return "it has point masses"
    if i in net.formulas:
        return "it is an exact formula of its parents"
    return "it has a many-level categorical parent"


def mechanism_kinds(net) -> dict:
    """``{node index: kind}`` of every node with a mechanism (not a root): ``"linear"``,
    ``"additive"``, ``"network"`` or ``"formula"``."""
    out = {}
    width = net.width
    for i in range(net.n):
        if net.exogenous[i] and net.variant != "causalvae":
            continue
        if i in net.formulas:
            out[i] = "formula"
        elif net.g.linear_output(i):
            spline = net.g.linear_w[i, width:]
            out[i] = ("interaction" if int(net.g.linear_mod[i]) >= 0 else
                      "additive" if bool(spline.abs().sum() > 0) else "linear")
        else:
            out[i] = "network"
    return out


def atom_nodes(net) -> list:
    """The nodes with point masses whose atom probabilities may be a logistic regression
    on their parents (as :func:`eligible_nodes`, but with point masses)."""
    return [i for i in _own_noise_nodes(net) if net.atoms[i]]


def atom_kinds(net) -> dict:
    """``{node index: "logistic" or "network"}``: how each endogenous node with point
    masses gives its atom probabilities."""
    return {i: "logistic" if i in net.g.linear_nodes else "network"
            for i in net.cont if net.atoms[i] and not net.exogenous[i]
            and i not in net.formulas}


def clear_simple(net) -> None:
    """Every node back to its network mechanism (the start of a fit)."""
    for i in net.g.linear_nodes:
        net.g.set_linear(i, None)


def row_chunks(net, S: torch.Tensor, rows: torch.Tensor, node_weights=None, noise=None):
    """The rows ``rows`` of the state rows ``S`` in chunks ``(S, u, w, seen)``: the states
    with missing cells as 0, the continuous values (plus ``noise(u)``, the dequantization
    of lattice columns), the node weights (or None) and which factors are observed (or
    None). A callable: every call starts again (no copy of the data is kept)."""
    def chunks():
        for a in range(0, rows.shape[0], _CHUNK):
            r = rows[a:a + _CHUNK]
            Sc, seen = net.observed_factors(S[r])
            u = Sc[:, net.cont_offset]
            if noise is not None:
                u = u + noise(u)
            yield Sc, u, None if node_weights is None else node_weights[r], seen
    return chunks


def _set_knots(net, train) -> None:
    """Every continuous state column's spline knots, from its training values."""
    cols = net.cont_offset.cpu().tolist()
    B = net.g.BASIS
    knots = torch.zeros(net.width, B + 2)
    basis = torch.zeros(net.width, B)
    if cols:
        parts, n = [], 0
        for S, _, _, _ in train():
            parts.append(S[:, torch.tensor(cols, device=S.device)].double().cpu())
            n += S.shape[0]
            if n >= KNOT_ROWS:
                break
        values = torch.cat(parts)[:KNOT_ROWS].numpy() if parts else np.zeros((0, len(cols)))
        for k, c in enumerate(cols):
            if not len(values):
                break
            t = np.unique(np.quantile(values[:, k], KNOT_QUANTILES))
            if len(t) < 3:
                continue
            m = len(t) - 2                 # spline terms: one per inner knot
            knots[c, :m] = torch.as_tensor(t[:m])
            knots[c, B:] = torch.as_tensor(t[-2:])
            basis[c, :m] = 1.0
    net.g.set_knots(knots, basis)


def _parent_columns(net, i: int) -> torch.Tensor:
    """The state columns node ``i`` reads: its allowed parents' blocks whose gate is not
    zero (a parent with a zero gate is not read by the network either)."""
    gate = net.G.detach()[net.g.block_index, i] * net.g.dense_col
    return torch.nonzero(gate).flatten().cpu()


class _Design:
    """Node ``i``'s additive design: its parents' state columns ``cols``, the spline terms
    of the continuous ones, an intercept; ``linear`` indexes the columns of the linear
    candidate, and :meth:`weights` maps coefficients to the rows of ``linear_w``."""

    def __init__(self, net, cols: torch.Tensor):
        self.g, self.cols = net.g, cols
        used = net.g.linear_basis.cpu()[cols] > 0                        # (P, B)
        p = cols.numel()
        self.terms = torch.nonzero(used.flatten()).flatten()             # into (P * B)
        self.size = p + self.terms.numel() + 1
        self.linear = torch.cat([torch.arange(p), torch.tensor([self.size - 1])])
        values, terms = net.g.feature_rows(cols)
        self.rows = torch.cat([values, terms[self.terms]])

    @property
    def has_spline(self) -> bool:
        return bool(self.terms.numel())

    def __call__(self, S: torch.Tensor) -> torch.Tensor:
        """The design of state rows ``S`` (float64, CPU)."""
        cols = self.cols.to(S.device)
        feats = self.g.linear_features(S[:, cols].double(), cols).cpu()
        p = self.cols.numel()
        x = feats[:, :p]
        spline = feats[:, p:][:, self.terms]
        return torch.cat([x, spline, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)

    def linear_design(self, S: torch.Tensor) -> torch.Tensor:
        """The linear candidate's columns of :meth:`__call__` (the parents' state values
        and the intercept), without computing the spline terms."""
        x = S[:, self.cols.to(S.device)].double().cpu()
        return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)

    def weights(self, beta: torch.Tensor, n_out: int, width: int):
        """``(weight, intercept, other keyword arguments)`` of
        :meth:`GatedNodeMLP.set_linear` from the full design's coefficients."""
        weight = torch.zeros(width * (1 + self.g.BASIS), n_out)
        weight[self.rows, 0] = beta[:-1].float()
        return weight, float(beta[-1]), {}


class _ModifiedDesign:
    """Node ``i``'s "interaction" design: the linear design (its parents' state values,
    an intercept) and the other values times the state (+-0.5) of the binary parent at
    position ``k`` of ``cols``: slopes that differ between the parent's two values, the
    parent's own effect the difference of the intercepts."""

    def __init__(self, design: _Design, k: int):
        self.base, self.k = design, k
        p = design.cols.numel()
        self.others = torch.tensor([c for c in range(p) if c != k], dtype=torch.long)
        self.size = 2 * p
        self.modifier = int(design.cols[k])

    def __call__(self, S: torch.Tensor) -> torch.Tensor:
        X = self.base.linear_design(S)
        return torch.cat([X, X[:, self.k:self.k + 1] * X[:, self.others]], 1)

    def weights(self, beta: torch.Tensor, n_out: int, width: int):
        """``(weight, intercept, {modifier, modifier_weight})`` of
        :meth:`GatedNodeMLP.set_linear`."""
        p = self.base.cols.numel()
        weight = torch.zeros(width * (1 + self.base.g.BASIS), n_out)
        weight[self.base.cols, 0] = beta[:p].float()
        wm = torch.zeros(width, n_out)
        wm[self.base.cols[self.others], 0] = beta[p + 1:].float()
        return weight, float(beta[p]), {"modifier": self.modifier, "modifier_weight": wm}


def _modifiers(net, design: _Design, moments) -> list:
    """The positions in ``design.cols`` of the binary parents to try as modifiers: at
    most :data:`MAX_MODIFIERS`, the largest linear slopes first."""
    node_of = net.block_of_column.cpu()
    binary = [k for k, c in enumerate(design.cols.tolist())
              if net.kinds[int(node_of[c])] == "binary"]
    if not binary or design.cols.numel() < 2:
        return []
    beta = _solve(moments, design.linear)[0]
    return sorted(binary, key=lambda k: -abs(float(beta[k])))[:MAX_MODIFIERS]


def _node_rows(net, i, chunk):
    """Node ``i``'s rows of a chunk with its factor observed: ``(S, y, w, keep)``
    (``keep`` None: all rows)."""
    S, u, w, seen = chunk
    y = u[:, net.cont_pos[i]]
    wt = torch.ones_like(y) if w is None else w[:, i].to(y)
    if seen is None:
        return S, y, wt, None
    keep = seen[:, i]
    return S[keep], y[keep], wt[keep], keep


def _moments(net, designs: dict, chunks, weighted: bool = True, plain: bool = False):
    """The (weighted) sums of least squares of every design in ``designs`` ({node, or
    (node, anything): a design of that node}) in ONE pass over the chunks: ``{key: (gram,
    rhs, yy, sw, rows)}`` (``weighted=False``: every row weighs 1). ``plain``: also the
    unweighted sums, from the same pass: ``(weighted, unweighted)``."""
    kinds = (weighted, False) if plain else (weighted,)
    acc = [{i: [torch.zeros(d.size, d.size, dtype=torch.float64),
                torch.zeros(d.size, dtype=torch.float64), 0.0, 0.0, 0]
            for i, d in designs.items()} for _ in kinds]
    for chunk in chunks:
        unit = chunk[2] is None            # (no node weights: the two sums are one)
        for key, design in designs.items():
            i = key[0] if isinstance(key, tuple) else key
            S, y, w, _ = _node_rows(net, i, chunk)
            A = design(S)
            yc = y.double().cpu()
            done = None
            for by_weight, sums in zip(kinds, acc):
                if done is None or not unit:
                    wc = w.double().cpu() if by_weight else torch.ones_like(yc)
                    Aw = A * wc.unsqueeze(1)
                    done = (Aw.T @ A, Aw.T @ yc, float((wc * yc * yc).sum()),
                            float(wc.sum()))
                m = sums[key]
                m[0] += done[0]
                m[1] += done[1]
                m[2] += done[2]
                m[3] += done[3]
                m[4] += yc.shape[0]
    out = [{i: tuple(m) for i, m in sums.items()} for sums in acc]
    return tuple(out) if plain else out[0]


def _solve(moments, index):
    """``(beta, residual variance)`` of the least squares on the design columns ``index``
    (the full design's coefficient vector, zero elsewhere); a vanishing ridge makes
    collinear columns (a one-hot block beside the intercept) solvable."""
    gram, rhs, yy, sw, _ = moments
    G, b = gram[index][:, index], rhs[index]
    ridge = 1e-9 * float(torch.diagonal(G).mean()) + 1e-12
    coef = torch.linalg.solve(G + ridge * torch.eye(len(index), dtype=G.dtype), b)
    rss = yy - 2.0 * float(coef @ b) + float(coef @ G @ coef)
    beta = torch.zeros(gram.shape[0], dtype=torch.float64)
    beta[index] = coef
    return beta, max(rss / sw, MIN_SCALE ** 2)


def _gaussian_nll(r: torch.Tensor, var: float) -> torch.Tensor:
    return 0.5 * r * r / var + 0.5 * math.log(var) + _HALF_LOG_2PI


def _network_outputs(net, S: torch.Tensor, nodes):
    """The network's outputs of ``nodes`` on the state rows ``S``, in chunks of at most
    :data:`_ACTIVATIONS` activations: ``(rows slice, (chunk, len(nodes), n_out))``."""
    at = torch.tensor(nodes, dtype=torch.long, device=S.device)
    chunk = max(1, _ACTIVATIONS // max(net.n * net.hidden, 1))
    for a in range(0, S.shape[0], chunk):
        yield slice(a, a + chunk), net.g(S[a:a + chunk], net.G, net.input_index())[:, at]


def _network_nll(net, S: torch.Tensor, u: torch.Tensor, nodes) -> torch.Tensor:
    """The NLL of each of ``nodes``' values under the fitted network, per row (rows,
    len(nodes)) float64 on the CPU, through the decoder's change of variables."""
    ks = torch.tensor([net.cont_pos[i] for i in nodes], dtype=torch.long, device=S.device)
    parts = []
    for rows, out in _network_outputs(net, S, nodes):
        z = net.decoder.inverse(u[rows])
        log_det = torch.log(net.decoder.derivative(z))[:, ks]
        s = F.softplus(out[..., 1]) + 1e-3
        eps = (z[:, ks] - out[..., 0]) / s
        parts.append((0.5 * eps * eps + torch.log(s) + log_det).double().cpu()
                     + _HALF_LOG_2PI)
    return torch.cat(parts)


def _write(net, i: int, design, beta: torch.Tensor, var: float) -> None:
    """Node ``i``'s simple mechanism (a :class:`_Design`'s or a :class:`_ModifiedDesign`'s
    coefficients) into the network; its decoder column the identity."""
    weight, intercept, modifier = design.weights(beta, net.n_out, net.width)
    bias = torch.zeros(net.n_out)
    bias[0] = intercept
    bias[1] = math.log(math.expm1(math.sqrt(var) - 1e-3))   # the inverse of scale()
    net.g.set_linear(i, weight, bias, **modifier)
    k = net.cont_pos[i]
    dec = net.decoder
    dec.a[k] = 0.0
    dec.b[k] = 0.0
    dec.c[k] = _OFF


def _bic_kind(moments, design, modified=None) -> tuple:
    """``(kind, modifier key)``: ``"linear"``, ``"additive"`` or ``"interaction"`` (with
    the key of its moments in ``modified``, {key: moments}) by BIC on the training rows
    (their Gaussian log-likelihood, ``log(n) / 2`` per coefficient): between nested
    least-squares fits the held-out difference is too small to rank them, the penalty is
    not. ``moments`` are the unweighted sums: BIC is a likelihood's, and the parent
    balance's weights would inflate the gain of a term that lives in a rare cell (by about
    the cell's weight: a modifier that is only noise was kept in 2 of 3 data sets).

    Each candidate is scored against the linear fit *of the same pass* (the interaction
    designs' first columns are the linear design): a lattice column's dequantization
    noise is drawn afresh in every pass over the rows, and a BIC compared across passes
    would rank those draws (they move the residual variance by about 1e-3 of the
    node's, a 4-nats "gain" on 4,000 rows)."""
    n = moments[4]

    def bic(mom, index):
        return 0.5 * n * math.log(_solve(mom, index)[1]) + 0.5 * math.log(n) * len(index)
    linear = design.linear
    gain = {("linear", None): 0.0}
    if design.has_spline:
        gain[("additive", None)] = (bic(moments, torch.arange(design.size))
                                    - bic(moments, linear))
    for key, mom in (modified or {}).items():
        gain[("interaction", key)] = (bic(mom, torch.arange(mom[0].shape[0]))
                                      - bic(mom, torch.arange(linear.numel())))
    return min(gain, key=gain.get)


def _choose(nll: dict, simple: str) -> tuple[str, dict]:
    """``simple`` unless the network's mean validation NLL is lower by more than
    :data:`NETWORK_Z` standard errors of the paired row differences; else ``"network"``.
    ``nll``: {kind: per-row weighted NLL}. Returns the kind and each candidate's mean NLL
    and difference to the network, with its standard error."""
    stats = {}
    for k, v in nll.items():
        d = v - nll["network"]
        stats[k] = {"nll": float(v.mean()), "delta": float(d.mean()),
                    "se": float(d.std() / math.sqrt(d.shape[0])) if d.shape[0] > 1 else 0.0}
    keep = stats[simple]["delta"] <= NETWORK_Z * stats[simple]["se"]
    return (simple if keep else "network"), stats


# ============================================================== atom probabilities
def _atom_rows(net, i, chunk, design):
    """Node ``i``'s rows of a chunk with its value observed, for the atom probabilities:
    ``(X, cls, w, keep)``: the linear design (float64, CPU), the class (0: the continuous
    part, k: atom k), the weights and the kept rows (None: all)."""
    S, y, w, keep = _node_rows(net, i, chunk)
    X = design.linear_design(S)
    cls = (net.atom_index(i, y) + 1).cpu()
    return X, cls, w.double().cpu(), keep


def _log_probs_of_logits(eta: torch.Tensor) -> torch.Tensor:
    """``(rows, K + 1)`` log-probabilities of the classes from the atoms' logits ``eta``
    (rows, K): ``log softmax([0, eta])``, the continuous part the reference class."""
    return torch.log_softmax(torch.cat([eta.new_zeros(eta.shape[0], 1), eta], 1), 1)


def _class_log_probs(X: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The classes' log-probabilities under the logistic regression ``beta``."""
    return _log_probs_of_logits(X @ beta)


def _logistic(net, i, chunks, design, K: int, weighted: bool = True) -> torch.Tensor:
    """The multinomial logistic regression of node ``i``'s class (continuous part or atom
    ``k``) on its linear design, by Newton's method over the chunks (``chunks()`` gives a
    fresh pass), the slopes ridged by :data:`ATOM_RIDGE`. Returns ``beta`` (p, K)."""
    p = design.linear.numel()
    beta = torch.zeros(p, K, dtype=torch.float64)
    ridge = torch.full((p,), ATOM_RIDGE, dtype=torch.float64)
    ridge[-1] = 0.0                                       # (the intercept is free)
    ridge = ridge.repeat(K)
    last = math.inf
    for _ in range(_NEWTON_STEPS):
        grad = torch.zeros(K, p, dtype=torch.float64)
        hess = torch.zeros(K, p, K, p, dtype=torch.float64)
        obj = 0.0
        for chunk in chunks():
            X, cls, w, _ = _atom_rows(net, i, chunk, design)
            if not weighted:
                w = torch.ones_like(w)
            logp = _class_log_probs(X, beta)
            P = torch.exp(logp[:, 1:])
            Y = F.one_hot(cls, K + 1)[:, 1:].double()
            grad += ((P - Y) * w.unsqueeze(1)).T @ X
            for a in range(K):
                for b in range(a, K):
                    c = w * P[:, a] * (float(a == b) - P[:, b])
                    hess[a, :, b] += (X * c.unsqueeze(1)).T @ X
            obj -= float((w * logp.gather(1, cls.unsqueeze(1)).squeeze(1)).sum())
        for a in range(K):                       # the symmetric blocks below the diagonal
            for b in range(a + 1, K):
                hess[b, :, a] = hess[a, :, b].T
        flat = beta.T.reshape(-1)
        obj += 0.5 * float((ridge * flat * flat).sum())
        g = grad.reshape(-1) + ridge * flat
        H = hess.reshape(K * p, K * p) + torch.diag(ridge)
        jitter = 1e-9 * float(torch.diagonal(H).abs().mean()) + 1e-12
        H = H + jitter * torch.eye(K * p, dtype=H.dtype)
        step = torch.linalg.solve(H, g)
        scale = min(1.0, 5.0 / max(float(step.abs().max()), 1e-300))   # damped far out
        beta = beta - scale * step.reshape(K, p).T
        if abs(last - obj) <= 1e-10 * max(abs(obj), 1.0) and float(step.abs().max()) < 1e-6:
            break
        last = obj
    return beta


def _network_class_nll(net, S: torch.Tensor, u: torch.Tensor, nodes) -> torch.Tensor:
    """The network's ``-log P(class)`` of each of ``nodes``' values per row (rows,
    len(nodes)) float64 on the CPU (missing values: any number, dropped later)."""
    parts = []
    for rows, out in _network_outputs(net, S, nodes):
        cols = []
        for k, i in enumerate(nodes):
            K = int(net.atom[net.cont_pos[i], 0])
            logp = _log_probs_of_logits(out[:, k, 2:2 + K].double().cpu())
            cls = (net.atom_index(i, u[rows, net.cont_pos[i]]) + 1).cpu()
            cols.append(-logp.gather(1, cls.unsqueeze(1)).squeeze(1))
        parts.append(torch.stack(cols, 1))
    return torch.cat(parts)


def _write_atoms(net, i: int, design: _Design, beta: torch.Tensor) -> None:
    """Node ``i``'s atom probabilities from the logistic regression ``beta`` (p, K); its
    location, scale and decoder stay the network's."""
    K = beta.shape[1]
    p = design.cols.numel()
    weight = torch.zeros(net.width * (1 + net.g.BASIS), net.n_out)
    weight[design.rows[:p], 2:2 + K] = beta[:-1].float()
    bias = torch.zeros(net.n_out)
    bias[2:2 + K] = beta[-1].float()
    net.g.set_linear(i, weight, bias,
                     mlp_columns=[c for c in range(net.n_out) if not 2 <= c < 2 + K])


def _select_atoms(net, mode, train, valid, forced) -> dict:
    """The atom probabilities of every node in :func:`atom_nodes`: the logistic
    regression unless the network's validation NLL of the classes is lower by more than
    :data:`NETWORK_Z` standard errors (``mode`` ``"auto"``), always (``"linear"``,
    ``"additive"``) or never (``"network"``, or the node forced to ``"network"``)."""
    nodes = [i for i in atom_nodes(net) if mode != "network" and forced.get(i) != "network"]
    S_va = valid[0]
    compare = nodes if mode == "auto" and S_va.shape[0] >= 2 else []
    mlp = _network_class_nll(net, S_va, valid[1], compare) if compare else None
    report = {}
    for i in nodes:
        design = _Design(net, _parent_columns(net, i))
        K = int(net.atom[net.cont_pos[i], 0])
        entry = {}
        kind = "logistic"
        if mode == "auto":
            X, cls, w, keep = _atom_rows(net, i, valid, design)
            if cls.shape[0] < 2:
                continue
            beta = _logistic(net, i, train, design, K)
            net_nll = mlp[:, compare.index(i)]
            nll = {"network": w * (net_nll if keep is None else net_nll[keep.cpu()]),
                   "logistic": w * -_class_log_probs(X, beta).gather(
                       1, cls.unsqueeze(1)).squeeze(1)}
            kind, entry["candidates"] = _choose(nll, "logistic")
        if kind == "logistic":          # refit on every row, unweighted
            _write_atoms(net, i, design, _logistic(
                net, i, lambda: itertools.chain(train(), [valid]), design, K,
                weighted=False))
        entry["kind"] = kind
        report[i] = entry
    return report


@torch.no_grad()
def select_simple(net, mode, train, valid, forced=None) -> dict:
    """Choose each eligible node's mechanism and write the simple ones into ``net``.

    ``mode``: ``"auto"`` (by validation) or one of :data:`KINDS` for every eligible node;
    ``forced``: ``{node index: kind}`` whatever the validation says. ``train``: a callable
    giving the training rows' chunks (:func:`row_chunks`); ``valid``: the validation rows as
    one chunk ``(S, u, w, seen)`` (``u`` dequantized as the fit's validation saw it).
    Returns ``{node: {"kind": the mechanism kept, "candidates": {kind: {"nll", "delta",
    "se"}}}}`` for the nodes considered (validation statistics only where compared; a node
    with fewer rows than its design's columns keeps its network), with ``"modifier"`` (the
    binary parent's node index) where the interaction mechanism is kept."""
    clear_simple(net)
    forced = dict(forced or {})
    nodes = [i for i in eligible_nodes(net)
             if (mode != "network" or i in forced) and forced.get(i) != "network"]
    if not nodes and (mode == "network" or not atom_nodes(net)):
        return {}
    _set_knots(net, train)
    S_va = valid[0]
    compare = [i for i in nodes if mode == "auto" and i not in forced]
    mlp = _network_nll(net, S_va, valid[1], compare) \
        if compare and S_va.shape[0] >= 2 else None
    designs = {i: _Design(net, _parent_columns(net, i)) for i in nodes}
    # one pass for every node: the weighted sums (the fits compared with the network on
    # the weighted validation rows) and the unweighted ones (BIC)
    moments, plain = _moments(net, designs, train(), plain=True)
    # the interaction candidates (nodes with a binary parent): one more pass
    modified = {(i, k): _ModifiedDesign(designs[i], k) for i in nodes
                if forced.get(i, mode) in ("auto", "interaction")
                for k in _modifiers(net, designs[i], plain[i])}
    modified_moments, modified_plain = (_moments(net, modified, train(), plain=True)
                                        if modified else ({}, {}))
    report, kept = {}, {}
    for i in nodes:
        design, mom = designs[i], moments[i]
        if mom[4] < design.size + 2 or mom[3] <= 0:
            continue
        mine = [key for key, m in modified_moments.items()
                if key[0] == i and m[4] >= modified[key].size + 2]
        kind = forced.get(i, mode)
        entry = {}
        chosen = design
        Sv, yv, wv, keep = _node_rows(net, i, valid)
        if kind == "auto":
            kind = "network"
            if mlp is not None and yv.shape[0] >= 2:
                A = design(Sv)
                y, w = yv.double().cpu(), wv.double().cpu()
                net_nll = mlp[:, compare.index(i)]
                nll = {"network": w * (net_nll if keep is None else net_nll[keep.cpu()])}
                for k, index in (("linear", design.linear),
                                 ("additive", torch.arange(design.size))):
                    if k == "additive" and not design.has_spline:
                        continue
                    beta, var = _solve(mom, index)
                    nll[k] = w * _gaussian_nll(y - A @ beta, var)
                simple, key = _bic_kind(plain[i], design,
                                        {k: modified_plain[k] for k in mine})
                if key is not None:
                    m = modified_moments[key]
                    beta, var = _solve(m, torch.arange(m[0].shape[0]))
                    nll["interaction"] = w * _gaussian_nll(y - modified[key](Sv) @ beta, var)
                kind, entry["candidates"] = _choose(nll, simple)
                if kind == "interaction":
                    chosen = modified[key]
                    entry["modifier"] = int(net.block_of_column[chosen.modifier])
        elif kind == "interaction":
            if mine:                 # the modifier whose fit leaves the least variance
                key = min(mine, key=lambda k: _solve(
                    modified_plain[k], torch.arange(modified[k].size))[1])
                chosen = modified[key]
                entry["modifier"] = int(net.block_of_column[chosen.modifier])
            else:
                kind = "linear"      # (no binary parent: no modifier)
        if kind == "additive" and not design.has_spline:
            kind = "linear"          # (no continuous parent: the two are the same)
        if kind != "network":
            kept[i] = (kind, chosen)
        entry["kind"] = kind
        report[i] = entry
    # the kept simple mechanisms refitted on every row (one more pass), into the network
    full = _moments(net, {i: chosen for i, (_, chosen) in kept.items()},
                    itertools.chain(train(), [valid]), weighted=False) if kept else {}
    for i, (kind, chosen) in kept.items():
        index = chosen.linear if kind == "linear" else torch.arange(chosen.size)
        _write(net, i, chosen, *_solve(full[i], index))
    for i, entry in _select_atoms(net, mode, train, valid, forced).items():
        report[i] = {"kind": "network", "atoms": entry}
    return report
