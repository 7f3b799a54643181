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
  models give every unit the same effect). A continuous column that one of the two values
  barely moves keeps one slope for both (:data:`SPAN_FRACTION`). The modifier is the
  binary parent whose fit leaves the least residual variance among the
  :data:`MAX_MODIFIERS` with the largest linear slopes;
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
not a formula node. Integer and lattice columns are compared on their dequantized values,
as the fit trains them. A many-level categorical parent (read by the network through
lookup tables) enters every simple design as its levels' indicators, written into the
net as one row per level (``GatedNodeMLP.linear_tab``); no "interaction" beside one.
Under ``"auto"`` a node with such a parent keeps the network unless it is named (or a
kind is given for every node): offered the choice on Adult, an undertrained fit (3,000
rows, 10 epochs) took simple mechanisms whose abducted noise kept more of the protected
attribute, and the fair-world classifier's demographic parity rose past the bound of
``tests/test_fairness_experiment.py``; a flexible mechanism absorbs a parent's effect on
the noise's shape that a linear one leaves in its residuals.

A binary or categorical endogenous node (not a many-level one) keeps the network unless
the user names it ``"linear"``: then its level is a (multinomial) logistic regression on
the linear design (:func:`_select_classes`).

A node with point masses (:mod:`dowhy_ccgm.nn._atoms`) is offered the same candidates for
its continuous part ``dec(loc + s e)``, ``e`` truncated to the part's bounds (a floor, a
cap): the location and scale, in the latent units of the fitted network's decoder (which it
keeps), are fitted on the rows off its point masses, by least squares for BIC's choice of
the kind and then by the truncated normal's maximum likelihood (:func:`_truncated_fit`:
least squares ignores the truncation, and a cap's top-coded values lie right below it); the
network's and the simple part's likelihoods of those validation rows (share, truncation and
density) are compared by the same rule. A rare cell of 15 rows off the point masses is where
it matters (DoWhy's online shop: the prices of 15 sale days below a list price most days
sit at). Its atom probabilities are offered a multinomial logistic regression
of the row's class (the continuous part, or atom ``k``) on the linear design, fitted by
Newton's method with the slopes ridged by :data:`ATOM_RIDGE` (a parent cell whose rows
never sit at an atom keeps a small, finite probability there), and compared with the
network's atom probabilities on the validation rows by the same rule (the two
log-likelihoods of the class are the only terms that differ). A kept one is refitted on
all rows, unweighted, and written into the node's atom logits
(``GatedNodeMLP.set_linear(..., mlp_columns=...)``, beside a simple continuous part where
one is kept). A rare parent cell is where it matters: the network's atom logit in a cell of
15 rows can stay where the other cells put it.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from .nn._atoms import NO_BOUND, atom_nll, log_ndtr_diff

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
#: the continuous part of a node with point masses keeps the network unless the simple
#: part's validation NLL is significantly lower, or fewer than this many held-out rows
#: lie off its point masses (they cannot check a network fitted to so few)
PART_MIN_ROWS = 20
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
#: an "interaction" mechanism gives a continuous column a slope of its own in each of the
#: modifier's two levels only where, within each level, the column's sd is at least this
#: fraction of its within-level sd pooled over the two levels; elsewhere the levels share
#: its slope. A level in which the column barely moves (DoWhy's online shop: on ordinary
#: days the price varies within $20 of its list price, on sale days by $200) gives a slope
#: fitted on a sliver of the column's range, which an intervention or a shifted parent
#: then extrapolates (there: 8,500 units sold at a $900 ordinary-day price, the
#: generator's truth 2,600)
SPAN_FRACTION = 0.25
#: rows per chunk of the least-squares sums (their float64 features and temporaries stay
#: a few MB: the fit's memory is the data's)
_CHUNK = 16_384
#: activations per chunk of the network's validation pass (rows x nodes x hidden)
_ACTIVATIONS = 1 << 19
#: Newton steps of the truncated fit of an atom node's continuous part at most
_TRUNCATED_STEPS = 30
#: False: a simple part keeps its least-squares fit (the truncation ignored; for comparison)
TRUNCATED_FIT = True
#: the atom probabilities' logistic regression: the ridge on its slopes (a N(0, 100)
#: prior on a slope per sd of a parent: a cell whose rows never sit at an atom keeps a
#: finite, small probability there), and its Newton steps at most
ATOM_RIDGE = 0.01
#: the logistic regressions' ridge on the level indicators of a many-level categorical
#: parent: a N(0, 1) prior on each level's shift of the log-odds, so a level seen in a
#: handful of rows is pulled towards the others (partial pooling) rather than given the
#: near-certain odds of its few rows
INDICATOR_RIDGE = 1.0
#: a compared (not kept) logistic regression stops when a Newton step gains less than
#: this many nats per unit of weight
ROUGH_GAIN = 1e-6
_NEWTON_STEPS = 50
#: a logistic regression's design rows are kept in memory across Newton's steps up to
#: this many bytes (beyond: read again in every step)
_KEPT_BYTES = 64 << 20
#: the network's shares of a discrete node's logits tried in its blend with a logistic
#: regression's (:func:`_select_classes`; 1, the network alone, is the baseline)
BLEND_GRID = tuple(k / 20 for k in range(1, 20))


def _own_noise_nodes(net) -> list:
    """The continuous endogenous nodes with a normal noise of their own, not formulas:
    those a simple model may serve (wholly, or their atom probabilities only)."""
    if net.variant != "ccgm_noise" or net.objective != "exact":
        return []
    return [i for i in net.cont if net.noise_kind(i) == "normal" and i not in net.formulas]


def eligible_nodes(net) -> list:
    """The nodes that may take a simple mechanism (see the module's docstring; a node with
    point masses: for its continuous part)."""
    return _own_noise_nodes(net)


def discrete_nodes(net) -> list:
    """The binary and categorical nodes with a mechanism that may be a (multinomial)
    logistic regression on their parents when a user asks for it
    (``mechanisms={node: "linear"}``): endogenous, not a many-level categorical node
    (its logits come through a low-rank head), the exact likelihood of
    ``variant="ccgm_noise"``."""
    if net.variant != "ccgm_noise" or net.objective != "exact":
        return []
    return [i for i in net.disc if not net.exogenous[i] and i not in net.wide]


