"""CCGMGenerator against ground truth: a small nonlinear SCM with known equations.

x1, x2 ~ N(0, 1) exogenous; x3 = sin(2 x1) + 0.5 x2^2 + 0.3 e3; x4 = 0.8 x3 - 0.5 x1 + 0.3 e4.
"""
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm

N_TRUTH = 200_000
# Tolerance for interventional means: model error at n=3000 training rows plus the Monte
# Carlo error of 50k generated rows (sd ~1/sqrt(50k) = 0.005); measured errors were 0.01-0.04.
TOL_MEAN = 0.08


@pytest.fixture(scope="module")
def data():
    return toy_scm(3000, random_state=0)


@pytest.fixture(scope="module")
def gen(data):
    return CCGMGenerator(TOY_GRAPH, random_state=0, progress_bar=False).fit(data)


def truth(do, n=N_TRUTH):
    return toy_scm(n, random_state=99, do=do).mean()


def test_fit_returns_self_and_fitted_attributes(data):
    g = CCGMGenerator(TOY_GRAPH, epochs=2, random_state=0, progress_bar=False)
    assert g.fit(data) is g
    assert list(g.feature_names_in_) == ["x1", "x2", "x3", "x4"] and g.n_features_in_ == 4
    assert g.exogenous_ == ["x1", "x2"]
    A = g.adjacency_
    assert A.loc["x1", "x1"] == 1.0 and A.loc["x3", "x3"] == 0.0       # B = diag(1, 1, 0, 0)
    assert A.loc["x2", "x4"] == 0.0 and A.loc["x4", "x3"] == 0.0       # masked non-edges
    assert set(g.graph_.edges) == set(TOY_GRAPH.edges)
    assert all("weight" in d for _, _, d in g.graph_.edges(data=True))


def test_observational_marginals_match_data(gen, data):
    s = gen.sample(50_000, random_state=1)
    assert list(s.columns) == list(data.columns)
    assert (s.dtypes == data.dtypes).all()
    assert np.all(np.abs(s.mean() - data.mean()) < 0.08)
    assert np.all(np.abs(s.std() / data.std() - 1) < 0.08)
    # the dependence structure, not only marginals: corr(x3, x4) and corr(x1, x4)
    for a, b in [("x3", "x4"), ("x1", "x4"), ("x1", "x3")]:
        assert abs(s[a].corr(s[b]) - data[a].corr(data[b])) < 0.06


@pytest.mark.parametrize("do", [{"x1": 1.0}, {"x1": -1.2}, {"x2": 1.5}, {"x3": 2.0},
                                {"x1": 0.5, "x2": -1.0}])
def test_interventional_means_match_truth(gen, do):
    est = gen.intervene(do, n_samples=50_000, random_state=2).mean()
    tr = truth(do)
    for col in ["x1", "x2", "x3", "x4"]:
        assert abs(est[col] - tr[col]) < TOL_MEAN, (do, col, est[col], tr[col])


def test_child_intervention_does_not_move_parents(gen):
    iv = gen.intervene({"x3": 3.0}, n_samples=50_000, random_state=3)
    obs = gen.sample(50_000, random_state=3)           # same units, no intervention
    assert np.all(iv["x3"] == 3.0)
    pd.testing.assert_frame_equal(iv[["x1", "x2"]], obs[["x1", "x2"]])
    assert not np.allclose(iv["x4"], obs["x4"])         # ... while the child's child moves


def test_callable_intervention_matches_truth(gen):
    # a shift of 0.5 sd keeps the shifted units mostly inside the training range (a shift
    # of 1 sd puts 16% of them beyond x1 = 2, where sin(2 x1) is extrapolated)
    est = gen.intervene({"x1": lambda x: x + 0.5}, n_samples=50_000, random_state=4)
    obs = gen.sample(50_000, random_state=4)            # the same units without do()
    np.testing.assert_allclose(est["x1"], obs["x1"] + 0.5, atol=1e-6)
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=N_TRUTH) + 0.5
    x2 = rng.normal(size=N_TRUTH)
    x3 = np.sin(2 * x1) + 0.5 * x2 ** 2 + 0.3 * rng.normal(size=N_TRUTH)
    assert abs(est["x3"].mean() - x3.mean()) < TOL_MEAN


