"""Tests of the ATE baselines (dowhy_ccgm.ate) and the mindset data (load / simulate).

Reference numbers: the paper's Table II and an independent re-run on the full sample
(see the data README): naive 0.472, IPW 0.407, AIPW 0.409 with common causes
{school_mindset, success_expect}; bootstrap sd about 0.018 (iid) and 0.024 (by school).
"""

import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm.ate import (
    aipw_ate,
    bootstrap_ate,
    estimate_ate,
    ipw_ate,
    naive_ate,
)
from dowhy_ccgm.datasets import MINDSET_SHA256, load_mindset, simulate_mindset

T, Y = "intervention", "achievement_score"
W = ["school_mindset", "success_expect"]
KW = dict(treatment=T, outcome=Y, common_causes=W)


@pytest.fixture(scope="module")
def mindset():
    return load_mindset()


@pytest.fixture(scope="module")
def full_sample(mindset):
    return {
        "naive": naive_ate(mindset, T, Y),
        "ipw": ipw_ate(mindset, T, Y, W),
        "aipw": aipw_ate(mindset, T, Y, W, random_state=0),
    }


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    n = 200
    w = rng.standard_normal(n)
    t = (rng.uniform(size=n) < 0.5).astype(int)
    return pd.DataFrame({"t": t, "y": w + 0.5 * t + rng.standard_normal(n), "w": w,
                         "g": np.repeat(np.arange(20), 10)})


# ----------------------------------------------------------------------------- data
def test_load_mindset_shape_and_dtypes(mindset):
    assert mindset.shape == (10_391, 13)
    assert mindset[T].dtype == np.int64
    assert set(mindset[T].unique()) == {0, 1}
    assert mindset[T].mean() == pytest.approx(0.3257, abs=5e-4)
    assert mindset[Y].dtype == np.float64
    assert mindset["success_expect"].dtype == np.int64
    assert sorted(mindset["success_expect"].unique()) == list(range(1, 8))
    for col in ["schoolid", "ethnicity", "gender", "frst_in_family", "school_urbanicity"]:
        assert isinstance(mindset[col].dtype, pd.CategoricalDtype), col
        assert pd.api.types.is_integer_dtype(mindset[col].cat.categories), col
    assert len(mindset["schoolid"].cat.categories) == 76
    for col in ["school_mindset", "school_achievement", "school_ethnic_minority",
                "school_poverty", "school_size"]:
        assert mindset[col].dtype == np.float64, col
    assert not mindset.isna().any().any()


def test_load_mindset_checksum_and_fresh_copies(monkeypatch):
    import dowhy_ccgm.datasets._mindset as mindset_module
    a = load_mindset(verify_checksum=True)      # the packaged file matches its sha256
    # and the check can fail: a different recorded digest is refused, naming both
    monkeypatch.setattr(mindset_module, "MINDSET_SHA256", "0" * 64)
    with pytest.raises(ValueError, match=f"has sha256 {MINDSET_SHA256}, expected 0000"):
        load_mindset(verify_checksum=True)
    monkeypatch.undo()
    a.loc[0, Y] = 99.0  # the caller owns its frame: a new load is unaffected
    assert load_mindset().loc[0, Y] != 99.0


def test_mindset_correlations_match_paper(mindset):
    c = mindset[["school_mindset", "success_expect", T, Y]].astype(float).corr()
    assert c.loc["success_expect", Y] == pytest.approx(0.439, abs=0.002)
    assert c.loc["school_mindset", Y] == pytest.approx(-0.111, abs=0.002)


# ----------------------------------------------------------------------------- full sample
def test_full_sample_estimates_match_reference(full_sample):
    assert full_sample["naive"] == pytest.approx(0.472, abs=0.005)
    assert full_sample["ipw"] == pytest.approx(0.407, abs=0.01)
    assert full_sample["aipw"] == pytest.approx(0.409, abs=0.01)
    # Confounding inflates the naive estimate.
    assert full_sample["naive"] - full_sample["ipw"] > 0.05


def test_estimate_ate_dispatch(mindset, full_sample):
    assert estimate_ate(mindset, "naive", T, Y, W) == full_sample["naive"]
    assert estimate_ate(mindset, "IPW", T, Y, W) == pytest.approx(full_sample["ipw"], abs=1e-12)
    assert estimate_ate(mindset, "aipw", T, Y, W, random_state=0) == pytest.approx(
        full_sample["aipw"], abs=1e-12)
    with pytest.raises(ValueError, match="Unknown ATE estimator 'tmle'"):
        estimate_ate(mindset, "tmle", T, Y, W)


