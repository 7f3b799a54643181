"""The exact-likelihood fit (issue 8): the batched math equals the per-node definitions,
the optimizer equals torch's Adam, and the fitted model is what generation reads."""
import math

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm._loop import Adam
from dowhy_ccgm.nn import CCGMNet, GatedNodeMLP, MonotoneMap


def _mixed_net(variant="ccgm_noise"):
    """5 nodes: two continuous roots, a binary, a 3-category and a continuous child."""
    torch.manual_seed(0)
    kinds = ["continuous", "continuous", "binary", "categorical", "continuous"]
    ncat = [0, 0, 2, 3, 0]
    mask = torch.zeros(5, 5, dtype=torch.bool)
    for j, i in [(0, 2), (1, 2), (0, 3), (2, 4), (3, 4), (1, 4)]:
        mask[j, i] = True
    net = CCGMNet(kinds, ncat, [True, True, False, False, False], mask, list(range(5)),
                  variant=variant)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    B = 64
    u = torch.randn(B, 3)
    codes = torch.stack([torch.randint(0, 2, (B,)), torch.randint(0, 3, (B,))], -1)
    return net, u, codes


def _per_node_nll(net, u, codes):
    """-log p(x) written node by node, as the paper's terms define it."""
    S = net.encode_states(u, codes)
    out = net.g(S, net.G)
    z = net.decoder.inverse(u)
    log_det = torch.log(net.decoder.derivative(z))
    total = torch.zeros(u.shape[0])
    half = 0.5 * math.log(2 * math.pi)
    for i in net.cont:
        k = net.cont_pos[i]
        if net.exogenous[i]:
            total += 0.5 * z[:, k] ** 2 + half + log_det[:, k]
        elif net.variant == "ccgm_noise":
            s = F.softplus(out[:, i, 1]) + 1e-3
            e = (z[:, k] - out[:, i, 0]) / s
            total += 0.5 * e ** 2 + torch.log(s) + half + log_det[:, k]
        else:
            tau = torch.exp(net.log_tau.clamp(min=math.log(0.02)))[k]
            r = (u[:, k] - net.decoder.forward_column(k, out[:, i, 0])) / tau
            total += 0.5 * r ** 2 + torch.log(tau) + half
    for i in net.disc:
        logits = net.disc_logits(i, out[:, i])
        total += F.cross_entropy(logits, codes[:, net.disc_pos[i]], reduction="none")
    return total


@pytest.mark.parametrize("variant", ["ccgm_noise", "ccgm"])
def test_batched_exact_nll_equals_the_per_node_sum(variant):
    net, u, codes = _mixed_net(variant)
    with torch.no_grad():
        t = net.exact_terms(net.encode_states(u, codes), u, codes)
        ref = _per_node_nll(net, u, codes)
    assert torch.allclose(t["rows"], ref, atol=1e-4, rtol=1e-5)
    assert abs(float(t["nll"]) - float(ref.mean())) < 1e-4


def test_fused_gated_layer_equals_gating_the_inputs():
    torch.manual_seed(0)
    mlp = GatedNodeMLP([1, 2, 1, 3], n_out=3, hidden=8, n_layers=2)
    A = torch.randn(4, 4)
    S = torch.randn(50, 7)
    gate = mlp.expand_gate(A)                       # (n, width)
    h = S.unsqueeze(1) * gate.unsqueeze(0)          # every node gated separately
    for k, (W, b) in enumerate(zip(mlp.weights, mlp.biases)):
        h = torch.einsum("bnw,nwo->bno", h, W) + b
        if k < len(mlp.weights) - 1:
            h = F.silu(h)
    assert torch.allclose(mlp(S, A), h, atol=1e-5)
    # the per-node evaluation used by generation agrees too
    for i in range(4):
        assert torch.allclose(mlp.forward_node(i, S, A), h[:, i], atol=1e-5)


