"""The refit bootstrap (dowhy_ccgm.bootstrap): ground-truth effects, reproducibility
independent of workers and of the backend (a Dask LocalCluster), failing replicates named,
bad input refused before any fit, DoWhy's own fit_and_compute with CCGM mechanisms, and a
quick calibration (the refit interval's width against the estimator's real spread)."""
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.ate import resample_rows
from dowhy_ccgm.bootstrap import (
    BootstrapError,
    DoATE,
    EffectOnTreated,
    NaiveATE,
    OnGenerated,
    bootstrap,
)

torch.set_num_threads(1)
ATE = 0.4
GRAPH = nx.DiGraph([("x", "t"), ("x", "y"), ("t", "y")])


def simulate(n, seed):
    """x -> t -> y, x -> y; constant effect ATE (so the ATT is ATE too); the naive
    difference is biased upwards by the confounder x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(np.int64)
    y = ATE * t + x + 0.5 * rng.normal(size=n)
    return pd.DataFrame({"x": x, "t": t, "y": y})


def estimator(**kw):
    return CCGMGenerator(GRAPH, column_types={"t": "binary"}, hidden=16, progress_bar=False,
                         **kw)


@pytest.fixture(scope="module")
def data():
    return simulate(600, 0)


@pytest.fixture(scope="module")
def result(data):
    stats = {"naive": NaiveATE("t", "y", n_samples=20_000),
             "debiased": NaiveATE("t", "y", remove_edges=[("x", "t")], n_samples=20_000),
             "do": DoATE("t", "y", n_samples=20_000),
             "att": EffectOnTreated("t", "y"),
             "mean_y": OnGenerated(lambda d: float(d["y"].mean()), n_samples=5_000)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bootstrap(estimator(epochs=40), data, stats, n_bootstrap=4, random_state=1,
                         progress_bar=False)


def test_statistics_against_the_truth(result, data):
    est = result.estimate
    # the de-biased, interventional and on-the-treated effects are the true 0.4 within 0.15
    # (n = 600 rows: the estimator's own spread is about 0.05-0.1)
    for name in ("debiased", "do", "att"):
        assert abs(est[name] - ATE) < 0.15, (name, est[name])
    # the generated naive difference keeps the confounding bias (data: about 1.5)
    data_naive = data.y[data.t == 1].mean() - data.y[data.t == 0].mean()
    assert abs(est["naive"] - data_naive) < 0.2
    assert est["naive"] - est["debiased"] > 0.8
    assert abs(est["mean_y"] - data.y.mean()) < 0.15
    s = result.summary()
    assert list(s.columns) == ["estimate", "mean", "sd", "low", "high"]
    assert (s["sd"] > 0).all() and (s["low"] <= s["high"]).all()
    assert result.replicates.shape == (4, 5)
    assert len(result.seeds) == 4 and len(set(result.seeds)) == 4


def test_interval_and_summary_agree(result):
    lo, hi = result.interval("do")
    v = result.replicates["do"].to_numpy()
    assert (lo, hi) == tuple(np.quantile(v, [0.025, 0.975]))
    assert result.interval("do", confidence_level=0.5)[1] <= hi
    with pytest.raises(ValueError, match="5 statistics"):
        result.interval()
    with pytest.raises(KeyError, match="'nope'"):
        result.interval("nope")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_same_replicates_with_one_or_two_workers(data):
    kw = dict(n_bootstrap=3, random_state=5, progress_bar=False)
    stat = DoATE("t", "y", n_samples=5_000)
    a = bootstrap(estimator(epochs=6), data, stat, n_jobs=1, **kw)
    b = bootstrap(estimator(epochs=6), data, stat, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    assert a.seeds == b.seeds and a.estimate == b.estimate
    # a different seed gives different replicates (the seed is used)
    c = bootstrap(estimator(epochs=6), data, stat, n_jobs=1, n_bootstrap=3, random_state=6,
                  progress_bar=False)
    assert not np.allclose(a.replicates.to_numpy(), c.replicates.to_numpy())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_replicate_can_be_rerun_alone(data):
    """Replicate b is its seed's resample fitted with its recorded random_state."""
    stat = DoATE("t", "y", n_samples=5_000)
    res = bootstrap(estimator(epochs=6), data, stat, n_bootstrap=2, random_state=9,
                    progress_bar=False)
    child = np.random.SeedSequence(9).spawn(3)[2]             # replicate 1
    rows = resample_rows(np.random.default_rng(child), len(data), None)
    gen = estimator(epochs=6, random_state=res.seeds[1])
    gen.fit(data.iloc[rows].reset_index(drop=True), groups=rows)
    stat_seed = int(np.random.SeedSequence(int(child.generate_state(2, dtype=np.uint32)[1]))
                    .generate_state(1)[0])
    assert stat(gen, None, stat_seed) == res.replicates["statistic"].iloc[1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_estimator_gives_the_point_estimate(data):
    gen = estimator(epochs=6, random_state=3).fit(data)
    stat = NaiveATE("t", "y", remove_edges=[("x", "t")], n_samples=5_000)
    res = bootstrap(gen, data, stat, n_bootstrap=2, random_state=0, progress_bar=False)
    seed = int(np.random.SeedSequence(0).spawn(3)[0].generate_state(2, dtype=np.uint32)[1])
    stat_seed = np.random.SeedSequence(seed).generate_state(1)[0]
    assert res.estimate["statistic"] == stat(gen, data, stat_seed)
    assert hasattr(gen, "model_") and gen.random_state == 3      # not refit, not changed


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cluster_bootstrap_resamples_whole_clusters(data):
    frame = data.assign(school=np.repeat(np.arange(6), [50, 50, 100, 100, 150, 150]))
    sizes = bootstrap(estimator(epochs=2), frame, lambda gen, d, rs: float(len(d)),
                      n_bootstrap=4, cluster="school", random_state=0, progress_bar=False)
    # cluster resamples: sums of 6 drawn cluster sizes (not all 600); iid: always 600
    assert set(sizes.replicates["statistic"]) - {600.0}
    assert all(v % 50 == 0 for v in sizes.replicates["statistic"])
    iid = bootstrap(estimator(epochs=2), data, lambda gen, d, rs: float(len(d)),
                    n_bootstrap=2, random_state=0, progress_bar=False)
    assert set(iid.replicates["statistic"]) == {600.0}
    assert sizes.cluster == "school"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_failing_replicate_is_named(data):
    def fails_on_resamples(gen, d, rs):
        if len(d.drop_duplicates()) < len(d):          # a resample (has duplicate rows)
            raise RuntimeError("boom")
        return 0.0
    with pytest.raises(BootstrapError, match=r"replicate 0 of 3 \(fit random_state=\d+, "
                                             r"seed spawn key \(1,\)\).*'statistic'.*boom"):
        bootstrap(estimator(epochs=2), data, fails_on_resamples, n_bootstrap=3,
                  random_state=0, progress_bar=False)

    with pytest.raises(BootstrapError, match="point estimate.*not finite"):
        bootstrap(estimator(epochs=2), data, lambda g, d, rs: float("nan"), n_bootstrap=2,
                  random_state=0, progress_bar=False)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(statistic=NaiveATE("t", "y", remove_edges=[("y", "t")])), ValueError,
     "'y' -> 't'.*not an edge"),
    (dict(statistic=DoATE("T", "y")), KeyError, "unknown node 'T'"),
    (dict(statistic=OnGenerated(np.mean, interventions={"z": 1})), KeyError, "'z'"),
    (dict(statistic="naive"), TypeError, "statistic 'statistic' must be callable"),
    (dict(statistic={}), ValueError, "empty dict"),
    (dict(n_bootstrap=1), ValueError, "n_bootstrap must be an integer >= 2"),
    (dict(confidence_level=95), ValueError, "confidence_level"),
    (dict(cluster="school"), ValueError, "cluster column 'school' not found"),
    (dict(estimator="CCGM"), TypeError, "estimator must be a CCGMGenerator"),
    (dict(data=np.zeros((5, 3))), TypeError, "data must be a pandas DataFrame"),
])
def test_bad_input_refused_before_any_fit(data, kwargs, error, match):
    args = dict(estimator=estimator(epochs=1), data=data, statistic=DoATE("t", "y"),
                n_bootstrap=2, random_state=0, progress_bar=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        bootstrap(args.pop("estimator"), args.pop("data"), args.pop("statistic"), **args)


@pytest.mark.parametrize("edges, match", [
    ([("x",)], r"remove_edges\[0\] must be"), ("xt", r"remove_edges\[0\]"),
])
def test_bad_edge_lists(edges, match):
    with pytest.raises(ValueError, match=match):
        NaiveATE("t", "y", remove_edges=edges)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        DoATE("t", "y", n_samples=1)


def test_grouped_validation_split_keeps_duplicates_together():
    from dowhy_ccgm._training import _split
    rows = resample_rows(np.random.default_rng(0), 500, None)
    val, tr = _split(len(rows), 0.2, torch.Generator().manual_seed(0), rows)
    assert len(val) + len(tr) == 500
    assert not set(rows[val.numpy()]) & set(rows[tr.numpy()])
    distinct = len(np.unique(rows))
    assert abs(len(np.unique(rows[val.numpy()])) - 0.2 * distinct) <= 1
    # without groups: the old split, unchanged
    v0, t0 = _split(500, 0.2, torch.Generator().manual_seed(0))
    assert len(v0) == 100 and sorted(np.r_[v0.numpy(), t0.numpy()]) == list(range(500))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_cluster_gives_the_local_replicates(data):
    """The same call on a distributed.LocalCluster with 2 worker processes (joblib's dask
    backend) returns the local run's replicates exactly."""
    distributed = pytest.importorskip("distributed")
    import joblib
    stat = DoATE("t", "y", n_samples=5_000)
    kw = dict(n_bootstrap=3, random_state=11, progress_bar=False)
    local = bootstrap(estimator(epochs=6), data, stat, **kw)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        remote = bootstrap(estimator(epochs=6), data, stat, **kw)
    pd.testing.assert_frame_equal(local.replicates, remote.replicates)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dowhy_fit_and_compute_with_ccgm_mechanisms():
    """DoWhy's own model-inclusive intervals (gcm.fit_and_compute + confidence_intervals)
    refit CCGM mechanisms on every resample."""
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed

    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    d = simulate(600, 1)
    scm = gcm.InvertibleStructuralCausalModel(GRAPH)
    assign_ccgm_mechanisms(scm, d, epochs=30, hidden=16, progress_bar=False)
    set_random_seed(0)
    gcm.config.disable_progress_bars()
    median, interval = gcm.confidence_intervals(
        gcm.fit_and_compute(gcm.average_causal_effect, scm, d, target_node="y",
                            interventions_alternative={"t": lambda v: 1},
                            interventions_reference={"t": lambda v: 0},
                            num_samples_to_draw=5_000),
        num_bootstrap_resamples=3)
    # the interventional effect is the true 0.4 within 0.2 (450-row subsets)
    median = float(np.ravel(median)[0])
    lo, hi = np.ravel(interval)
    # the true 0.4 within about two standard errors of an adjusted ATE on 450-row subsets
    # (0.5 * sqrt(1/150 + 1/300) * 1.3 for the confounding: 0.065; measured 0.406), and far
    # from the naive difference that the confounder x biases upwards
    assert abs(median - ATE) < 0.13, median
    naive = d.y[d.t == 1].mean() - d.y[d.t == 0].mean()
    assert abs(median - ATE) < abs(naive - ATE) / 5, (median, naive)
    assert lo <= median <= hi and hi - lo > 0


def test_quick_calibration():
    """The refit interval includes the fit: over R = 5 independent data sets its bootstrap
    sd matches the real spread of the point estimate (ratio within [0.5, 2]; without
    refitting it would be the generation noise of 20k rows, about 0.01) and most of the
    nominal 95% intervals cover the truth."""
    stat = DoATE("t", "y", n_samples=20_000)
    points, sds, covered = [], [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in range(5):
            res = bootstrap(estimator(epochs=40), simulate(300, 100 + r), stat,
                            n_bootstrap=6, random_state=r, progress_bar=False)
            points.append(res.estimate["statistic"])
            sds.append(res.replicates["statistic"].std(ddof=1))
            lo, hi = res.interval()
            covered += lo <= ATE <= hi
    ratio = np.mean(sds) / np.std(points, ddof=1)
    assert 0.5 < ratio < 2.0, (ratio, points, sds)
    assert np.mean(sds) > 0.03
    assert covered >= 3, (covered, points)


def test_interval_methods(result):
    v = result.replicates["do"].to_numpy()
    est = result.estimate["do"]
    lo, hi = np.quantile(v, [0.025, 0.975])
    assert result.interval("do", method="basic") == pytest.approx((2 * est - hi, 2 * est - lo))
    n_lo, n_hi = result.interval("do", method="normal")
    assert n_hi - est == pytest.approx(est - n_lo)
    assert (n_hi - n_lo) / 2 == pytest.approx(1.959964 * v.std(ddof=1), rel=1e-5)
    assert result.summary("normal").loc["do", "high"] == pytest.approx(n_hi)
    with pytest.raises(ValueError, match="method must be one of"):
        result.interval("do", method="bca")


def test_warns_when_replicates_are_too_few_for_the_percentile_interval():
    from dowhy_ccgm.bootstrap import BootstrapResult
    rng = np.random.default_rng(0)

    def result(n):
        reps = pd.DataFrame({"ate": rng.normal(0.4, 0.1, n)})
        return BootstrapResult({"ate": 0.4}, reps, tuple(range(n)), 0.95)
    # 95%: 49 replicates expect 1.2 beyond each end (< 1.25): too short; 50 do not warn
    with pytest.warns(RuntimeWarning, match=r"'ate'.*49 replicates.*n_bootstrap >= 50"):
        result(49).interval()
    with pytest.warns(RuntimeWarning, match="basic interval"):
        result(20).interval(method="basic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result(50).interval()
        result(20).interval(method="normal")
        result(25).interval(confidence_level=0.9)     # 90%: 25 replicates suffice
    with pytest.warns(RuntimeWarning, match=r"n_bootstrap >= 25"):
        result(24).interval(confidence_level=0.9)
