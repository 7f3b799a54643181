"""Layer math of the torch core: DAG penalty, Lagrangian schedule, masks, monotone maps."""

import numpy as np
import pytest
import torch

from dowhy_ccgm.nn import AugmentedLagrangian, CCGMNet, GatedNodeMLP, MonotoneMap, dag_penalty


def test_dag_penalty_is_exactly_zero_on_dags_and_positive_on_cycles():
    rng = np.random.default_rng(0)
    for n in (2, 4, 7):
        W = np.triu(rng.normal(size=(n, n)), 1)          # strictly upper: a DAG
        perm = rng.permutation(n)
        G = torch.tensor(W[np.ix_(perm, perm)], dtype=torch.float64)
        assert dag_penalty(G).item() == pytest.approx(0.0, abs=1e-9)
        C = G.clone()
        C[perm.tolist().index(n - 1), perm.tolist().index(0)] = 0.5  # close a cycle
        assert dag_penalty(C).item() > 1e-3
    two_cycle = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    # tr[(I + G∘G)^2] - 2 = tr([[2,2],[2,2]]) - 2 = 2
    assert dag_penalty(two_cycle).item() == pytest.approx(2.0)


def test_augmented_lagrangian_follows_eq_8():
    al = AugmentedLagrangian(lam=0.0, c=1.0, eta=2.0, gamma=0.9)
    al.step(1.0)                          # first step: |h| > 0.9*inf is false -> c kept
    assert (al.lam, al.c) == (1.0, 1.0)
    al.step(0.95)                         # 0.95 > 0.9 * 1.0 -> c doubles after lam update
    assert al.lam == pytest.approx(1.95) and al.c == 2.0
    al.step(0.1)                          # enough progress -> c kept
    assert al.lam == pytest.approx(2.15) and al.c == 2.0
    h = torch.tensor(0.5)
    assert al.penalty(h).item() == pytest.approx(2.15 * 0.5 + 0.5 * 2.0 * 0.25)


def test_gated_mlp_mask_cuts_signal_and_gradient():
    torch.manual_seed(0)
    mlp = GatedNodeMLP([1, 1, 3], n_out=2, hidden=8)
    A = torch.tensor([[0.0, 0.7, 1.2], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # 0 -> 1, 0 -> 2
    states = torch.randn(5, 5, requires_grad=True)
    out = mlp(states, A)
    # node 2's output must not depend on node 1 (no edge) nor on itself
    grad = torch.autograd.grad(out[:, 2].sum(), states, retain_graph=True)[0]
    assert torch.all(grad[:, 1] == 0) and torch.all(grad[:, 2:] == 0)
    assert torch.any(grad[:, 0] != 0)
    # forward_node agrees with the batched forward
    assert torch.allclose(mlp.forward_node(2, states, A), out[:, 2], atol=1e-6)


def test_masked_entries_of_G_get_no_gradient():
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 2] = True
    net = CCGMNet(["continuous"] * 3, [0] * 3, [True, True, False], mask, [0, 1, 2])
    u = torch.randn(64, 3)
    out = net.losses(u, torch.zeros(64, 0, dtype=torch.long))
    (out["recon"] + out["label"] + out["latent"]).backward()
    g = net.W.grad
    assert g[0, 2] != 0
    off = torch.ones(3, 3, dtype=torch.bool)
    off[0, 2] = False
    assert torch.all(g[off] == 0)


def test_monotone_map_inverse_is_exact_even_far_outside_the_data():
    torch.manual_seed(1)
    m = MonotoneMap(3)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p))
    y = torch.cat([torch.linspace(-60, 60, 2001).unsqueeze(-1).repeat(1, 3),
                   torch.randn(100, 3)])
    z = m.inverse(y)
    assert torch.max(torch.abs(m(z) - y)).item() < 1e-3
    zs = torch.linspace(-10, 10, 500).unsqueeze(-1).repeat(1, 3)
    assert torch.all(torch.diff(m(zs), dim=0) > 0)          # strictly increasing
    # warm-started inverse gives the same answer
    z2 = m.inverse(y, init=z + 0.01)
    assert torch.max(torch.abs(m(z2) - y)).item() < 1e-3
    # analytic derivative matches finite differences
    zz = torch.randn(50, 3, dtype=torch.float32)
    h = 1e-3
    fd = (m(zz + h) - m(zz - h)) / (2 * h)
    assert torch.allclose(fd, m.derivative(zz), rtol=1e-2, atol=1e-3)


def test_warm_inverse_bisects_only_the_rows_its_newton_steps_miss():
    """From a warm start, rows whose Newton steps meet the tolerance keep their iterate and
    only the rest are bisected (a fit's batch used to be bisected whole for a few rows
    near a point mass); every row's result is exact either way."""
    torch.manual_seed(0)
    m = MonotoneMap(3)
    with torch.no_grad():          # steep components on a flat slope: Newton can miss
        m.b.fill_(-4.0)
        m.c.fill_(1.0)
        m.d.fill_(2.5)
    y = torch.randn(400, 3) * 3
    z = m.inverse(y)
    init = z + 0.001
    init[:5] += 30.0                                   # five rows start far off
    bisected = []
    forward = m.forward

    def counted(v):
        bisected.append(v.shape[0])
        return forward(v)

    m.forward = counted                                # (only the bisection calls forward)
    z2 = m.inverse(y, init=init)
    assert set(bisected) == {5}
    assert torch.max(torch.abs(forward(z2) - y)).item() < 1e-4 * (1 + y.abs().max().item())
    assert torch.max(torch.abs(z2 - z)).item() < 1e-3
    bisected.clear()
    m.inverse(y, init=z + 30.0)                        # every row off: the whole batch
    assert bisected and set(bisected) == {400}