def test_implicit_gradient_of_the_inverse_matches_autograd_through_a_full_solve():
    torch.manual_seed(2)
    m = MonotoneMap(2)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.5 * torch.randn_like(p))
    y = torch.randn(40, 2, dtype=torch.float64)
    m = m.double()
    # reference: bisection unrolled with autograd (60 halvings: exact to float64)
    def unrolled(y):
        slope = torch.exp(m.b)
        spread = torch.exp(m.c).sum(-1)
        lo, hi = (y - m.a - spread) / slope, (y - m.a + spread) / slope
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = m(mid) > y
            hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
        z = 0.5 * (lo + hi)
        for _ in range(3):                            # differentiable Newton polish
            z = z - (m(z) - y) / m.derivative(z)
        return z
    z_ref = unrolled(y)
    g_ref = torch.autograd.grad(z_ref.sum(), list(m.parameters()))
    z, logd = m.inverse_and_log_derivative(y)                 # cold solve: bisection + Newton
    g = torch.autograd.grad(z.sum(), list(m.parameters()))
    assert torch.allclose(z, z_ref, atol=1e-8)
    for a, b in zip(g, g_ref):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    # a warm start stops at a residual of 1e-3 (1 + |y|); the final Newton step squares it
    z_w, _ = m.inverse_and_log_derivative(y, init=z_ref.detach() + 0.05)
    assert torch.max(torch.abs(m(z_w) - y)).item() < 1e-5
    assert torch.allclose(logd, torch.log(m.derivative(z_ref)), atol=1e-8)


def test_one_tanh_log_derivative_matches_the_two_pass_composite():
    """inverse_and_log_derivative shares one tanh between the Newton step and the log
    slope (a first-order expansion around the solve's solution); its value and its
    gradient w.r.t. every parameter equal log(derivative(inverse_differentiable(y))),
    from a warm start that leaves a residual of the solve's tolerance (1e-3): the value to
    1e-6, the gradient to a relative 1e-4 (its terms are evaluated at the solve's point, an
    O(residual) step from the polished one; minibatch noise is orders larger)."""
    torch.manual_seed(3)
    m = MonotoneMap(3, n_components=4).double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.5 * torch.randn_like(p))
        m.c.add_(3.0)                                # clearly nonlinear maps
    y = 3 * torch.randn(200, 3, dtype=torch.float64)
    init = m.inverse(y) + 0.02                       # a warm start a step away
    z_ref = m.inverse_differentiable(y, init)
    l_ref = torch.log(m.derivative(z_ref))
    z, logd = m.inverse_and_log_derivative(y, init)
    assert torch.allclose(z, z_ref, atol=1e-12)
    assert torch.max(torch.abs(logd - l_ref)).item() < 1e-6
    params = list(m.parameters())
    g_ref = torch.autograd.grad((z_ref.sum() + l_ref.sum()), params)
    g = torch.autograd.grad((z.sum() + logd.sum()), params)
    for a, b in zip(g, g_ref):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-4), (a - b).abs().max()


def test_warm_started_log_derivative_is_differentiable_on_every_path():
    """The warm-started solve's paths (the start meets tol; one Newton step does; more
    are needed) give the same values and parameter gradients as the cold solve followed by
    the same polish, and always carry gradients (a start that already meets tol once
    returned a tensor without any)."""
    torch.manual_seed(5)
    m = MonotoneMap(3, n_components=4).double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.4 * torch.randn_like(p))
    y = 2 * torch.randn(300, 3, dtype=torch.float64)
    exact = m.inverse(y, tol=1e-12)
    params = list(m.parameters())
    for shift in (0.0, 1e-3, 0.5, 4.0):
        init = exact + shift * torch.randn_like(exact)
        z, logd = m.inverse_and_log_derivative(y, init)
        assert z.requires_grad and logd.requires_grad
        g = torch.autograd.grad(z.sum() + logd.sum(), params)
        assert torch.max(torch.abs(m(z) - y)).item() < 1e-5
        z_ref = m.inverse_differentiable(y, init)
        l_ref = torch.log(m.derivative(z_ref))
        g_ref = torch.autograd.grad(z_ref.sum() + l_ref.sum(), params)
        assert torch.allclose(z, z_ref, atol=1e-6)
        for a, b in zip(g, g_ref):
            assert torch.allclose(a, b, atol=1e-3, rtol=1e-3), (shift, (a - b).abs().max())


