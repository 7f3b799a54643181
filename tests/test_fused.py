"""The exact fit's hand-written step (``dowhy_ccgm.nn._fused``) against autograd: the same
objective and, to float rounding, the same gradient of every trained parameter, on every
node kind and layout it covers; and what it refuses."""
import math
import random

import numpy as np
import pytest
import torch

import dowhy_ccgm._training as training
from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
from dowhy_ccgm.nn import CCGMNet
from dowhy_ccgm.nn._fused import FusedExactStep, unsupported

TRAINED = ("W", "g", "decoder", "log_tau", "cat_head", "cat_head_bias")


def _net(kinds, n_categories, edges, seed=0, **kw):
    n = len(kinds)
    mask = torch.zeros(n, n)
    for j, i in edges:
        mask[j, i] = 1.0
    exogenous = [not any(i == c for _, c in edges) for i in range(n)]
    torch.manual_seed(seed)
    net = CCGMNet(kinds, n_categories, exogenous, mask, list(range(n)), **kw)
    with torch.no_grad():                       # away from the initial values
        for _, p in net.named_parameters():
            p.add_(0.3 * torch.randn_like(p))
    return net


def _atom_net(lower):
    """The demo graph with point masses on a root (column 0) and a child (column 2), of
    the lower (truncated) form or not, at standardized values -0.7 and 0.4."""
    net = _net(*CASES["continuous"], atoms=[True, False, True, False])
    net.set_atoms([-0.7, 0.0, 0.4, 0.0], [lower[0], False, lower[1], False])
    return net


def _batch(net, B=300, seed=1):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, len(net.cont), generator=g)
    for k, i in enumerate(net.cont):           # a third of a column's rows at its point
        K = int(net.atom[k, 0])                # masses, the rest inside its bounds
        if K:
            vals = net.atom_values[k, :K]
            lo = float(vals[0]) if net.atom_lower(i) else -math.inf
            hi = float(vals[-1]) if bool(net.atom[k, 2] > 0) else math.inf
            inside = (u[:, k] > lo + 0.05) & (u[:, k] < hi - 0.05)
            u[:, k] = torch.where(inside, u[:, k], 0.5 * (max(lo, -3.0) + min(hi, 3.0)))
            pick = torch.randint(0, K, (B,), generator=g)
            at = torch.rand(B, generator=g) < 0.33
            u[at, k] = vals[pick[at]]
    codes = torch.stack([torch.randint(0, net.n_categories[i], (B,), generator=g)
                         for i in net.disc], -1) if net.disc else torch.zeros(B, 0).long()
    return net.encode_states(u, codes), u, codes, g


def _trained(net):
    return [(name, p) for name, p in net.named_parameters() if name.split(".")[0] in TRAINED]


def _with_missing_cells(net, S, u, codes, g, share=0.15):
    """``S``, ``u``, ``codes`` with a share of every node's cells missing (NaN state
    blocks and values, code -1), as the fit with missing cells holds them."""
    S, u, codes = S.clone(), u.clone(), codes.clone()
    for i in range(net.n):
        miss = torch.rand(S.shape[0], generator=g) < share
        S[miss, net.offsets[i]:net.offsets[i + 1]] = math.nan
        if i in net.cont:
            u[miss, net.cont_pos[i]] = math.nan
        else:
            codes[miss, net.disc_pos[i]] = -1
    return S, u, codes


def _compare(net, z_offset=0.01, latent_weight=1.0, B=300, weighted=False):
    """(|loss difference|, worst relative gradient difference) of the fused step against
    autograd through ``training.exact_objective``; ``weighted``: with node weights (the
    parent balance) drawn between 0.2 and 5 for every node and row. A net with
    ``fit_missing`` gets rows with missing cells."""
    S, u, codes, g = _batch(net, B)
    if net.fit_missing:
        S, u, codes = _with_missing_cells(net, S, u, codes, g)
    w = None
    if weighted:
        w = torch.exp(torch.empty(B, net.n).uniform_(-1.6, 1.6, generator=g))
    z0 = None
    if z_offset is not None and net.cont:
        z0 = net.decoder.inverse(u) + z_offset * torch.randn(u.shape, generator=g)
    params = _trained(net)
    for _, p in params:
        p.grad = None
    loss = training.exact_objective(net, S, u, codes, None if z0 is None else z0.clone(),
                               latent_weight, node_weights=w)
    loss.backward()
    ref = {name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
           for name, p in params}
    for _, p in params:
        p.grad = torch.zeros_like(p)
    f_loss, z = FusedExactStep(net)(S, codes, None if z0 is None else z0.T.contiguous(),
                                    latent_weight,
                                    node_weights=None if w is None else w.T.contiguous())
    worst = 0.0
    for name, p in params:
        scale = ref[name].abs().max().item()
        err = (ref[name] - p.grad).abs().max().item()
        assert np.isfinite(err), name
        worst = max(worst, err / scale if scale > 0 else err)
    if net.cont:   # the warm starts it returns are the decoders' exact inverse
        seen = ~torch.isnan(u)
        assert torch.allclose(z.T[seen], net.decoder.inverse(u.nan_to_num())[seen],
                              atol=1e-4)
    return abs(loss.item() - f_loss.item()), worst