def test_ipw_leaves_data_untouched_and_is_repeatable(mindset, full_sample):
    before = mindset.copy()
    sub = mindset.sample(3000, random_state=0)
    first = ipw_ate(sub, T, Y, W)
    # A second call on other data must not reuse the first call's propensity column.
    assert ipw_ate(mindset, T, Y, W) == pytest.approx(full_sample["ipw"], abs=1e-12)
    assert ipw_ate(sub, T, Y, W) == pytest.approx(first, abs=1e-12)
    pd.testing.assert_frame_equal(mindset, before)


def test_ipw_and_aipw_accept_categorical_common_causes(mindset):
    cc = W + ["gender", "frst_in_family"]
    ipw = ipw_ate(mindset, T, Y, cc)
    aipw = aipw_ate(mindset, T, Y, cc, random_state=0)
    assert np.isfinite(ipw) and np.isfinite(aipw)
    assert abs(ipw - aipw) < 0.02
    assert 0.3 < aipw < 0.45


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_ipw_iid_and_by_school(mindset, full_sample):
    res = bootstrap_ate(mindset, "ipw", n_bootstrap=30, random_state=0, progress_bar=False, **KW)
    assert set(res) == {"mean", "sd", "q025", "q975", "estimates"}
    est = res["estimates"]
    assert isinstance(est, np.ndarray) and est.shape == (30,)
    assert len(np.unique(est)) == 30
    # Monte-Carlo tolerance of the mean: 3 * 0.018 / sqrt(30) ~ 0.01.
    assert res["mean"] == pytest.approx(full_sample["ipw"], abs=0.012)
    assert res["sd"] == pytest.approx(0.018, abs=0.006)
    assert res["sd"] == pytest.approx(est.std(ddof=1))
    assert res["q025"] < res["mean"] < res["q975"]

    by_school = bootstrap_ate(mindset, "ipw", n_bootstrap=30, cluster="schoolid", random_state=0,
                              progress_bar=False, **KW)
    assert by_school["mean"] == pytest.approx(full_sample["ipw"], abs=0.015)
    assert by_school["sd"] == pytest.approx(0.024, abs=0.006)
    assert by_school["sd"] > res["sd"]


def test_cluster_bootstrap_by_school_is_wider(mindset, full_sample):
    # The cheap naive estimator allows enough resamples to compare the sds precisely
    # (long runs: iid 0.0202, by school 0.0238).
    iid = bootstrap_ate(mindset, "naive", n_bootstrap=1000, random_state=1,
                        progress_bar=False, **KW)
    by_school = bootstrap_ate(mindset, "naive", n_bootstrap=1000, cluster="schoolid",
                              random_state=1, progress_bar=False, **KW)
    assert iid["mean"] == pytest.approx(full_sample["naive"], abs=0.003)
    assert iid["sd"] == pytest.approx(0.020, abs=0.002)
    assert by_school["sd"] == pytest.approx(0.024, abs=0.003)
    assert by_school["sd"] > 1.08 * iid["sd"]


def test_cluster_bootstrap_resamples_whole_groups(toy):
    seen = []

    def record(df, treatment, outcome):
        seen.append(df)
        return naive_ate(df, treatment, outcome)

    bootstrap_ate(toy, record, n_bootstrap=3, cluster="g", random_state=0, progress_bar=False,
                  treatment="t", outcome="y")
    assert len(seen) == 3
    for df in seen:
        assert len(df) == len(toy)  # 20 groups of 10 drawn with replacement
        counts = df["g"].value_counts()
        assert (counts % 10 == 0).all()  # groups come whole, possibly several times
        assert counts.size < 20  # drawn with replacement: some groups are left out
        for g in counts.index:
            assert set(df.loc[df["g"] == g, "y"]) == set(toy.loc[toy["g"] == g, "y"])


