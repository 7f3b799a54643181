"""Correlated roots (issue 10): root_sampling="empirical" keeps the roots' joint law."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator

C = np.array([[1, .7, .4, .2], [.7, 1, .5, .3], [.4, .5, 1, .6], [.2, .3, .6, 1]])
GRAPH = nx.DiGraph([(r, "y") for r in "abcd"])
#: E[y | do(a=1)] = tanh(1) + 0.5 E[b c] with (b, c) keeping their law: cov(b, c) = 0.5
TRUE_DO = np.tanh(1.0) + 0.5 * 0.5


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    R = rng.multivariate_normal(np.zeros(4), C, size=5000)
    df = pd.DataFrame(R, columns=list("abcd"))
    df["y"] = np.tanh(R[:, 0]) + 0.5 * R[:, 1] * R[:, 2] + 0.3 * rng.normal(size=5000)
    return df


@pytest.fixture(scope="module")
def fitted(data):
    return {mode: CCGMGenerator(GRAPH, root_sampling=mode, random_state=0,
                                progress_bar=False).fit(data)
            for mode in ("empirical", "independent")}


def test_empirical_roots_keep_the_correlations_and_the_do_effect(data, fitted):
    gen = fitted["empirical"]
    s = gen.sample(100_000, random_state=1)
    assert np.abs(s.corr().to_numpy() - data.corr().to_numpy()).max() < 0.05   # measured 0.005
    m = gen.intervene({"a": 1.0}, n_samples=100_000, random_state=2)
    assert abs(m["y"].mean() - TRUE_DO) < 0.06                                   # measured 0.013
    # do(a) leaves the other roots' joint law alone
    assert abs(m["b"].corr(m["c"]) - 0.5) < 0.03 and (m["a"] == 1.0).all()
    # the roots are rows of the data (up to the float32 states): no new root combination
    gen_rows = s[list("abcd")].head(500).to_numpy()[:, None, :]
    dist = np.abs(gen_rows - data[list("abcd")].to_numpy()[None, :, :]).max(-1).min(-1)
    assert dist.max() < 1e-4


def test_independent_roots_lose_the_correlations_and_bias_the_effect(data, fitted):
    """The paper's independent roots, for contrast (what "empirical" fixes)."""
    gen = fitted["independent"]
    s = gen.sample(100_000, random_state=1)
    assert np.abs(s.corr().to_numpy() - data.corr().to_numpy()).max() > 0.5
    m = gen.intervene({"a": 1.0}, n_samples=100_000, random_state=2)["y"].mean()
    assert abs(m - TRUE_DO) > 0.15


def test_empirical_roots_in_counterfactuals_edge_removal_and_files(data, fitted, tmp_path):
    gen = fitted["empirical"]
    units = data.head(100)
    cf = gen.counterfactual(units, {"a": 0.0})
    np.testing.assert_allclose(cf[list("bcd")], units[list("bcd")], atol=1e-5)
    cut = gen.remove_edge("a", "y", random_state=0)
    s = cut.sample(50_000, random_state=3)
    assert abs(s["a"].corr(s["b"]) - 0.7) < 0.03      # the roots still come jointly
    assert abs(s["a"].corr(s["y"])) < abs(gen.sample(50_000, random_state=3)["a"].corr(
        gen.sample(50_000, random_state=3)["y"]))
    gen.save(tmp_path / "m.ccgm")
    back = CCGMGenerator.load(tmp_path / "m.ccgm")
    pd.testing.assert_frame_equal(back.sample(1000, random_state=4),
                                  gen.sample(1000, random_state=4))


# ------------------------------------------------------------------ the Gaussian copula
@pytest.fixture(scope="module")
def mixed():
    """The same latent correlations with a skewed, a binary and a zero-inflated root."""
    rng = np.random.default_rng(1)
    R = rng.multivariate_normal(np.zeros(4), C, size=5000)
    df = pd.DataFrame({"a": R[:, 0], "b": np.exp(R[:, 1]),
                       "c": (R[:, 2] > 0.3).astype(np.int64),
                       "d": np.where(R[:, 3] < -0.2, 0.0, np.exp(0.3 * R[:, 3]))})
    df["y"] = np.tanh(R[:, 0]) + 0.5 * R[:, 1] * R[:, 2] + 0.3 * rng.normal(size=5000)
    gen = CCGMGenerator(GRAPH, root_sampling="copula", random_state=0,
                        progress_bar=False).fit(df)
    return df, gen


def _rank_corr(frame):
    return frame[list("abcd")].rank().corr().to_numpy()