def test_unit_level_counterfactuals_are_accurate(gen):
    X = toy_scm(500, random_state=7)
    same = gen.counterfactual(X, {})
    assert np.max(np.abs(same.to_numpy() - X.to_numpy())) < 1e-3      # abduction is exact
    cf = gen.counterfactual(X, {"x3": lambda v: v + 1.0})
    # truth: x4 = 0.8 x3 - 0.5 x1 + 0.3 e4 with the same e4 -> x4 + 0.8
    rmse = np.sqrt(np.mean((cf["x4"] - (X["x4"] + 0.8)) ** 2))
    assert rmse < 0.05, rmse                                          # (measured: 0.016)
    assert np.allclose(cf[["x1", "x2"]], X[["x1", "x2"]])
    cf = gen.counterfactual(X, {"x1": X["x1"].to_numpy() + 0.5})
    true_x3 = X["x3"] + np.sin(2 * (X["x1"] + 0.5)) - np.sin(2 * X["x1"])
    true_x4 = X["x4"] + 0.8 * (true_x3 - X["x3"]) - 0.25
    assert np.sqrt(np.mean((cf["x3"] - true_x3) ** 2)) < 0.12         # (measured: 0.076)
    assert np.sqrt(np.mean((cf["x4"] - true_x4) ** 2)) < 0.12         # (measured: 0.061)


def test_intervene_requires_exactly_one_of_n_samples_and_X(gen, data):
    with pytest.raises(ValueError, match="exactly one"):
        gen.intervene({"x1": 0.0})
    with pytest.raises(ValueError, match="exactly one"):
        gen.intervene({"x1": 0.0}, n_samples=10, X=data.head())
    out = gen.intervene({"x1": 0.0}, X=data.head(5))
    assert list(out.index) == list(data.head(5).index) and np.all(out["x1"] == 0.0)


def test_remove_edge_mean_cuts_only_that_edge(gen):
    cut = gen.remove_edge("x1", "x3", how="mean")
    lo = cut.intervene({"x1": -1.5}, n_samples=50_000, random_state=5).mean()
    hi = cut.intervene({"x1": 1.5}, n_samples=50_000, random_state=5).mean()
    assert abs(hi["x3"] - lo["x3"]) < 0.01                      # x3 no longer sees x1
    # before removal it did: sin(3) - sin(-3) = 0.28
    b_lo = gen.intervene({"x1": -1.5}, n_samples=50_000, random_state=5).mean()
    b_hi = gen.intervene({"x1": 1.5}, n_samples=50_000, random_state=5).mean()
    assert abs((b_hi["x3"] - b_lo["x3"]) - 2 * np.sin(3.0)) < 0.05   # (measured: 0.002)
    # the direct edge x1 -> x4 keeps its effect: -0.5 * 3 = -1.5
    assert abs((hi["x4"] - lo["x4"]) - (-1.5)) < 0.05                # (measured: 0.006)
    # x2 -> x3 keeps its effect: 0.5 * (4 - 0) = 2
    a = cut.intervene({"x2": 2.0}, n_samples=50_000, random_state=6)["x3"].mean()
    b = cut.intervene({"x2": 0.0}, n_samples=50_000, random_state=6)["x3"].mean()
    assert abs((a - b) - 2.0) < 0.05                                  # (measured: 0.007)
    # graph bookkeeping; the original generator is untouched
    assert not cut.graph_.has_edge("x1", "x3") and gen.graph_.has_edge("x1", "x3")
    assert cut.adjacency_.loc["x1", "x3"] == 0.0 and gen.adjacency_.loc["x1", "x3"] != 0.0
    assert cut.removed_edges_ == [("x1", "x3")] and gen.removed_edges_ == []


def test_remove_edge_marginal_and_value(gen):
    cut = gen.remove_edge("x1", "x3", how="marginal", random_state=0)
    s = cut.sample(50_000, random_state=1)
    assert abs(s["x1"].corr(s["x3"])) < 0.03
    # x3 keeps its marginal: x1' is an independent draw of the same distribution
    assert abs(s["x3"].mean() - truth({})["x3"]) < TOL_MEAN
    val = gen.remove_edge("x1", "x3", how=0.5)
    m = val.sample(50_000, random_state=1)["x3"].mean()
    assert abs(m - (np.sin(1.0) + 0.5)) < TOL_MEAN
    # removals compose and keep their order-independent result
    both = cut.remove_edge("x2", "x3", how="mean")
    s = both.sample(20_000, random_state=2)
    assert abs(s["x2"].corr(s["x3"])) < 0.03 and abs(s["x1"].corr(s["x3"])) < 0.03