def test_bootstrap_reproducible_and_seed_sensitive(mindset):
    a = bootstrap_ate(mindset, "naive", n_bootstrap=20, random_state=7, progress_bar=False, **KW)
    b = bootstrap_ate(mindset, "naive", n_bootstrap=20, random_state=7, progress_bar=False, **KW)
    c = bootstrap_ate(mindset, "naive", n_bootstrap=20, random_state=8, progress_bar=False, **KW)
    np.testing.assert_array_equal(a["estimates"], b["estimates"])
    assert not np.array_equal(a["estimates"], c["estimates"])


def test_bootstrap_passes_per_resample_seeds_and_is_njobs_invariant(mindset):
    sub = mindset.sample(2000, random_state=0)

    def noisy(df, treatment, outcome, random_state):
        # Depends on the seed handed to it, so the test sees the seed plumbing.
        return naive_ate(df, treatment, outcome) + np.random.default_rng(random_state).normal()

    kw = dict(n_bootstrap=6, random_state=3, progress_bar=False, treatment=T, outcome=Y)
    one = bootstrap_ate(sub, noisy, n_jobs=1, **kw)["estimates"]
    two = bootstrap_ate(sub, noisy, n_jobs=2, **kw)["estimates"]
    np.testing.assert_array_equal(one, two)
    # the injected noise differs between resamples: seeds are per resample
    assert np.std(one) > 0.3


@pytest.mark.slow
def test_bootstrap_aipw_njobs_invariant(mindset):
    sub = mindset.sample(3000, random_state=0)
    kw = dict(n_bootstrap=4, random_state=5, progress_bar=False, **KW)
    one = bootstrap_ate(sub, "aipw", n_jobs=1, **kw)["estimates"]
    two = bootstrap_ate(sub, "aipw", n_jobs=2, **kw)["estimates"]
    np.testing.assert_array_equal(one, two)


def test_progress_bar_follows_gcm_config(toy, capfd):
    from dowhy.gcm import config

    old = config.show_progress_bars
    kw = dict(n_bootstrap=3, random_state=0, treatment="t", outcome="y")
    try:
        config.show_progress_bars = False
        bootstrap_ate(toy, "naive", **kw)
        assert "Bootstrapping" not in capfd.readouterr().err
        config.show_progress_bars = True
        bootstrap_ate(toy, "naive", **kw)
        assert "Bootstrapping" in capfd.readouterr().err
        bootstrap_ate(toy, "naive", progress_bar=False, **kw)
        assert "Bootstrapping" not in capfd.readouterr().err
    finally:
        config.show_progress_bars = old


# ----------------------------------------------------------------------------- simulator
def test_simulate_mindset_structure_and_reproducibility():
    a, ate = simulate_mindset(5_000, random_state=11)
    b, _ = simulate_mindset(5_000, random_state=11)
    c, _ = simulate_mindset(5_000, random_state=12)
    assert ate == 0.4
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert list(a.columns) == ["school_mindset", "success_expect", T, Y]
    assert a["success_expect"].dtype == np.int64
    assert a["success_expect"].between(1, 7).all()
    assert a["success_expect"].nunique() == 7
    assert a[T].dtype == np.int64 and set(a[T].unique()) == {0, 1}
    assert 0.25 < a[T].mean() < 0.35
    assert abs(a["school_mindset"].mean()) < 0.1
    assert a["school_mindset"].std() == pytest.approx(1.0, abs=0.1)
    corr = a.corr()
    assert corr.loc["success_expect", Y] > 0.3
    assert corr.loc["school_mindset", Y] < 0
    assert simulate_mindset(100, ate=1.5, random_state=0)[1] == 1.5
    with pytest.raises(ValueError, match="n must be a positive integer"):
        simulate_mindset(0)
    with pytest.raises(ValueError, match="ate must be a finite"):
        simulate_mindset(10, ate=float("nan"))


def test_simulate_mindset_known_ate_recovered_and_naive_biased():
    # n = 50k: the AIPW sampling sd (~0.008) is well inside the 0.03 tolerance.
    data, true_ate = simulate_mindset(50_000, random_state=7)
    aipw = aipw_ate(data, T, Y, W, random_state=0)
    naive = naive_ate(data, T, Y)
    assert aipw == pytest.approx(true_ate, abs=0.03)
    assert naive - true_ate > 0.05