def test_own_adam_follows_torch_adam_step_for_step():
    torch.manual_seed(0)
    a = [torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True)]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    ours, ref = Adam(a, lr=0.05), torch.optim.Adam(b, lr=0.05)
    for step in range(25):
        for params, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            loss = sum(((p - step * 0.1) ** 2 * (k + 1)).sum() for k, p in enumerate(params))
            loss.backward()
            opt.step()
    for p, q in zip(a, b):
        assert torch.allclose(p, q, atol=1e-6)


def test_exact_fit_counts_passes_and_stops_on_the_validation_likelihood():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    df = pd.DataFrame({"x": x, "y": np.tanh(2 * x) + 0.3 * rng.normal(size=2000)})
    gen = CCGMGenerator(nx.DiGraph([("x", "y")]), random_state=0, progress_bar=False)
    gen.fit(df)
    h = gen.history_
    # a pass is 1800 training rows in batches of 1800 // 16 = 112 rows: 16 steps
    assert h["steps"] == round(h["epochs"] * 16)
    assert h["converged"] and h["epochs"] < 200
    # the kept parameters are those of the best check: their validation NLL is the minimum
    assert h["best_val"] == pytest.approx(min(h["val"]))
    # and the fit is the exact likelihood: sd of y | x recovered, 0.3 (allow 10%)
    s = gen.intervene({"x": 0.5}, n_samples=20_000, random_state=1)["y"]
    assert abs(s.std() - 0.3) < 0.03 and abs(s.mean() - np.tanh(1.0)) < 0.05


def test_encoder_is_trained_only_when_asked():
    rng = np.random.default_rng(1)
    x = rng.normal(size=1500)
    df = pd.DataFrame({"x": x, "y": x + 0.5 * rng.normal(size=1500)})
    g = nx.DiGraph([("x", "y")])
    plain = CCGMGenerator(g, epochs=20, random_state=0, progress_bar=False).fit(df)
    assert not plain.encoder_fitted_
    with pytest.raises(ValueError, match="fit_encoder=True"):
        plain.counterfactual(df.head(5), {"x": 0.0}, abduction="encoder")
    # transform is the exact abduction: the noise of y given x, sd 0.5 in y's units
    eps = plain.transform(df)["eps_y"]
    assert abs(eps.std() - 1.0) < 0.1
    enc = CCGMGenerator(g, epochs=20, fit_encoder=True, random_state=0,
                        progress_bar=False).fit(df)
    assert enc.encoder_fitted_ and enc.history_["encoder"]["val_mse"]
    cf_enc = enc.counterfactual(df.head(200), {"x": 0.0}, abduction="encoder")
    cf_exact = enc.counterfactual(df.head(200), {"x": 0.0})
    # the amortised encoder approximates the exact abduction (in y's units, sd 1.1)
    assert np.sqrt(np.mean((cf_enc["y"] - cf_exact["y"]) ** 2)) < 0.15


def test_conditional_prior_under_the_exact_objective_samples_the_trained_spread():
    rng = np.random.default_rng(2)
    x = rng.normal(size=3000)
    df = pd.DataFrame({"x": x, "y": x + 0.5 * rng.normal(size=3000)})
    gen = CCGMGenerator(nx.DiGraph([("x", "y")]), prior="conditional", random_state=0,
                        progress_bar=False).fit(df)
    s = gen.sample(20_000, random_state=0)
    assert abs(s["x"].std() / df["x"].std() - 1) < 0.05
    assert abs(s["y"].std() / df["y"].std() - 1) < 0.05