def ineligible_reason(net, i: int, kind: str = "linear") -> str | None:
    """Why node ``i`` cannot take the simple mechanism ``kind`` (None: it can)."""
    discrete = net.kinds[i] != "continuous"
    if i in eligible_nodes(net) or (discrete and kind == "linear"
                                    and i in discrete_nodes(net)):
        return None
    if discrete and kind != "linear":
        return ("it is discrete: its simple mechanism is 'linear' (a logistic regression "
                "on its parents)")
    if net.exogenous[i]:
        return "it is a root (exogenous: its value is its own latent)"
    if net.variant != "ccgm_noise" or net.objective != "exact":
        return "variant='ccgm_noise' and objective='exact' are needed"
    if discrete:
        return ("it is a many-level categorical node (its logits come through a low-rank "
                "head)")
    if i in net.formulas:
        return "it is an exact formula of its parents"
    return "it has no normal noise of its own"


def mechanism_kinds(net) -> dict:
    """``{node index: kind}`` of every node with a mechanism (not a root): ``"linear"``,
    ``"additive"``, ``"interaction"``, ``"network"``, ``"blend"`` (a discrete node's
    network blended with a logistic regression) or ``"formula"``."""
    out = {}
    width = net.width
    for i in range(net.n):
        if net.exogenous[i] and net.variant != "causalvae":
            continue
        if i in net.formulas:
            out[i] = "formula"
        elif i in net.g.blended:
            out[i] = "blend"
        elif net.g.linear_output(i):
            spline = net.g.linear_w[i, width:]
            out[i] = ("interaction" if int(net.g.linear_mod[i]) >= 0 else
                      "additive" if bool(spline.abs().sum() > 0) else "linear")
        else:
            out[i] = "network"
    return out


def atom_nodes(net) -> list:
    """The nodes with point masses whose atom probabilities may be a logistic regression
    on their parents (those of :func:`eligible_nodes` with point masses)."""
    return [i for i in _own_noise_nodes(net) if net.atoms[i]]