def test_remove_edge_errors(gen):
    with pytest.raises(ValueError, match="no edge 'x2' -> 'x4'"):
        gen.remove_edge("x2", "x4")
    with pytest.raises(KeyError, match="unknown node 'x9'"):
        gen.remove_edge("x9", "x4")
    with pytest.raises(ValueError, match="how must be"):
        gen.remove_edge("x1", "x3", how="median")
    with pytest.raises(ValueError, match="no edge"):
        gen.remove_edge("x1", "x3").remove_edge("x1", "x3")


def test_reproducible_with_random_state(data):
    kw = dict(epochs=15, random_state=3, progress_bar=False)
    a = CCGMGenerator(TOY_GRAPH, **kw).fit(data)
    b = CCGMGenerator(TOY_GRAPH, **kw).fit(data)
    pd.testing.assert_frame_equal(a.sample(100, random_state=1), b.sample(100, random_state=1))
    pd.testing.assert_frame_equal(a.sample(100), b.sample(100))      # same stream after fit
    assert not a.sample(100, random_state=1).equals(a.sample(100, random_state=2))
    c = CCGMGenerator(TOY_GRAPH, **{**kw, "random_state": 4}).fit(data)
    assert not np.allclose(a.adjacency_, c.adjacency_)


def test_extreme_interventions_stay_finite(gen):
    plain = gen.sample(200, random_state=0)
    for v in (-10.0, 10.0, 1e3):
        out = gen.intervene({"x1": v, "x2": -v}, n_samples=200, random_state=0)
        assert np.isfinite(out.to_numpy()).all()
        assert (out["x1"] == v).all() and (out["x2"] == -v).all()     # exactly the values
    out = gen.intervene({"x3": 40.0}, n_samples=200, random_state=0)
    assert np.isfinite(out.to_numpy()).all() and (out["x3"] == 40.0).all()
    # the intervention reaches descendants only: the roots are the plain draw's, unit by unit
    pd.testing.assert_frame_equal(out[["x1", "x2"]], plain[["x1", "x2"]])
    # and x4 follows x3 upwards (0.8 x3 in truth): every unit above the plain draw's largest
    assert out["x4"].min() > plain["x4"].max()


def test_transform_and_score(gen, data):
    Z = gen.transform(data.head(50))
    assert list(Z.columns) == ["z_x1", "z_x2", "z_x3", "z_x4", "eps_x3", "eps_x4"]
    assert np.isfinite(Z.to_numpy()).all()
    good = gen.score(data)
    shuffled = data.copy()
    shuffled["x4"] = np.random.default_rng(0).permutation(shuffled["x4"].to_numpy())
    assert np.isfinite(good) and good > gen.score(shuffled) + 0.3     # breaks x3 -> x4


def test_variants_ccgm_is_deterministic_and_causalvae_runs(data):
    det = CCGMGenerator(TOY_GRAPH, variant="ccgm", epochs=30, random_state=0,
                        progress_bar=False).fit(data)
    iv = det.intervene({"x1": 0.5, "x2": 0.2}, n_samples=2000, random_state=0)
    assert iv["x3"].std() < 1e-4 and iv["x4"].std() < 1e-4       # no noise: the paper's layer
    noisy = CCGMGenerator(TOY_GRAPH, epochs=30, random_state=0, progress_bar=False).fit(data)
    iv = noisy.intervene({"x1": 0.5, "x2": 0.2}, n_samples=2000, random_state=0)
    assert iv["x3"].std() > 0.15                                 # true conditional sd 0.3
    cv = CCGMGenerator(TOY_GRAPH, variant="causalvae", epochs=10, random_state=0,
                       progress_bar=False).fit(data)
    assert cv.net_.objective == "elbo"
    assert np.isfinite(cv.sample(500, random_state=0).to_numpy()).all()
    assert np.isfinite(cv.counterfactual(data.head(20), {"x1": 0.0},
                                         abduction="encoder").to_numpy()).all()
    elbo = CCGMGenerator(TOY_GRAPH, objective="elbo", epochs=10, random_state=0,
                         progress_bar=False).fit(data)
    assert np.isfinite(elbo.sample(200, random_state=0).to_numpy()).all()