def test_sparse_first_layer_equals_the_dense_one_on_a_sparse_graph():
    torch.manual_seed(3)
    n = 12
    mask = torch.zeros(n, n, dtype=torch.bool)
    for i in range(1, n):
        mask[i - 1, i] = True                       # a chain: one parent each
    kinds = ["continuous"] * 8 + ["categorical"] * 2 + ["binary"] * 2
    ncat = [0] * 8 + [4, 3] + [2, 2]
    net = CCGMNet(kinds, ncat, [True] + [False] * (n - 1), mask, list(range(n)))
    with torch.no_grad():
        net.W.add_(torch.randn(n, n))
    index = net.input_index()
    assert index is not None and index[0].shape == (n, 4)   # widest parent block: 4
    S = torch.randn(30, net.width)
    assert torch.allclose(net.g(S, net.G, index), net.g(S, net.G), atol=1e-5)
    # a rewritten mask (structure learning, through set_mask) rebuilds the index
    net.set_mask(torch.ones(n, n))
    assert net.input_index() is None and bool(net.mask.all())


def _xy(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": np.tanh(x) + 0.3 * rng.normal(size=n)})


def test_values_beyond_float32_reach_are_refused_naming_the_node():
    gen = CCGMGenerator(nx.DiGraph([("x", "y")]), epochs=5, random_state=0,
                        progress_bar=False).fit(_xy())
    for bad in (1e300, -1e30, 1e7):
        with pytest.raises(ValueError, match="'x'.*standard deviations"):
            gen.intervene({"x": bad}, n_samples=10)
        with pytest.raises(ValueError, match="'x'.*standard deviations"):
            gen.remove_edge("x", "y", how=bad)
    # a large but representable value gives finite output
    out = gen.intervene({"x": 1e5}, n_samples=50, random_state=0)
    assert np.isfinite(out.to_numpy()).all() and (out["x"] == 1e5).all()


def test_causalvae_with_the_exact_objective_is_an_error_not_a_silent_switch():
    g = nx.DiGraph([("x", "y")])
    with pytest.raises(ValueError, match="causalvae.*objective='elbo'"):
        CCGMGenerator(g, variant="causalvae", objective="exact", epochs=1,
                      progress_bar=False).fit(_xy(200))
    gen = CCGMGenerator(g, variant="causalvae", epochs=1, progress_bar=False).fit(_xy(200))
    assert gen.net_.objective == "elbo"                  # objective=None: the variant's own
    with pytest.raises(ValueError, match="'objective' parameter of CCGMGenerator must be"):
        CCGMGenerator(g, objective="mle").fit(_xy(200))


def test_training_that_ends_on_the_epoch_limit_warns():
    from sklearn.exceptions import ConvergenceWarning
    g = nx.DiGraph([("x", "y")])
    with pytest.warns(ConvergenceWarning, match="epoch limit"):
        CCGMGenerator(g, epochs=2, random_state=0, progress_bar=False).fit(_xy())
    with pytest.warns(ConvergenceWarning, match="epoch limit"):
        CCGMGenerator(g, objective="elbo", epochs=2, random_state=0,
                      progress_bar=False).fit(_xy())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gen = CCGMGenerator(g, random_state=0, progress_bar=False).fit(_xy())
    assert gen.history_["converged"]


@pytest.mark.parametrize("names", [(0, 1), (("a", 1), ("b", 2)), (np.int64(3), np.int64(4)),
                                   ("x", "y")])
def test_save_load_is_lossless_for_every_node_name_type(names, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    df = pd.DataFrame({names[0]: x, names[1]: np.tanh(x) + 0.3 * rng.normal(size=400)})
    gen = CCGMGenerator(nx.DiGraph([names]), exogenous=[names[0]],
                        column_types={names[1]: "continuous"}, epochs=3, random_state=0,
                        progress_bar=False).fit(df)
    cut = gen.remove_edge(names[0], names[1], how=0.5)
    path = tmp_path / "m.pt"
    cut.save(path)
    back = CCGMGenerator.load(path)
    assert back.nodes_ == list(names) and back.exogenous_ == [names[0]]
    assert back.removed_edges_ == [tuple(names)]
    assert back.get_params()["column_types"] == {names[1]: "continuous"}
    pd.testing.assert_frame_equal(back.sample(20, random_state=1), cut.sample(20, random_state=1))
    assert list(back.feature_names_in_) == list(names)


def test_save_refuses_unsupported_names_and_names_a_bad_path(tmp_path):
    x = np.random.default_rng(0).normal(size=300)
    a, b = frozenset({"a"}), frozenset({"b"})
    gen = CCGMGenerator(nx.DiGraph([(a, b)]), epochs=2, random_state=0,
                        progress_bar=False).fit(pd.DataFrame({a: x, b: x + 1.0 * x ** 2}))
    with pytest.raises(TypeError, match="frozenset"):
        gen.save(tmp_path / "m.pt")
    ok = CCGMGenerator(nx.DiGraph([("x", "y")]), epochs=2, random_state=0,
                       progress_bar=False).fit(_xy(300))
    with pytest.raises(OSError, match="no_such_dir"):
        ok.save(tmp_path / "no_such_dir" / "m.pt")


def test_interventions_on_integer_columns_refuse_values_the_children_never_saw():
    rng = np.random.default_rng(0)
    k = rng.integers(0, 6, size=1500)
    df = pd.DataFrame({"k": k, "y": 0.5 * k + rng.normal(size=1500)})
    gen = CCGMGenerator(nx.DiGraph([("k", "y")]), epochs=5, random_state=0,
                        progress_bar=False).fit(df)
    with pytest.raises(ValueError, match="'k' holds integers.*2.7"):
        gen.intervene({"k": 2.7}, n_samples=10)
    with pytest.raises(ValueError, match="'k' holds integers"):
        gen.intervene({"k": lambda v: v + 0.5}, n_samples=10)
    out = gen.intervene({"k": 3}, n_samples=100, random_state=0)
    assert (out["k"] == 3).all() and out["k"].dtype == df["k"].dtype


def test_remove_edge_leaves_the_original_and_its_random_stream_untouched():
    g = nx.DiGraph([("x", "y")])
    a = CCGMGenerator(g, epochs=3, random_state=0, progress_bar=False).fit(_xy(500))
    b = CCGMGenerator(g, epochs=3, random_state=0, progress_bar=False).fit(_xy(500))
    cut = a.remove_edge("x", "y", how="marginal")             # random_state=None
    pd.testing.assert_frame_equal(a.sample(50), b.sample(50))  # same stream as if never cut
    assert a.removed_edges_ == [] and cut.removed_edges_ == [("x", "y")]
    s = cut.sample(5000, random_state=1)
    assert abs(s["x"].corr(s["y"])) < 0.05                   # the edge is gone in the copy


def test_trained_parameters_own_their_storage_after_the_fit():
    """The fit lays the trained tensors out in one flat buffer; afterwards every parameter
    has its own storage again and no gradient (a save, a deep copy or a second fit sees
    ordinary parameters)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=600)
    df = pd.DataFrame({"x": x, "y": np.tanh(x) + 0.3 * rng.normal(size=600)})
    g = CCGMGenerator(nx.DiGraph([("x", "y")]), epochs=3, random_state=0,
                      progress_bar=False)
    with pytest.warns(Warning):
        g.fit(df)
    params = list(g.net_.parameters())
    ptrs = [p.untyped_storage().data_ptr() for p in params]
    assert len(set(ptrs)) == len(ptrs)
    assert all(p.untyped_storage().nbytes() == p.numel() * p.element_size() for p in params)
    assert all(p.grad is None for p in params)