def test_net_rejects_unknown_variant_and_objective():
    mask = torch.zeros(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="variant"):
        CCGMNet(["continuous"] * 2, [0, 0], [True, False], mask, [0, 1], variant="vae")
    with pytest.raises(ValueError, match="objective"):
        CCGMNet(["continuous"] * 2, [0, 0], [True, False], mask, [0, 1], objective="mle")
    assert dag_penalty(torch.zeros(2, 2)).item() == 0.0        # the empty graph is a DAG


def test_inverse_cdf_codes_match_the_softmax_cdf():
    """The fast discrete sampler draws the codes of the plain softmax/cumsum rule (2 and 7
    categories), and its category frequencies follow the probabilities."""
    from dowhy_ccgm.nn._model import inverse_cdf_codes
    g = torch.Generator().manual_seed(0)
    for K in (2, 7):
        logits = torch.randn(50_000, K, generator=g) * 2
        u = torch.rand(50_000, generator=g)
        slow = (u.unsqueeze(-1) > torch.cumsum(torch.softmax(logits, -1), -1)[:, :-1]).sum(-1)
        fast = inverse_cdf_codes(logits, u)
        assert (fast == slow).float().mean() > 0.9999
        fixed = torch.tensor([[0.0] * K]).expand(200_000, K).contiguous()
        codes = inverse_cdf_codes(fixed, torch.rand(200_000, generator=g))
        freq = torch.bincount(codes, minlength=K).float() / 200_000
        assert torch.allclose(freq, torch.full((K,), 1.0 / K), atol=0.005)


def test_monotone_inverse_gradient_is_the_implicit_function_gradient():
    """The gradient of ``inverse_differentiable`` w.r.t. its input and every parameter
    equals the implicit-function gradient of the exact inverse, ``dz/dy = 1 / f'(z)`` and
    ``dz/dtheta = -(df/dtheta) / f'(z)`` (autograd of the forward map at the solution), and
    a central finite difference of the exact inverse in y (the relative tolerances are
    float32's, a few 1e-4)."""
    from dowhy_ccgm.nn import MonotoneMap
    g = torch.Generator().manual_seed(0)
    m = MonotoneMap(3, 5)
    with torch.no_grad():              # a non-trivial, strongly curved map
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.7)
    y = (torch.randn(64, 3, generator=g) * 2).requires_grad_(True)
    w = torch.randn(64, 3, generator=g)
    z = m.inverse_differentiable(y)
    assert torch.allclose(m(z.detach()), y.detach(), atol=1e-4)           # it is the inverse
    params = list(m.parameters())
    grads = torch.autograd.grad((z * w).sum(), [y, *params])
    z0 = z.detach()
    slope = m.derivative(z0).detach()
    assert torch.allclose(grads[0], w / slope, rtol=1e-4, atol=1e-6)
    implicit = torch.autograd.grad((m(z0) * (-w / slope)).sum(), params)
    for got, want, p in zip(grads[1:], implicit, ("a", "b", "c", "d", "f")):
        assert torch.allclose(got, want, rtol=1e-3, atol=1e-5), p
        assert want.abs().max() > 1e-3, p                 # every parameter matters here
    eps = 1e-2
    with torch.no_grad():
        fd = (m.inverse(y + eps) - m.inverse(y - eps)) / (2 * eps)
    assert torch.allclose(grads[0] / w, fd, rtol=2e-3, atol=2e-3)


def test_an_abducted_category_is_drawn_back_however_improbable():
    """A discrete node's abducted noise is float64 and placed inside the interval that
    generation (also in float64 for such a noise) maps to the unit's own category, so a
    category of probability 1e-12 comes back; in float32 it fell into a neighbour (the
    rows of real data the model deems almost impossible, 1e-8 to 1e-10 on Adult)."""
    import torch

    from dowhy_ccgm.nn._generation import category_interval, inverse_cdf_codes
    for logits in ([[0.0, -27.6]], [[-27.6, 0.0]], [[0.0, -27.6, 0.0, -25.0, 2.0]]):
        logits = torch.tensor(logits * 4, dtype=torch.float32)
        K = logits.shape[1]
        for code in range(K):
            codes = torch.full((4,), code, dtype=torch.long)
            lo, hi = category_interval(logits, codes)
            assert lo.dtype == torch.float64 and bool((hi > lo).all())
            u = lo + torch.tensor([1e-3, 0.3, 0.7, 1 - 1e-3], dtype=torch.float64) * (hi - lo)
            assert inverse_cdf_codes(logits, u).tolist() == [code] * 4, (logits[0], code)
            u32 = u.float()
            if hi[0] - lo[0] < 1e-9 and lo[0] > 0.5:     # float32 cannot hold it
                assert inverse_cdf_codes(logits, u32).tolist() != [code] * 4