def test_copula_roots_keep_rank_correlations_with_new_values(mixed, tmp_path):
    df, gen = mixed
    s = gen.sample(100_000, random_state=1)
    # measured 0.016 (independent roots: about 0.6); rank correlations of 100k draws have
    # sd about 0.003
    assert np.abs(_rank_corr(s) - _rank_corr(df)).max() < 0.05
    assert abs(s["c"].mean() - df["c"].mean()) < 0.02            # binomial sd 0.007
    assert abs((s["d"] == 0).mean() - (df["d"] == 0).mean()) < 0.02
    # new values: almost no generated a repeats a training value (the empirical mode
    # repeats every one)
    a = np.sort(df["a"].to_numpy())
    gen_a = s["a"].to_numpy()[:5000]
    pos = np.clip(np.searchsorted(a, gen_a), 1, len(a) - 1)
    gap = np.minimum(abs(a[pos] - gen_a), abs(a[pos - 1] - gen_a))
    assert (gap < 1e-6).mean() < 0.05
    # the file keeps only the copula (a 4 x 4 factor), no training rows, and samples alike
    assert gen.model_.roots.kind == "copula"
    pool = gen.model_.roots.state_dict()               # (what the file holds)
    assert tuple(pool["copula"].shape) == (4, 4) and all(
        pool[k].shape[0] == 0 for k in ("z", "eps", "unif"))
    gen.save(tmp_path / "c.ccgm")
    back = CCGMGenerator.load(tmp_path / "c.ccgm")
    assert back.root_sampling == "copula"
    pd.testing.assert_frame_equal(back.sample(2000, random_state=5),
                                  gen.sample(2000, random_state=5))


def test_copula_roots_under_interventions_counterfactuals_and_dowhy(mixed):
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    df, gen = mixed
    m = gen.intervene({"a": 1.0}, n_samples=100_000, random_state=2)
    assert (m["a"] == 1.0).all()
    # the other roots keep their joint law (rank correlation of b and d)
    assert abs(m[["b", "d"]].rank().corr().iloc[0, 1]
               - df[["b", "d"]].rank().corr().iloc[0, 1]) < 0.03
    units = df.head(100)
    cf = gen.counterfactual(units, {"a": 0.0})
    np.testing.assert_allclose(cf[["b", "d"]], units[["b", "d"]], atol=1e-5)
    assert (cf["c"] == units["c"]).all()
    scm = gen.to_gcm()                    # a joint block of rows drawn from the copula
    set_random_seed(6)
    s = gcm.draw_samples(scm, 20_000)
    assert np.abs(_rank_corr(s) - _rank_corr(df)).max() < 0.06   # sd about 0.007


def test_a_damaged_copula_is_named(mixed, tmp_path):
    import torch
    _, gen = mixed
    gen.save(tmp_path / "c.ccgm")
    payload = torch.load(tmp_path / "c.ccgm", weights_only=False)
    payload["root_pool"]["copula"] = torch.full((3, 3), float("nan"))
    torch.save(payload, tmp_path / "bad.ccgm")
    with pytest.raises(ValueError, match="root_pool.*copula"):
        CCGMGenerator.load(tmp_path / "bad.ccgm")


def test_copula_orders_a_many_level_categorical_root():
    """A 3-level root whose codes (alphabetical: hi, lo, mid) are not its order along the
    other roots: the copula reads it in the order that lines it up with them, so E[x | c]
    is reproduced (in code order it came out 0.2 / -0.03 / -0.27 against the data's 0.68
    / -1.17 / 0.21); the reordering is a bijection of the noise."""
    import torch
    from dowhy_ccgm._root_sampling import _reorder_uniform
    p = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    u = torch.rand(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for perm in ([2, 0, 1], [1, 2, 0]):
        v = _reorder_uniform(u, p, perm)
        assert torch.allclose(_reorder_uniform(v, p, perm, inverse=True), u, atol=1e-12)
        assert not torch.allclose(v, u)
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    t = x + rng.normal(size=4000)
    c = np.where(t > 0.5, "hi", np.where(t > -0.5, "mid", "lo"))
    w = 0.6 * x + 0.8 * rng.normal(size=4000)
    df = pd.DataFrame({"x": x, "c": c, "w": w,
                       "y": x + (c == "hi") + 0.3 * rng.normal(size=4000)})
    gen = CCGMGenerator(nx.DiGraph([("x", "y"), ("c", "y"), ("w", "y")]),
                        root_sampling="copula", random_state=0, progress_bar=False).fit(df)
    s = gen.sample(100_000, random_state=1)
    for level in ("hi", "mid", "lo"):
        assert abs((s["c"] == level).mean() - (df["c"] == level).mean()) < 0.02
        # measured within 0.02; the data's conditional means have sd about 0.03
        assert abs(s.loc[s["c"] == level, "x"].mean()
                   - df.loc[df["c"] == level, "x"].mean()) < 0.1
        assert abs(s.loc[s["c"] == level, "w"].mean()
                   - df.loc[df["c"] == level, "w"].mean()) < 0.1
    assert abs(s["x"].corr(s["w"]) - df["x"].corr(df["w"])) < 0.03