def test_simulate_mindset_effect_scales_with_ate():
    # Same seed, different effect: only the outcome of the treated moves, by the difference.
    a, _ = simulate_mindset(2_000, ate=0.4, random_state=5)
    b, _ = simulate_mindset(2_000, ate=1.0, random_state=5)
    pd.testing.assert_frame_equal(a.drop(columns=Y), b.drop(columns=Y))
    np.testing.assert_allclose(b[Y] - a[Y], 0.6 * a[T], atol=1e-12)


# ----------------------------------------------------------------------------- bad inputs
def test_missing_columns_are_named(toy):
    with pytest.raises(ValueError, match="'nope'"):
        naive_ate(toy, "nope", "y")
    with pytest.raises(ValueError, match="'zzz'"):
        ipw_ate(toy, "t", "y", ["w", "zzz"])
    with pytest.raises(ValueError, match="cluster column 'school'"):
        bootstrap_ate(toy, "naive", n_bootstrap=2, cluster="school", treatment="t", outcome="y")
    with pytest.raises(ValueError, match="needs at least one common cause"):
        aipw_ate(toy, "t", "y", [])
    with pytest.raises(ValueError, match="also listed in common_causes"):
        ipw_ate(toy, "t", "y", ["w", "t"])


def test_non_binary_treatment_rejected(toy):
    bad = toy.assign(t=toy["t"] * 2)
    with pytest.raises(ValueError, match="'t' must be binary 0/1"):
        naive_ate(bad, "t", "y")
    with pytest.raises(ValueError, match="must be binary 0/1"):
        bootstrap_ate(bad, "ipw", n_bootstrap=2, treatment="t", outcome="y", common_causes=["w"])
    # bool treatment is fine
    assert naive_ate(toy.assign(t=toy["t"].astype(bool)), "t", "y") == naive_ate(toy, "t", "y")


def test_nan_and_inf_rejected(toy):
    y_nan = toy.copy()
    y_nan.loc[5, "y"] = np.nan
    with pytest.raises(ValueError, match="outcome column 'y' has 1 NaN/inf"):
        naive_ate(y_nan, "t", "y")
    w_inf = toy.copy()
    w_inf.loc[3, "w"] = np.inf
    with pytest.raises(ValueError, match="common cause column 'w' has 1 NaN/inf"):
        aipw_ate(w_inf, "t", "y", ["w"])
    t_nan = toy.astype({"t": float})
    t_nan.loc[0, "t"] = np.nan
    with pytest.raises(ValueError, match="treatment column 't' has 1 NaN/inf"):
        ipw_ate(t_nan, "t", "y", ["w"])


def test_all_treated_or_all_control_rejected(toy):
    with pytest.raises(ValueError, match="no control"):
        naive_ate(toy.assign(t=1), "t", "y")
    with pytest.raises(ValueError, match="no treated"):
        ipw_ate(toy.assign(t=0), "t", "y", ["w"])


def test_bad_bootstrap_arguments(toy):
    with pytest.raises(ValueError, match="Unknown ATE estimator 'bogus'"):
        bootstrap_ate(toy, "bogus", treatment="t", outcome="y")
    with pytest.raises(TypeError, match="estimator must be"):
        bootstrap_ate(toy, 3, treatment="t", outcome="y")
    for n in (1, 0, 2.5):
        with pytest.raises(ValueError, match="n_bootstrap must be an integer >= 2"):
            bootstrap_ate(toy, "naive", n_bootstrap=n, treatment="t", outcome="y")
    with pytest.raises(ValueError, match="needs treatment=... and outcome="):
        bootstrap_ate(toy, "naive", n_bootstrap=2, treatment="t")


def test_bootstrap_progress_bar_reaches_the_end(capsys):
    df = pd.DataFrame({"t": [0, 1] * 20, "y": np.arange(40.0)})
    bootstrap_ate(df, "naive", n_bootstrap=5, random_state=0, progress_bar=True,
                  treatment="t", outcome="y")
    assert "5/5" in capsys.readouterr().err


def test_mindset_table_prints_no_negative_zero_and_a_legend():
    from dowhy_ccgm.experiments.mindset import format_table
    table = pd.DataFrame([{"method": "x", "source": "real data", "mean": -0.0004, "sd": 0.0,
                           "q025": -0.0001, "q975": 0.0002, "paper_mean": np.nan,
                           "paper_sd": np.nan, "paper_q025": np.nan, "paper_q975": np.nan}])
    text = format_table(table)
    assert "-0.000" not in text and "0.000" in text and "Legend:" in text