CASES = {
    # the demo graph: two continuous roots (their masks are skipped), two noisy children
    "continuous": (["continuous"] * 4, [0] * 4, [(0, 2), (1, 2), (2, 3), (0, 3)]),
    # a binary root, a categorical child of a binary and a continuous parent, ...
    "mixed": (["binary", "continuous", "categorical", "continuous", "binary"], [2, 0, 3, 0, 2],
              [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4), (0, 4)]),
    # roots that are not the first nodes (the active nodes are not one slice)
    "interleaved": (["continuous", "binary", "continuous", "categorical", "continuous"],
                    [0, 2, 0, 4, 0],
                    [(1, 0), (2, 0), (1, 3), (0, 3), (2, 4), (3, 4), (0, 4), (1, 4)]),
    "discrete only": (["binary", "categorical", "binary"], [2, 5, 2], [(0, 1), (1, 2)]),
    # many-level categoricals (above 16 levels): a root read through lookup tables, a child
    # with its low-rank head, both parents of others
    "many levels": (["categorical", "continuous", "categorical", "binary", "continuous"],
                    [40, 0, 25, 2, 0],
                    [(0, 1), (0, 2), (1, 2), (2, 3), (0, 4), (2, 4), (3, 4)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("z_offset", [0.01, None])        # warm start, cold solve
def test_fused_step_equals_autograd(case, z_offset):
    net = _net(*CASES[case])
    d_loss, worst = _compare(net, z_offset)
    assert d_loss < 1e-5
    assert worst < 1e-5


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_step_with_node_weights_equals_autograd(case):
    """The parent balance's weights, one per node and row, on every term and its
    gradient (the latent loss's included)."""
    net = _net(*CASES[case])
    for lw in (1.0, 0.0):
        d_loss, worst = _compare(net, latent_weight=lw, weighted=True)
        assert d_loss < 1e-5
        assert worst < 1e-5


@pytest.mark.parametrize("lower", [(True, True), (False, True), (False, False)])
def test_fused_step_with_point_masses_and_node_weights_equals_autograd(lower):
    d_loss, worst = _compare(_atom_net(lower), weighted=True)
    assert d_loss < 1e-5 and worst < 1e-5


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_step_from_a_far_start_falls_back_to_the_safeguarded_solve(case):
    """Warm starts 3 sd off: one Newton step misses the tolerance and both solves fall back
    to the inverse's safeguarded one, from different iterates, so they stop at different
    points inside the same tolerance (1e-3 of the value). The inverse is still exact
    (checked in _compare), the objective equal, the gradients equal to that tolerance."""
    net = _net(*CASES[case])
    d_loss, worst = _compare(net, 3.0)
    assert d_loss < 1e-5
    assert worst < 1e-3


def test_fused_step_sparse_first_layer_on_a_large_sparse_graph():
    rng = random.Random(0)
    n = 14
    kinds = [rng.choice(["continuous", "continuous", "binary", "categorical"]) for _ in range(n)]
    cats = [2 if k == "binary" else 3 if k == "categorical" else 0 for k in kinds]
    edges = [(j, i) for i in range(n) for j in range(i) if rng.random() < 0.2]
    net = _net(kinds, cats, edges)
    assert net.input_index() is not None          # the sparse path is the one tested
    d_loss, worst = _compare(net)
    assert d_loss < 1e-5 and worst < 1e-5


@pytest.mark.parametrize("n_layers", [0, 1, 3])
def test_fused_step_any_depth_and_without_the_latent_loss(n_layers):
    net = _net(*CASES["mixed"], n_layers=n_layers, hidden=8)
    for lw in (0.0, 2.5):
        d_loss, worst = _compare(net, latent_weight=lw)
        assert d_loss < 1e-5 and worst < 1e-5


def test_fused_forward_only_is_the_objective_and_leaves_gradients_alone():
    net = _net(*CASES["interleaved"])
    S, u, codes, _ = _batch(net)
    for _, p in _trained(net):
        p.grad = torch.full_like(p, 7.0)
    loss, z = FusedExactStep(net)(S, codes, None, 1.0, u=u.T.contiguous(), grad=False)
    with torch.no_grad():
        ref = training.exact_objective(net, S, u, codes, None, 1.0)
    assert abs(float(loss) - float(ref)) < 1e-5
    assert all(bool((p.grad == 7.0).all()) for _, p in _trained(net))


@pytest.mark.parametrize("lower", [(True, True), (False, True), (False, False)])
@pytest.mark.parametrize("z_offset", [0.01, None])
def test_fused_step_with_point_masses_equals_autograd(lower, z_offset):
    """Zero-inflated columns: the point-mass logits, the rows at the atom (no density, no
    latent), and for the lower form the truncation's normaliser through the decoder's
    inverse of the atom value."""
    net = _atom_net(lower)
    for lw in (1.0, 0.0):
        d_loss, worst = _compare(net, z_offset, latent_weight=lw)
        assert d_loss < 1e-5 and worst < 1e-5


def _several_atoms_net(half_step):
    """The "mixed" graph's continuous nodes with several point masses: the root (node 1)
    a floor and a cap (earnings with zeros and a top-code), the child (node 3) a floor, a
    round value inside and a cap, on a lattice of ``2 * half_step`` (standardized)."""
    net = _net(*CASES["mixed"], atoms=[0, 2, 0, 3, 0])
    net.set_atoms([[-1.2, 1.5], [-0.8, 0.3, 1.1]], [True, True], [True, True],
                  [half_step, half_step])
    return net


@pytest.mark.parametrize("half_step", [0.0, 0.05])
@pytest.mark.parametrize("z_offset", [0.01, None])
def test_fused_step_with_several_point_masses_a_cap_and_a_lattice_equals_autograd(
        half_step, z_offset):
    """Several atoms per column (their softmax logits), a cap as well as a floor (the
    normaliser log (Phi(e_hi) - Phi(e_lo)) through the decoder's inverse of both bounds),
    the bounds half a lattice step inside the outer atoms; on a root and on a child,
    with and without the parent balance's weights and the latent loss."""
    net = _several_atoms_net(half_step)
    S, u, _, _ = _batch(net)
    assert all(bool((u[:, k] == v).any()) for k in range(2)          # rows at every atom
               for v in net.atom_values[k, :int(net.atom[k, 0])])
    for lw in (1.0, 0.0):
        for weighted in (False, True):
            d_loss, worst = _compare(net, z_offset, latent_weight=lw, weighted=weighted)
            assert d_loss < 1e-5 and worst < 1e-5


def test_fused_step_warm_starts_the_bounds_inverse_and_still_equals_autograd():
    """The bounds' latents are solved from the last step's solution: after the decoders
    move (as a training step moves them), the next step still equals autograd's."""
    net = _several_atoms_net(0.05)
    S, u, codes, g = _batch(net)
    step = FusedExactStep(net)
    for _, p in _trained(net):
        p.grad = torch.zeros_like(p)
    step(S, codes, None, 1.0)
    assert step.atoms["z_bounds"] is not None
    with torch.no_grad():
        for name, p in net.decoder.named_parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    params = _trained(net)
    for _, p in params:
        p.grad = None
    loss = training.exact_objective(net, S, u, codes, None, 1.0)
    loss.backward()
    ref = {name: p.grad.clone() for name, p in params if p.grad is not None}
    for _, p in params:
        p.grad = torch.zeros_like(p)
    f_loss, _ = step(S, codes, None, 1.0)
    assert abs(loss.item() - f_loss.item()) < 1e-5
    for name, p in params:
        if name in ref:
            scale = ref[name].abs().max().item()
            assert (ref[name] - p.grad).abs().max().item() <= 1e-5 * max(scale, 1.0), name


def test_fused_step_rows_at_a_cap_far_below_their_location_stay_finite():
    """Rows at a cap whose location lies far above it (a unit with a large parent value,
    top-coded): between the part's bounds the normal has no mass in float arithmetic
    (log Z = -inf), and such a row has no truncation term. The step's objective and
    gradients stay finite and equal autograd's (a product by the row's 0 made them NaN,
    and the fit diverged)."""
    net = _net(*CASES["continuous"], atoms=[0, 0, 1, 0])
    net.set_atoms([0.0, 0.0, -1.0, 0.0], [False] * 4, [False, False, True, False])
    with torch.no_grad():                 # the location far above the cap, in sds
        net.g.biases[-1][2, 0] = 5.0
        net.g.biases[-1][2, 1] = -6.0
    S, u, codes, g = _batch(net)
    u[:, 2] = -1.0                        # every row top-coded
    S = net.encode_states(u, codes)
    params = _trained(net)
    loss = training.exact_objective(net, S, u, codes, None, 1.0)
    assert torch.isfinite(loss)
    loss.backward()
    ref = {name: p.grad.clone() for name, p in params if p.grad is not None}
    for _, p in params:
        p.grad = torch.zeros_like(p)
    f_loss, _ = FusedExactStep(net)(S, codes, None, 1.0)
    assert torch.isfinite(f_loss) and abs(loss.item() - f_loss.item()) < 1e-5 * abs(loss.item())
    for name, p in params:
        assert bool(torch.isfinite(p.grad).all()), name
        if name in ref:
            scale = ref[name].abs().max().item()
            assert (ref[name] - p.grad).abs().max().item() <= 1e-5 * max(scale, 1.0), name


def test_fused_step_with_an_interior_point_mass_only_equals_autograd():
    """A round value many rows share, inside the column (no floor, no cap): the logit
    only, no truncation."""
    net = _net(*CASES["continuous"], atoms=[0, 0, 1, 2])
    net.set_atoms([0.0, 0.0, 0.2, [-0.5, 0.6]], [False] * 4, [False] * 4)
    d_loss, worst = _compare(net)
    assert d_loss < 1e-5 and worst < 1e-5


@pytest.mark.parametrize("case", ["mixed", "many levels"])
def test_fused_step_with_missing_cells_equals_autograd(case):
    """Data with missing cells: a factor whose node or a parent is missing leaves the
    objective (and the latent loss's mean), with and without the parent balance."""
    net = _net(*CASES[case])
    net.fit_missing = True
    for weighted in (False, True):
        d_loss, worst = _compare(net, weighted=weighted)
        assert d_loss < 1e-5 and worst < 1e-5


def test_fused_step_with_missing_cells_and_point_masses_equals_autograd():
    net = _several_atoms_net(0.05)
    net.fit_missing = True
    for weighted in (False, True):
        d_loss, worst = _compare(net, weighted=weighted)
        assert d_loss < 1e-5 and worst < 1e-5


def test_fused_step_with_a_formula_node_equals_autograd():
    """An exact formula node (x3 = x0 * x2): its factor leaves the likelihood and its
    latent the latent loss; the other nodes train as before."""
    net = _net(*CASES["continuous"])
    net.set_formulas({3: ([(net.offsets[0], 0.0, 1.0), (net.offsets[2], 0.0, 1.0)],
                          [((0, 1), (1, 1))], [1.0], 0.0, 1.0, 0.0)})
    for weighted in (False, True):
        for lw in (1.0, 0.0):
            d_loss, worst = _compare(net, latent_weight=lw, weighted=weighted)
            assert d_loss < 1e-5 and worst < 1e-5


def test_unsupported_networks_are_named_and_refused():
    kinds, cats, edges = CASES["continuous"]
    assert unsupported(_net(kinds, cats, edges)) is None
    det = _net(kinds, cats, edges, variant="ccgm")
    assert "deterministic" in unsupported(det)
    assert unsupported(_atom_net((True, False))) is None
    assert unsupported(_net(*CASES["many levels"])) is None
    assert unsupported(_several_atoms_net(0.05)) is None
    with pytest.raises(ValueError, match="deterministic"):
        FusedExactStep(det)


def test_the_fit_trains_by_the_fused_step_and_matches_the_autograd_fit(monkeypatch):
    """The default fit uses the fused step; with autograd instead (FUSED_STEP = False) the
    fit reaches the same validation objective and the same interventional means."""
    data = toy_scm(3000, 0)
    calls = []
    original = FusedExactStep.__call__

    def counted(self, *a, **k):
        calls.append(1)
        return original(self, *a, **k)

    monkeypatch.setattr(FusedExactStep, "__call__", counted)
    results = {}
    for fused in (True, False):
        monkeypatch.setattr(training, "FUSED_STEP", fused)
        calls.clear()
        gen = CCGMGenerator(TOY_GRAPH, random_state=0, progress_bar=False).fit(data)
        assert bool(calls) == fused
        do = gen.intervene({"x1": 1.0}, n_samples=50_000, random_state=1)
        results[fused] = (min(gen.history_["val"]), do["x4"].mean(), do["x3"].mean())
    (v1, a1, b1), (v0, a0, b0) = results[True], results[False]
    assert abs(v1 - v0) < 0.01
    assert abs(a1 - a0) < 0.02 and abs(b1 - b0) < 0.02


def test_fused_step_on_roots_only():
    """No node reads a mask (two independent continuous roots): the decoders alone."""
    net = _net(["continuous", "continuous"], [0, 0], [])
    d_loss, worst = _compare(net)
    assert d_loss < 1e-5 and worst < 1e-5