def atom_kinds(net) -> dict:
    """``{node index: "logistic" or "network"}``: how each endogenous node with point
    masses gives its atom probabilities."""
    return {i: "logistic" if i in net.g.linear_nodes and not bool(net.g.linear_mlp[i, 2] > 0)
            else "network" for i in net.cont if net.atoms[i] and not net.exogenous[i]
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
    zero (a parent with a zero gate is not read by the network either), lookup columns
    (many-level categorical parents) aside."""
    gate = net.G.detach()[net.g.block_index, i] * net.g.dense_col
    return torch.nonzero(gate).flatten().cpu()


def _blank_map(net) -> tuple:
    """Zero ``(weight, bias, table)`` of :meth:`GatedNodeMLP.set_linear` for one node."""
    g = net.g
    return (torch.zeros(net.width * (1 + g.BASIS), net.n_out), torch.zeros(net.n_out),
            torch.zeros(g.linear_tab.shape[1:]))


def _auto_keeps_network(net, i: int, mode, forced) -> bool:
    """Under ``"auto"`` a node with a many-level categorical parent keeps its network
    unless ``forced`` names it (see the module's docstring)."""
    return mode == "auto" and i not in forced and bool(_wide_parents(net, i))


def _wide_parents(net, i: int) -> list:
    """Node ``i``'s many-level categorical parents read through lookup tables:
    ``[(state column, first row in linear_tab, levels)]``."""
    g = net.g
    gate = net.G.detach()[g.block_index, i].cpu()
    return [(c, r, K) for c, r, K in zip(g.lookup_cols, g.lookup_rows, g.lookup_levels)
            if float(gate[c]) != 0.0]


class _Design:
    """Node ``i``'s additive design: its parents' state columns ``cols``, the indicators
    of the levels of its many-level categorical parents (``wide``), the spline terms of
    the continuous columns, an intercept; ``linear`` indexes the columns of the linear
    candidate, and :meth:`weights` maps coefficients to the rows of ``linear_w`` (the
    indicators' to the rows of ``linear_tab``)."""

    def __init__(self, net, i: int):
        cols = _parent_columns(net, i)
        self.net, self.g, self.cols, self.wide = net, net.g, cols, _wide_parents(net, i)
        used = net.g.linear_basis.cpu()[cols] > 0                        # (P, B)
        p = cols.numel()
        self.q = sum(K for _, _, K in self.wide)
        self.terms = torch.nonzero(used.flatten()).flatten()             # into (P * B)
        self.size = p + self.q + self.terms.numel() + 1
        self.linear = torch.cat([torch.arange(p + self.q), torch.tensor([self.size - 1])])
        values, terms = net.g.feature_rows(cols)
        self.rows = torch.cat([values, terms[self.terms]])
        # the positions (in the coefficients without the intercept) of the columns that go
        # to linear_w's rows ``rows``, and of the indicators, which go to linear_tab's
        # rows ``levels``
        self.dense = torch.cat([torch.arange(p), torch.arange(p + self.q, self.size - 1)])
        self.levels = torch.cat([torch.arange(r, r + K) for _, r, K in self.wide]) \
            if self.wide else torch.zeros(0, dtype=torch.long)
        # the linear design's column blocks that hold a categorical parent's indicators
        # (its one-hot state block, or a many-level parent's levels)
        node_of = net.block_of_column.cpu()[cols].tolist()
        self.blocks, start = [], p
        for j in sorted(set(node_of)):
            if net.kinds[j] == "categorical":
                self.blocks.append(torch.tensor([k for k, b in enumerate(node_of) if b == j]))
        for _, _, K in self.wide:
            self.blocks.append(torch.arange(start, start + K))
            start += K

    @property
    def has_spline(self) -> bool:
        return bool(self.terms.numel())

    def _indicators(self, S: torch.Tensor) -> torch.Tensor:
        """The many-level categorical parents' level indicators (rows, q)."""
        return torch.cat([F.one_hot(S[:, c].round().long().clamp(0, K - 1), K)
                          for c, _, K in self.wide], 1).double().cpu() if self.wide else \
            torch.zeros(S.shape[0], 0, dtype=torch.float64)

    def __call__(self, S: torch.Tensor) -> torch.Tensor:
        """The design of state rows ``S`` (float64, CPU)."""
        cols = self.cols.to(S.device)
        feats = self.g.linear_features(S[:, cols].double(), cols).cpu()
        p = self.cols.numel()
        x = feats[:, :p]
        spline = feats[:, p:][:, self.terms]
        return torch.cat([x, self._indicators(S), spline,
                          torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)

    def linear_design(self, S: torch.Tensor) -> torch.Tensor:
        """The linear candidate's columns of :meth:`__call__` (the parents' state values,
        the indicators and the intercept), without computing the spline terms."""
        x = S[:, self.cols.to(S.device)].double().cpu()
        return torch.cat([x, self._indicators(S), torch.ones(x.shape[0], 1, dtype=x.dtype)],
                         1)

    def place(self, beta: torch.Tensor, weight: torch.Tensor, table: torch.Tensor,
              out_cols) -> torch.Tensor:
        """Write the coefficients ``beta`` (size or linear columns, c) of the full or the
        linear design into the output columns ``out_cols`` (c of them) of ``weight``
        (``linear_w``'s rows) and ``table`` (``linear_tab``'s); returns the intercepts
        (c,)."""
        body = beta[:-1]
        if body.shape[0] == self.size - 1:                 # the full design's
            dense, ind = body[self.dense], body[self.cols.numel():self.cols.numel() + self.q]
            rows = self.rows
        else:                                              # the linear design's
            p = self.cols.numel()
            dense, ind, rows = body[:p], body[p:], self.rows[:p]
        weight[rows.unsqueeze(1), out_cols] = dense.float()
        table[self.levels.unsqueeze(1), out_cols] = ind.float()
        return beta[-1]

    def weights(self, beta: torch.Tensor):
        """``(weight, intercept, other keyword arguments)`` of
        :meth:`GatedNodeMLP.set_linear` from the full design's coefficients."""
        weight, _, table = _blank_map(self.net)
        intercept = self.place(beta.unsqueeze(1), weight, table, torch.tensor([0]))
        return weight, float(intercept[0]), {"table": table}


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
        #: the design columns fitted (see :meth:`restrict`)
        self.index = torch.arange(self.size)

    def restrict(self, moments) -> None:
        """Fit a level-specific slope only for the continuous columns that vary within
        both levels of the modifier (a binary or categorical parent's indicator is read at
        its two values only, which its slope's rows hold): each level's variance of the
        column at least :data:`SPAN_FRACTION` squared times its within-level variance
        pooled over the two levels. From the design's unweighted sums: with ``m = +-0.5``
        the modifier's state, a level's rows and sums of ``x`` and ``x^2`` are ``n / 2 +-
        sum(m)``, ``sum(x) / 2 +- sum(m x)`` and ``sum(x^2) / 2 +- sum(m x^2)``, all in
        the gram."""
        gram, n = moments[0], float(moments[4])
        p, k = self.base.cols.numel(), self.k
        net = self.base.net
        node_of = net.block_of_column.cpu()[self.base.cols].tolist()
        keep = []
        for j, c in enumerate(self.others.tolist()):
            if net.kinds[int(node_of[c])] != "continuous":
                keep.append(p + 1 + j)    # (0/1 values: a level's slope is not extrapolated)
                continue
            sx, sxx = gram[c, p], gram[c, c]
            smx, smxx = gram[c, k], gram[c, p + 1 + j]
            levels = []
            for sign in (1.0, -1.0):
                rows = float(n / 2 + sign * gram[k, p])
                if rows < 2:
                    break
                mean = (sx / 2 + sign * smx) / rows
                levels.append((rows, float((sxx / 2 + sign * smxx) / rows - mean ** 2)))
            if len(levels) < 2:
                continue
            pooled = sum(rows * var for rows, var in levels) / n
            if all(var >= SPAN_FRACTION ** 2 * pooled for _, var in levels) and pooled > 0:
                keep.append(p + 1 + j)
        self.index = torch.cat([torch.arange(p + 1), torch.tensor(keep, dtype=torch.long)])

    def __call__(self, S: torch.Tensor) -> torch.Tensor:
        X = self.base.linear_design(S)
        return torch.cat([X, X[:, self.k:self.k + 1] * X[:, self.others]], 1)

    def weights(self, beta: torch.Tensor):
        """``(weight, intercept, {modifier, modifier_weight})`` of
        :meth:`GatedNodeMLP.set_linear`."""
        p = self.base.cols.numel()
        net = self.base.net
        weight = _blank_map(net)[0]
        weight[self.base.cols, 0] = beta[:p].float()
        wm = torch.zeros(net.width, net.n_out)
        wm[self.base.cols[self.others], 0] = beta[p + 1:].float()
        return weight, float(beta[p]), {"modifier": self.modifier, "modifier_weight": wm}


def _modifiers(net, design: _Design, moments) -> list:
    """The positions in ``design.cols`` of the binary parents to try as modifiers: at
    most :data:`MAX_MODIFIERS`, the largest linear slopes first."""
    node_of = net.block_of_column.cpu()
    binary = [k for k, c in enumerate(design.cols.tolist())
              if net.kinds[int(node_of[c])] == "binary"]
    if not binary or design.cols.numel() < 2 or design.wide:
        return []            # (no interaction beside a many-level categorical parent)
    beta = _solve(moments, design.linear)[0]
    return sorted(binary, key=lambda k: -abs(float(beta[k])))[:MAX_MODIFIERS]


def _all_rows(train, valid):
    """A fresh pass over the training chunks and then the validation chunk, per call (the
    refits of the kept simple models)."""
    return lambda: itertools.chain(train(), [valid])


def _node_rows(net, i, chunk, y=None):
    """Node ``i``'s rows of a chunk with its factor observed: ``(S, y, w, keep)``
    (``keep`` None: all rows); ``y`` the node's values (default: its continuous ones)."""
    S, u, w, seen = chunk
    if y is None:
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
    coefficients) into the network; its decoder column the identity. A node with point
    masses: its continuous part's location and scale only, in its decoder's latent units
    (the decoder and, until :func:`_write_atoms`, the atom probabilities stay the
    network's)."""
    weight, intercept, modifier = design.weights(beta)
    bias = torch.zeros(net.n_out)
    bias[0] = intercept
    x = math.sqrt(var) - 1e-3
    bias[1] = x + math.log(-math.expm1(-x))        # the inverse of scale(): softplus^-1
    if net.atoms[i]:
        net.g.set_linear(i, weight, bias, mlp_columns=range(2, net.n_out), **modifier)
        return
    net.g.set_linear(i, weight, bias, **modifier)
    k = net.cont_pos[i]
    dec = net.decoder
    dec.a[k] = 0.0
    dec.b[k] = 0.0
    dec.c[k] = _OFF


def _bic_kind(moments, design, modified=None) -> tuple:
    """``(kind, modifier key)``: ``"linear"``, ``"additive"`` or ``"interaction"`` (with
    the key of its moments in ``modified``, {key: (moments, the design's columns)}) by
    BIC on the training rows (their Gaussian log-likelihood, ``log(n) / 2`` per
    coefficient): between nested least-squares fits the held-out difference is too small
    to rank them, the penalty is not. ``moments`` are the unweighted sums: BIC is a
    likelihood's, and the parent balance's weights would inflate the gain of a term that
    lives in a rare cell (by about the cell's weight: a modifier that is only noise was
    kept in 2 of 3 data sets).

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
    for key, (mom, index) in (modified or {}).items():
        gain[("interaction", key)] = (bic(mom, index)
                                      - bic(mom, torch.arange(linear.numel())))
    return min(gain, key=gain.get)


def _choose(nll: dict, simple: str, part: bool = False) -> tuple[str, dict]:
    """``simple`` unless the network's mean validation NLL is lower by more than
    :data:`NETWORK_Z` standard errors of the paired row differences; else ``"network"``.
    ``part`` (the continuous part of a node with point masses): the network unless the
    simple one's is lower by that much, or fewer than :data:`PART_MIN_ROWS` rows compare
    them. ``nll``: {kind: per-row weighted NLL}. Returns the kind and each candidate's
    mean NLL and difference to the network, with its standard error."""
    stats = {}
    for k, v in nll.items():
        d = v - nll["network"]
        stats[k] = {"nll": float(v.mean()), "delta": float(d.mean()),
                    "se": float(d.std() / math.sqrt(d.shape[0])) if d.shape[0] > 1 else 0.0}
    delta, se = stats[simple]["delta"], stats[simple]["se"]
    if part:
        keep = delta < -NETWORK_Z * se or nll["network"].shape[0] < PART_MIN_ROWS
    else:
        keep = delta <= NETWORK_Z * se
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


def _class_rows(net, i, chunk, design):
    """A discrete node's rows of a chunk with its value observed, as :func:`_atom_rows`
    gives them: the linear design, the class (its code, 0 the reference), the weights and
    the kept rows."""
    block = chunk[0][:, net.block(i)]
    codes = (block[:, 0] > 0).float() if net.kinds[i] == "binary" else \
        block.argmax(1).float()                       # (float: the weights take its type)
    S, cls, w, keep = _node_rows(net, i, chunk, codes)
    return design.linear_design(S), cls.long().cpu(), w.double().cpu(), keep


def _log_probs_of_logits(eta: torch.Tensor) -> torch.Tensor:
    """``(rows, K + 1)`` log-probabilities of the classes from the atoms' logits ``eta``
    (rows, K): ``log softmax([0, eta])``, the continuous part the reference class."""
    return torch.log_softmax(torch.cat([eta.new_zeros(eta.shape[0], 1), eta], 1), 1)


def _class_nll(logp: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """``-log P(cls)`` per row from the classes' log-probabilities ``logp`` (rows, K)."""
    return -logp.gather(1, cls.unsqueeze(1)).squeeze(1)


def _class_log_probs(X: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The classes' log-probabilities under the logistic regression ``beta``."""
    return _log_probs_of_logits(X @ beta)


def _class_hessian(X: torch.Tensor, P: torch.Tensor, w: torch.Tensor, blocks) -> torch.Tensor:
    """The multinomial logistic likelihood's Hessian ``sum_n w_n (diag(P_n) - P_n P_n^T)
    (x) x_n x_n^T`` as (K, p, K, p), for the design rows ``X`` (n, p) and ``P`` (n, K) the
    non-reference classes' probabilities.

    ``blocks``: index tensors of columns of ``X`` that may be one-hot blocks (a
    categorical parent's indicators). Those that are (every row one 1, zeros elsewhere)
    are read as level codes: their products with each other are sums per pair of levels
    (diagonal within a block) and with a dense column sums of it per level, so only the
    dense columns pay the ``n p^2 K^2`` of a dense product (Adult's occupation, 13
    logits: 4 dense columns of 64)."""
    n, width = X.shape
    K = P.shape[1]
    C = w[:, None, None] * (torch.diag_embed(P) - P[:, :, None] * P[:, None, :])  # (n,K,K)
    groups, taken = [], torch.zeros(width, dtype=torch.bool)
    for idx in blocks:
        Xb = X[:, idx]
        if idx.numel() > 1 and bool(((Xb == 0) | (Xb == 1)).all()) \
                and bool((Xb.sum(1) == 1).all()):
            groups.append((idx, Xb.argmax(1), idx.numel()))
            taken[idx] = True
    dense = torch.nonzero(~taken).flatten()
    Xd = X[:, dense]
    pd = dense.numel()
    H = X.new_zeros(K, width, K, width)
    cross = dense.view(-1, 1), dense.view(1, -1)
    step = max(1, _ACTIVATIONS // max(K * pd, 1))      # (rows per slice: V stays small)
    for a in range(K):
        block = X.new_zeros(pd, K * pd)
        A = [X.new_zeros(L, K, pd) for _, _, L in groups]
        for r in range(0, n, step):
            V = C[r:r + step, a, :, None] * Xd[r:r + step, None, :]    # (rows, K, pd)
            block += Xd[r:r + step].T @ V.reshape(-1, K * pd)
            for (_, codes, _), acc in zip(groups, A):
                acc.index_add_(0, codes[r:r + step], V)
        H[a][cross[0], :, cross[1]] = block.view(pd, K, pd).permute(0, 2, 1)   # [j, j', b]
        for (idx, _, _), acc in zip(groups, A):          # acc: [level l, b, dense j]
            H[a][idx.view(-1, 1), :, cross[1]] = acc.permute(0, 2, 1)
            H[:, cross[0], a, idx.view(1, -1)] = acc.permute(1, 2, 0)
    for g, (idx, codes, L) in enumerate(groups):
        for h, (idx2, codes2, L2) in enumerate(groups[g:]):   # [l, m, a, b]
            E = X.new_zeros(L * L2, K, K).index_add_(0, codes * L2 + codes2, C)
            E = E.view(L, L2, K, K)
            if h == 0:                                 # (one block: diagonal in l, m)
                H[:, idx, :, idx] = torch.diagonal(E, dim1=0, dim2=1).permute(2, 0, 1)
            else:
                H[:, idx.view(-1, 1), :, idx2.view(1, -1)] = E
                H[:, idx2.view(-1, 1), :, idx.view(1, -1)] = E.permute(1, 0, 3, 2)
    return H


def _logistic(net, i, chunks, design, K: int, weighted: bool = True,
              rows=_atom_rows, init: torch.Tensor | None = None,
              rough: bool = False) -> torch.Tensor:
    """The multinomial logistic regression of node ``i``'s class (continuous part or atom
    ``k``; with ``rows=_class_rows`` a discrete node's level) on its linear design, by
    Newton's method over the chunks (``chunks()`` gives a fresh pass) from ``init`` (or
    the classes' log-odds, no slopes), the slopes ridged by :data:`ATOM_RIDGE`, a
    many-level parent's indicators by :data:`INDICATOR_RIDGE`. Returns ``beta`` (p, K),
    class 0 the reference. ``rough``: stop once a step gains less than
    :data:`ROUGH_GAIN` nats per unit of weight (a fit only compared on held-out rows:
    their mean NLL moves by less than that; the kept fit is refitted from it to
    convergence)."""
    p = design.linear.numel()
    if init is None:                    # (a quarter fewer Newton steps than from zeros)
        share = torch.full((K + 1,), 0.5, dtype=torch.float64)
        for chunk in chunks():
            _, cls, w, _ = rows(net, i, chunk, design)
            share += torch.bincount(cls, weights=w if weighted else None,
                                    minlength=K + 1).double()
        beta = torch.zeros(p, K, dtype=torch.float64)
        beta[-1] = torch.log(share[1:] / share[0])
    else:
        beta = init.clone()
    ridge = torch.full((p,), ATOM_RIDGE, dtype=torch.float64)
    dense = design.cols.numel()
    ridge[dense:dense + design.q] = INDICATOR_RIDGE
    ridge[-1] = 0.0                                       # (the intercept is free)
    ridge = ridge.repeat(K)
    last = math.inf
    for _ in range(_NEWTON_STEPS):
        grad = torch.zeros(K, p, dtype=torch.float64)
        hess = torch.zeros(K, p, K, p, dtype=torch.float64)
        obj = total = 0.0
        for chunk in chunks():
            X, cls, w, _ = rows(net, i, chunk, design)
            if not weighted:
                w = torch.ones_like(w)
            total += float(w.sum())
            logp = _class_log_probs(X, beta)
            P = torch.exp(logp[:, 1:])
            Y = F.one_hot(cls, K + 1)[:, 1:].double()
            grad += ((P - Y) * w.unsqueeze(1)).T @ X
            hess += _class_hessian(X, P, w, design.blocks)
            obj += float((w * _class_nll(logp, cls)).sum())
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
        if rough and last - obj <= ROUGH_GAIN * total:
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
            cols.append(_class_nll(logp, cls))
        parts.append(torch.stack(cols, 1))
    return torch.cat(parts)


def _write_atoms(net, i: int, design: _Design, beta: torch.Tensor) -> None:
    """Node ``i``'s atom probabilities from the logistic regression ``beta`` (p, K); its
    location, scale and decoder stay the network's."""
    K = beta.shape[1]
    g = net.g
    extra = {}
    if g.linear_output(i):          # (a simple continuous part: its map stays)
        weight, bias = g.linear_w[i].clone(), g.linear_b[i].clone()
        table = g.linear_tab[i].clone()
        if int(g.linear_mod[i]) >= 0:
            extra = {"modifier": int(g.linear_mod[i]),
                     "modifier_weight": g.linear_wm[i].clone()}
        mlp = [c for c in range(net.n_out) if bool(g.linear_mlp[i, c] > 0)]
    else:
        weight, bias, table = _blank_map(net)
        mlp = list(range(net.n_out))
    cols = torch.arange(2, 2 + K)
    bias[cols] = design.place(beta, weight, table, cols).float()
    g.set_linear(i, weight, bias, mlp_columns=[c for c in mlp if not 2 <= c < 2 + K],
                 table=table, **extra)


def _write_classes(net, i: int, design: _Design, beta: torch.Tensor,
                   blend: float = 0.0) -> None:
    """A discrete node's logits from the logistic regression ``beta`` (p, K - 1), level 0
    the reference (a binary node's one logit column; a categorical node's column 0 stays
    0); ``blend``: the network's share of the logits (0: the regression's alone)."""
    weight, bias, table = _blank_map(net)
    first = 0 if net.kinds[i] == "binary" else 1
    cols = torch.arange(first, first + beta.shape[1])
    bias[cols] = design.place(beta, weight, table, cols).float()
    net.g.set_linear(i, weight, bias, table=table, blend=blend)


def _network_logits(net, S: torch.Tensor, nodes) -> dict:
    """``{node: (rows, K) logits}`` of the discrete ``nodes`` under the network, float64
    on the CPU (a binary node's ``[0, logit]``)."""
    parts = {i: [] for i in nodes}
    for _, out in _network_outputs(net, S, nodes):
        for k, i in enumerate(nodes):
            parts[i].append(net.disc_logits(i, out[:, k]).double().cpu())
    return {i: torch.cat(v) for i, v in parts.items()}


def _blend_weight(net_logits: torch.Tensor, lr_logits: torch.Tensor, cls: torch.Tensor,
                  w: torch.Tensor) -> tuple:
    """``(a, nll_a, nll_network)``: the network's share ``a`` of the blended logits
    ``a * net + (1 - a) * lr`` (on :data:`BLEND_GRID`, or 1: the network alone) with the
    least weighted NLL of the classes ``cls`` (convex in ``a``: the logits are affine in
    it), the per-row weighted NLLs at ``a`` and of the network alone."""
    best = None
    for a in BLEND_GRID + (1.0,):
        logp = torch.log_softmax(torch.lerp(lr_logits, net_logits, a), 1)
        nll = w * _class_nll(logp, cls)
        if best is None or float(nll.sum()) < best[2]:
            best = (a, nll, float(nll.sum()))
    return best[0], best[1], nll                     # (the loop ends at a = 1)


def _kept(net, i, part, design):
    """The ``rows`` of :func:`_logistic` over parts already read (:func:`_kept_rows`)."""
    return part


def _kept_rows(net, i, chunks, design, rows=_class_rows) -> tuple:
    """``(chunks, rows, kept)`` for :func:`_logistic` reading node ``i``'s design rows
    once and keeping them for every Newton step, when they take at most
    :data:`_KEPT_BYTES` (else ``chunks`` and ``rows`` as given, each step reading the rows
    again, and ``kept`` None: else the parts, which a refit on every row reuses). Reading
    the rows (states, dequantization, design) was a fifth of the regressions' time on
    Adult."""
    kept, size = [], 0
    for chunk in chunks():
        part = rows(net, i, chunk, design)
        size += part[0].numel() * part[0].element_size()
        if size > _KEPT_BYTES:
            return chunks, rows, None
        kept.append(part)
    return (lambda: iter(kept)), _kept, kept


def _select_classes(net, mode, train, valid, forced) -> dict:
    """The binary and categorical nodes' class probabilities (:func:`discrete_nodes`).

    Named ``"linear"``: a logistic regression, fitted on every row, unweighted, and
    written in. Under ``"auto"`` (not named ``"network"``): the network's logits blended
    with those of the logistic regression on the same parents, ``a * network + (1 - a) *
    logistic``, the share ``a`` in :data:`BLEND_GRID` or 1 (the network alone) the one
    with the least validation NLL of the classes (weighted by the parent balance, as the
    network's early stopping is; the regression fitted on the training rows), a
    hyperparameter tuned on held-out rows as a ridge penalty would be; a kept blend's
    regression is refitted on every row, unweighted. The network fits each parent cell's
    class shares from that cell's few rows (sampling noise) and the regression misses
    interactions; the blend shrinks the first towards the second. Measured: UCI Adult's
    held-out likelihood, the model check's flags and the synthetic data's downstream
    AUROC (``benchmarks/bench_mechanisms.py``), and a simulated truth with rare levels and
    an interaction (``tests/test_simple.py``). (A test of the blend's validation gain
    against the network's, :data:`NETWORK_Z` standard errors, kept the network in 3 of
    3 such simulations where the blend was closer to the truth.) A pure logistic
    regression is not offered under ``"auto"``: on Adult it had the better held-out
    likelihood than the network but cost the synthetic data's downstream classifier 0.008
    AUROC, the interactions it drops.
    """
    report = {}
    every = _all_rows(train, valid)
    blend = [i for i in discrete_nodes(net)
             if mode == "auto" and i not in forced and valid[0].shape[0] >= 2]
    logits = _network_logits(net, valid[0], blend) if blend else {}
    for i in discrete_nodes(net):
        kind = forced.get(i, "auto" if i in blend else None)
        if kind not in ("linear", "auto"):
            continue
        design = _Design(net, i)
        K = 1 if net.kinds[i] == "binary" else net.n_categories[i] - 1
        a, beta, entry, refit = 0.0, None, {}, None
        if kind == "auto":
            part = _class_rows(net, i, valid, design)
            X, cls, w, keep = part
            if cls.shape[0] < 2:
                continue
            chunks, rows, kept = _kept_rows(net, i, train, design)
            beta = _logistic(net, i, chunks, design, K, weighted=False, rows=rows,
                             rough=True)
            lr = _log_probs_of_logits(X @ beta)
            mine = logits[i] if keep is None else logits[i][keep.cpu()]
            a, nll, base = _blend_weight(mine, lr, cls, w)
            entry = {"candidates": _choose({"network": base, "blend": nll}, "blend")[1],
                     "weight": a}
            kind = "blend" if a < 1.0 else "network"
            if kept is not None:    # (the refit on every row: the kept rows, then these)
                refit = (lambda: itertools.chain(iter(kept), [part])), _kept
        if kind != "network":      # (a blend's: from the training rows' fit, roughly)
            chunks, rows = refit or _kept_rows(net, i, every, design)[:2]
            _write_classes(net, i, design, _logistic(net, i, chunks, design, K,
                                                     weighted=False, rows=rows, init=beta,
                                                     rough=kind == "blend"), blend=a)
        report[i] = {**entry, "kind": kind}
    return report


def _select_atoms(net, mode, train, valid, forced) -> dict:
    """The atom probabilities of every node in :func:`atom_nodes`: the logistic
    regression unless the network's validation NLL of the classes is lower by more than
    :data:`NETWORK_Z` standard errors (``mode`` ``"auto"``), always (``"linear"``,
    ``"additive"``) or never (``"network"``, or the node forced to ``"network"``)."""
    nodes = [i for i in atom_nodes(net) if mode != "network" and forced.get(i) != "network"
             and not _auto_keeps_network(net, i, mode, forced)]
    S_va = valid[0]
    compare = nodes if mode == "auto" and S_va.shape[0] >= 2 else []
    mlp = _network_class_nll(net, S_va, valid[1], compare) if compare else None
    report = {}
    for i in nodes:
        design = _Design(net, i)
        K = int(net.atom[net.cont_pos[i], 0])
        entry, beta = {}, None
        kind = "logistic"
        if mode == "auto":
            X, cls, w, keep = _atom_rows(net, i, valid, design)
            if cls.shape[0] < 2:
                continue
            beta = _logistic(net, i, train, design, K, rough=True)
            net_nll = mlp[:, compare.index(i)]
            nll = {"network": w * (net_nll if keep is None else net_nll[keep.cpu()]),
                   "logistic": w * _class_nll(_class_log_probs(X, beta), cls)}
            kind, entry["candidates"] = _choose(nll, "logistic")
        if kind == "logistic":          # refit on every row, unweighted
            _write_atoms(net, i, design, _logistic(
                net, i, _all_rows(train, valid), design, K,
                weighted=False, init=beta))
        entry["kind"] = kind
        report[i] = entry
    return report


# ============================================================== atom nodes' continuous part
def _latent_parts(net, nodes, chunks):
    """``chunks`` (a callable: a fresh pass per call) with every node of ``nodes`` (nodes
    with point masses) seen as its continuous part: its value replaced by its latent (the
    fitted decoder's inverse) and its factor counted only off its point masses, so a
    simple location of the part is a least-squares fit as any other node's."""
    if not nodes:
        return chunks
    ks = [net.cont_pos[i] for i in nodes]
    cache = []                  # (the latents of the first pass, reused: one inversion)

    def parts():
        for c, (S, u, w, seen) in enumerate(chunks()):
            if c == len(cache):
                z = net.decoder.inverse(torch.nan_to_num(u))
                off = [~net.at_atom(i, u[:, k]) for i, k in zip(nodes, ks)]
                cache.append((z[:, ks], torch.stack(off, 1)))
            z, off = cache[c]
            u = u.clone()
            seen = (torch.ones(S.shape[0], net.n, dtype=torch.bool, device=S.device)
                    if seen is None else seen.clone())
            for j, (i, k) in enumerate(zip(nodes, ks)):
                u[:, k] = z[:, j]
                seen[:, i] &= off[:, j]
            yield S, u, w, seen
    return parts


def _part_nll(net, i: int, S: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Node ``i``'s (a node with point masses) NLL of rows off its point masses under the
    network as it stands (a simple map where one is written): the continuous part's
    share, its truncation's normaliser and its density through the decoder, per row
    (float64, CPU). ``S`` the rows' states, ``u`` their continuous values (all columns)."""
    k = net.cont_pos[i]
    parts = [torch.zeros(0, dtype=torch.float64)]       # (no rows: none)
    for rows, out in _network_outputs(net, S, [i]):
        uk = u[rows]
        z = net.decoder.inverse(uk)
        log_det = torch.log(net.decoder.derivative(z))[:, k]
        loc, s, logp, _, e_lo, e_hi = net.atom_frame(i, out[:, 0], uk.shape[0])
        e = (z[:, k] - loc) / s
        gate = atom_nll(logp, net.atom_index(i, uk[:, k]), log_ndtr_diff(e_lo, e_hi))
        parts.append((0.5 * e * e + torch.log(s) + log_det).double().cpu()
                     + gate.double().cpu() + _HALF_LOG_2PI)
    return torch.cat(parts)


def _truncated_moments(a: torch.Tensor, b: torch.Tensor):
    """``E[e^k]``, k = 1..4, of ``e ~ N(0, 1)`` truncated to ``(a, b)`` (float64; a bound
    beyond :data:`NO_BOUND` is no bound), by the recursion ``E[e^k] = (k - 1) E[e^(k-2)]
    + (a^(k-1) phi(a) - b^(k-1) phi(b)) / Z``, ``phi / Z`` taken in log space."""
    a = a.masked_fill(a <= -NO_BOUND, -math.inf)
    b = b.masked_fill(b >= NO_BOUND, math.inf)
    log_z = log_ndtr_diff(a, b)

    def ratio(x):                     # (phi(x) / Z, x with infinities as 0)
        inf = torch.isinf(x)
        xf = x.masked_fill(inf, 0.0)
        return torch.exp(-0.5 * xf * xf - _HALF_LOG_2PI - log_z).masked_fill(inf, 0.0), xf
    pa, a = ratio(a)
    pb, b = ratio(b)
    m1 = pa - pb
    m2 = 1.0 + a * pa - b * pb
    m3 = 2.0 * m1 + a * a * pa - b * b * pb
    m4 = 3.0 * m2 + a ** 3 * pa - b ** 3 * pb
    return m1, m2, m3, m4, log_z


def _truncated_fit(net, i: int, design, index, chunks, beta, var, weighted: bool = True):
    """Node ``i``'s continuous part (a node with point masses) by maximum likelihood:
    ``latent = design[:, index] @ beta + s e``, ``e ~ N(0, 1)`` truncated to the part's
    bounds (:meth:`CCGMNet.atom_bounds`: a floor's, a cap's), from the least-squares fit
    ``(beta, var)`` (:func:`_solve`'s, which ignores the truncation: biased where many
    rows lie near a bound). Newton's method with backtracking in the natural parameters
    ``(kappa, lam) = (beta / s^2, 1 / s^2)``, where the truncated normal is an exponential
    family, so the objective is convex and its gradient and Hessian are the truncated
    normal's moments (one pass over the rows each). ``chunks()`` gives a pass over the
    part's rows (:func:`_latent_parts`); ``weighted=False``: every row weighs 1. Returns
    ``(beta, var)`` as :func:`_solve` does."""
    lo, hi = net.atom_bounds(i)
    if not TRUNCATED_FIT or (math.isinf(lo) and math.isinf(hi)):
        return beta, var
    q = len(index)

    def terms(theta):
        """Objective, gradient and Hessian at ``theta`` (None where ``lam <= 0`` or the
        objective is not finite)."""
        lam = float(theta[-1])
        if not lam > 0:
            return None
        sd = lam ** -0.5
        f = 0.0
        g = torch.zeros(q + 1, dtype=torch.float64)
        H = torch.zeros(q + 1, q + 1, dtype=torch.float64)
        for chunk in chunks():
            S, y, w, _ = _node_rows(net, i, chunk)
            if not y.shape[0]:
                continue
            A = design(S)[:, index]
            z = y.double().cpu()
            w = w.double().cpu() if weighted else torch.ones_like(z)
            mu = A @ theta[:-1] / lam
            m1, m2, m3, m4, log_z = _truncated_moments((lo - mu) / sd, (hi - mu) / sd)
            v2 = (m2 - m1 * m1).clamp(min=0.0)
            c12 = m3 - m1 * m2
            mean_t = mu + sd * m1
            mean_t2 = mu * mu + 2.0 * mu * sd * m1 + sd * sd * m2
            var_t = sd * sd * v2
            cov = 2.0 * mu * sd * sd * v2 + sd ** 3 * c12
            var_t2 = (4.0 * mu * mu * sd * sd * v2 + 4.0 * mu * sd ** 3 * c12
                      + sd ** 4 * (m4 - m2 * m2)).clamp(min=0.0)
            e = (z - mu) / sd
            f += float((w * (0.5 * e * e + log_z)).sum()) + math.log(sd) * float(w.sum())
            g[:q] += A.T @ (w * (mean_t - z))
            g[q] += float((w * 0.5 * (z * z - mean_t2)).sum())
            H[:q, :q] += (A * (w * var_t).unsqueeze(1)).T @ A
            H[:q, q] += A.T @ (w * -0.5 * cov)
            H[q, q] += float((w * 0.25 * var_t2).sum())
        H[q, :q] = H[:q, q]
        return (f, g, H) if math.isfinite(f) else None

    theta = torch.cat([beta[index] / var, torch.tensor([1.0 / var], dtype=torch.float64)])
    now = terms(theta)
    if now is None:
        return beta, var
    eye = torch.eye(q + 1, dtype=torch.float64)
    for _ in range(_TRUNCATED_STEPS):
        f, g, H = now
        ridge = 1e-9 * float(H.diagonal().abs().mean()) + 1e-12
        step = torch.linalg.solve(H + ridge * eye, g)
        size = 1.0
        for _ in range(30):
            new = terms(theta - size * step)
            if new is not None and new[0] <= f:
                break
            size *= 0.5
        else:
            break                       # (no decrease along the step: converged)
        theta = theta - size * step
        now = new
        if f - new[0] <= 1e-10 * max(abs(f), 1.0):
            break
    lam = float(theta[-1])
    out = torch.zeros_like(beta)
    out[index] = theta[:-1] / lam
    return out, max(1.0 / lam, MIN_SCALE ** 2)


def _index(kind: str, design) -> torch.Tensor:
    """The design columns of a candidate: the linear ones, an interaction design's fitted
    ones, or all."""
    if kind == "linear":
        return design.linear
    return design.index if isinstance(design, _ModifiedDesign) else torch.arange(design.size)


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
    classes = _select_classes(net, mode, train, valid, forced)
    nodes = [i for i in eligible_nodes(net)
             if (mode != "network" or i in forced) and forced.get(i) != "network"
             and not _auto_keeps_network(net, i, mode, forced)]
    if not nodes and (mode == "network" or not atom_nodes(net)):
        return classes
    _set_knots(net, train)
    # nodes with point masses: their continuous part's rows, in latent units (the atom
    # probabilities read the values themselves)
    values_train, values_valid = train, valid
    parts = [i for i in nodes if net.atoms[i]]
    train = _latent_parts(net, parts, train)
    valid = next(_latent_parts(net, parts, lambda: iter([valid]))())
    S_va = valid[0]
    compare = [i for i in nodes if mode == "auto" and i not in forced]
    net_nll = {}                  # the network's NLL of the node's compared rows
    if compare and S_va.shape[0] >= 2:
        whole = [i for i in compare if not net.atoms[i]]
        mlp = _network_nll(net, S_va, valid[1], whole) if whole else None
        for i in compare:
            keep = _node_rows(net, i, valid)[3]
            if net.atoms[i]:
                net_nll[i] = _part_nll(net, i, S_va[keep], values_valid[1][keep])
            else:
                col = mlp[:, whole.index(i)]
                net_nll[i] = col if keep is None else col[keep.cpu()]
    designs = {i: _Design(net, i) for i in nodes}
    # one pass for every node: the weighted sums (the fits compared with the network on
    # the weighted validation rows) and the unweighted ones (BIC)
    moments, plain = _moments(net, designs, train(), plain=True)
    # the interaction candidates (nodes with a binary parent): one more pass
    modified = {(i, k): _ModifiedDesign(designs[i], k) for i in nodes
                if forced.get(i, mode) in ("auto", "interaction")
                for k in _modifiers(net, designs[i], plain[i])}
    modified_moments, modified_plain = (_moments(net, modified, train(), plain=True)
                                        if modified else ({}, {}))
    for key, candidate in modified.items():
        candidate.restrict(modified_plain[key])
    report, kept = {}, {}
    for i in nodes:
        design, mom = designs[i], moments[i]
        if mom[4] < design.size + 2 or mom[3] <= 0:
            continue
        mine = [key for key, m in modified_moments.items()
                if key[0] == i and m[4] >= modified[key].size + 2]
        offered = {k: (modified_plain[k], modified[k].index) for k in mine}
        kind = forced.get(i, mode)
        entry = {}
        chosen = design
        Sv, yv, wv, keep = _node_rows(net, i, valid)
        if kind == "auto":
            kind = "network"
            if i in net_nll and yv.shape[0] < 2:
                # (held-out rows, but fewer than two of this node's, say a rare
                # continuous part: no evidence for the network, so the simpler)
                kind, key = _bic_kind(plain[i], design, offered)
                entry["candidates"] = {}
            elif i in net_nll:
                y, w = yv.double().cpu(), wv.double().cpu()
                nll = {"network": w * net_nll[i]}
                simple, key = _bic_kind(plain[i], design, offered)
                if net.atoms[i]:       # BIC's choice, truncated, through the network
                    cand, m = (design, mom) if key is None else (modified[key],
                                                                 modified_moments[key])
                    index = _index(simple, cand)
                    _write(net, i, cand, *_truncated_fit(net, i, cand, index, train,
                                                         *_solve(m, index)))
                    nll[simple] = w * _part_nll(net, i, Sv, values_valid[1][keep])
                    net.g.set_linear(i, None)
                else:
                    A = design(Sv)
                    for k, index in (("linear", design.linear),
                                     ("additive", torch.arange(design.size))):
                        if k == "additive" and not design.has_spline:
                            continue
                        beta, var = _solve(mom, index)
                        nll[k] = w * _gaussian_nll(y - A @ beta, var)
                    if key is not None:
                        m = modified_moments[key]
                        beta, var = _solve(m, modified[key].index)
                        nll["interaction"] = w * _gaussian_nll(
                            y - modified[key](Sv) @ beta, var)
                kind, entry["candidates"] = _choose(nll, simple, part=net.atoms[i])
            if kind == "interaction":
                chosen = modified[key]
                entry["modifier"] = int(net.block_of_column[chosen.modifier])
        elif kind == "interaction":
            if mine:                 # the modifier whose fit leaves the least variance
                key = min(mine, key=lambda k: _solve(
                    modified_plain[k], modified[k].index)[1])
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
    every = _all_rows(train, valid)
    full = _moments(net, {i: chosen for i, (_, chosen) in kept.items()}, every(),
                    weighted=False) if kept else {}
    for i, (kind, chosen) in kept.items():
        index = _index(kind, chosen)
        fit = _solve(full[i], index)
        if net.atoms[i]:
            fit = _truncated_fit(net, i, chosen, index, every, *fit, weighted=False)
        _write(net, i, chosen, *fit)
    for i, entry in _select_atoms(net, mode, values_train, values_valid, forced).items():
        report.setdefault(i, {"kind": "network"})["atoms"] = entry
    report.update(classes)
    return report
