"""Fitting with missing cells under missing-at-random: the likelihood of the observed
factors (a node's p(x_i | pa_i) where it and its parents are observed), against the truth
when the outcome's missingness depends on a covariate (complete cases are then biased);
counterfactuals of units with a missing outcome; the refusals, each naming its column."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator

GRAPH = nx.DiGraph([("x", "t"), ("x", "y"), ("t", "y"), ("w", "y")])


def _expit(v):
    return 1.0 / (1.0 + np.exp(-v))


@pytest.fixture(scope="module")
def mar():
    """y = t + 0.8 x + N(0, 1); y missing with probability expit(1.5 x - 1.5) (25%, most
    where x is high, so complete cases understate E[y]); 8% of t missing completely at
    random (their y too, as a censored follow-up would have)."""
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=n)
    t = (rng.random(n) < _expit(x)).astype(np.int64)
    w = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])       # a categorical root
    y = t + 0.8 * x + 0.5 * (w == "c") + rng.normal(size=n)
    full = pd.DataFrame({"x": x, "t": t, "y": y, "w": w})
    df = full.astype({"t": "float64"})
    miss_y = rng.random(n) < _expit(1.5 * x - 1.5)
    miss_t = rng.random(n) < 0.08
    df.loc[miss_y | miss_t, "y"] = np.nan
    df.loc[miss_t, "t"] = np.nan
    gen = CCGMGenerator(GRAPH, random_state=0, progress_bar=False).fit(df)
    return gen, df, full


def test_observed_factors_recover_the_truth(mar):
    gen, df, full = mar
    assert df["y"].isna().mean() > 0.25
    # complete cases are biased by 0.3 (the truth's E[y] is about 0.5 here) ...
    assert full["y"].mean() - df["y"].mean() > 0.25
    s = gen.sample(60_000, random_state=1)
    assert not s.isna().any().any()          # (the root pool holds no missing row's NaN)
    # ... the model's E[y] is not (sd of the mean of 6000 rows: 0.02)
    assert abs(s["y"].mean() - full["y"].mean()) < 0.06
    assert abs(s["t"].mean() - full["t"].mean()) < 0.02
    # the roots drawn jointly from the rows: their shares (a missing y must not leak in)
    for level, share in (full["w"].value_counts(normalize=True)).items():
        assert abs((s["w"] == level).mean() - share) < 0.01, level
    iv = gen.intervene({"t": 1.0}, 60_000, random_state=2)
    assert not iv.isna().any().any()
    do1 = iv["y"].mean()
    do0 = gen.intervene({"t": 0.0}, 60_000, random_state=2)["y"].mean()
    assert abs((do1 - do0) - 1.0) < 0.1


def test_counterfactuals_of_units_with_a_missing_outcome(mar):
    gen, df, full = mar
    flip = 1.0 - df["t"].fillna(0.0).to_numpy()
    rows = df["t"].notna().to_numpy()
    cf = gen.counterfactual(df[rows], {"t": flip[rows]}, random_state=0)
    assert not cf.isna().any().any()
    truth = full["y"][rows] + (1 - 2 * full["t"][rows])
    seen = df["y"][rows].notna().to_numpy()
    # observed outcomes: the unit's own noise (the truth's CF differs by the effect only)
    assert np.sqrt(np.mean((cf["y"][seen] - truth[seen]) ** 2)) < 0.15
    # missing outcomes: a draw given the unit's x and the new t; their mean is the truth's
    assert abs(cf["y"][~seen].mean() - truth[~seen].mean()) < 0.1
    # the observed columns come back exactly
    np.testing.assert_array_equal(cf["x"].to_numpy(), df["x"][rows].to_numpy())


def test_refusals_name_the_column(mar):
    gen, df, _ = mar
    bad = df.iloc[:5].copy()
    bad.loc[bad.index[0], "t"] = np.nan
    bad.loc[bad.index[0], "y"] = 1.0
    with pytest.raises(ValueError, match=r"missing value of 't' and observed values of its "
                                         r"descendants \['y'\]"):
        gen.counterfactual(bad, {"x": 0.0})
    with pytest.raises(ValueError, match=r"column 't' has \d+ missing"):
        gen.score(df)
    with pytest.raises(ValueError, match=r"columns \['t', 'y'\] have missing.*objective="):
        CCGMGenerator(GRAPH, objective="elbo", epochs=1).fit(df)
    with pytest.raises(ValueError, match=r"columns \['t', 'y'\] have missing.*fit_encoder"):
        CCGMGenerator(GRAPH, fit_encoder=True, epochs=1).fit(df)
    one = df.copy()
    one["y"] = np.nan
    one.loc[one.index[0], "y"] = 1.0
    with pytest.raises(ValueError, match=r"column 'y' has 1 observed values of 6000"):
        CCGMGenerator(GRAPH, epochs=1).fit(one)


def test_counterfactuals_of_units_with_a_missing_discrete_leaf():
    """A missing binary leaf's noise is a prior draw written into the float64 block of the
    discrete nodes' abducted noise: its counterfactual share follows the new parent
    (truth: P(b = 1 | x) = expit(2 x))."""
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(size=n)
    b = (rng.random(n) < _expit(2 * x)).astype(np.float64)
    df = pd.DataFrame({"x": x, "b": b})
    df.loc[rng.random(n) < 0.3, "b"] = np.nan
    gen = CCGMGenerator(nx.DiGraph([("x", "b")]), random_state=0, progress_bar=False).fit(df)
    gone = df[df["b"].isna()]
    cf = gen.counterfactual(gone, {"x": 1.0}, random_state=0)
    assert not cf.isna().any().any()
    model = gen.intervene({"x": 1.0}, 200_000, random_state=1)["b"].mean()
    assert abs(cf["b"].mean() - model) < 0.04      # (sd of the share of 895 units: 0.013)
    assert abs(model - _expit(2.0)) < 0.1          # (the model's own error: 0.06)
    kept = gen.counterfactual(df[df["b"].notna()], {}, random_state=0)
    np.testing.assert_array_equal(kept["b"].to_numpy(), df["b"].dropna().to_numpy())