def test_linear_pretraining_recovers_linear_scm_weights():
    import networkx as nx
    rng = np.random.default_rng(0)
    n = 5000
    x1, x2 = rng.normal(size=n), 2 * rng.normal(size=n)
    x3 = 0.8 * x1 - 0.5 * x2 + 0.3 * rng.normal(size=n)
    x4 = 1.5 * x3 + 0.5 * rng.normal(size=n)
    df = pd.DataFrame(dict(x1=x1, x2=x2, x3=x3, x4=x4))
    g = nx.DiGraph([("x1", "x3"), ("x2", "x3"), ("x3", "x4")])
    gen = CCGMGenerator(g, epochs=0, pretrain_epochs=5, random_state=0,
                        progress_bar=False).fit(df)
    sd = df.std(ddof=0)
    A = gen.adjacency_
    # A holds the standardized weights of the linear SCM
    assert abs(A.loc["x1", "x3"] - 0.8 * sd.x1 / sd.x3) < 0.03
    assert abs(A.loc["x2", "x3"] - (-0.5) * sd.x2 / sd.x3) < 0.03
    assert abs(A.loc["x3", "x4"] - 1.5 * sd.x3 / sd.x4) < 0.03


def test_paper_structure_learning_finds_the_chain_and_respects_the_dag_penalty():
    import networkx as nx
    rng = np.random.default_rng(1)
    n = 3000
    a = rng.normal(size=n)
    b = 0.9 * a + 0.4 * rng.normal(size=n)
    c = -0.8 * b + 0.4 * rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": b, "c": c})
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b", "c"])
    gen = CCGMGenerator(g, exogenous=["a"], learn_structure="paper", epochs=40,
                        random_state=0, progress_bar=False).fit(df)
    assert nx.is_directed_acyclic_graph(gen.graph_)
    assert gen.graph_.has_edge("a", "b")               # edges into exogenous a are not allowed
    assert gen.graph_.has_edge("b", "c") or gen.graph_.has_edge("c", "b")
    assert gen.history_["h"][-1] < 0.05
    s = gen.sample(20_000, random_state=0)
    assert abs(s["a"].corr(s["c"]) - df["a"].corr(df["c"])) < 0.08


def test_exact_score_is_the_true_log_likelihood_of_a_gaussian_scm():
    import networkx as nx
    from scipy.stats import norm
    rng = np.random.default_rng(0)
    n = 3000
    a = rng.normal(1, 2, size=n)
    df = pd.DataFrame({"a": a, "b": 0.5 * a + rng.normal(0, 0.5, size=n)})
    gen = CCGMGenerator(nx.DiGraph([("a", "b")]), epochs=60, random_state=0,
                        progress_bar=False).fit(df)
    ta = rng.normal(1, 2, size=5000)
    test = pd.DataFrame({"a": ta, "b": 0.5 * ta + rng.normal(0, 0.5, size=5000)})
    true = np.mean(norm.logpdf(test.a, 1, 2) + norm.logpdf(test.b, 0.5 * test.a, 0.5))
    # measured: -2.839 vs -2.835; 0.03 nats/row allows for finite-sample fitting error
    assert abs(gen.score(test) - true) < 0.03


def test_discrete_nodes_start_at_their_shares():
    """Every discrete node's logits start at its classes' shares in the data (a 3% group,
    a 3-level root, a child): before any training step the model already generates them
    (from an even split it generated 50% of each), so early stopping that ends before an
    intercept converges leaves it right."""
    rng = np.random.default_rng(0)
    n = 4000
    t = (rng.random(n) < 0.03).astype(int)
    df = pd.DataFrame({"c": rng.choice(["a", "b", "c"], size=n, p=[0.7, 0.2, 0.1]), "t": t,
                       "x": rng.normal(size=n) + t})
    df["y"] = (rng.random(n) < 0.1 + 0.1 * t).astype(int)
    g = nx.DiGraph([("t", "x"), ("x", "y"), ("c", "y")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = CCGMGenerator(g, epochs=0, pretrain_epochs=0, random_state=0,
                            progress_bar=False).fit(df)
    s = gen.sample(40_000, random_state=1)
    assert abs(s["t"].mean() - df["t"].mean()) < 0.01
    assert abs(s["y"].mean() - df["y"].mean()) < 0.01
    shares = s["c"].value_counts(normalize=True)
    for level, share in df["c"].value_counts(normalize=True).items():
        assert abs(shares[level] - share) < 0.015, level
