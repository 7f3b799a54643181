"""``ccgm fairness`` (DECAF's protocol on Adult): the experiment's core function in quick
mode on a subsample, its pieces (the path-specific row's paths, the DoWhy GCM peer), and a
smoke run of the command.

What the fast run can check: with 3,000 rows and 10 epochs the CCGM is underfit, but the
quantities below differ by far more than their noise. The real training data's income gap
between the sexes is about 0.19 (P(>50K | Male) - P(>50K | Female)); the fully fair data
keeps only the part carried by age, race and country (about 0.05, the sexes' different
age and race mix; no path from sex), and a classifier that sees each test unit in the fair
world has a demographic-parity difference near that floor, against about 0.2 for the
classifier trained on real data (measured on two seeds, 0.12 against 0.17-0.18; the sd
of a DP difference on 600 test rows is about 0.03). The DoWhy GCM peer and the command's
smoke run are marked slow (about 10-20 s each).
"""
import json

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from dowhy_ccgm._paths import reference_edges
from dowhy_ccgm.datasets import adult_graph, load_adult
from dowhy_ccgm.experiments import fairness as F

WITHOUT_GCM = [F.REAL, F.UNAWARE, F.CCGM, F.FAIR, F.PATH, F.FAIR_WORLD, F.FAIR_WORLD_T]


@pytest.fixture(scope="module")
def quick_run():
    return F.fairness_table(quick=True, n_rows=3000, epochs=10, include_gcm=False,
                            progress_bar=False, random_state=5)


def test_table_structure(quick_run):
    table, art = quick_run
    assert list(table["method"]) == WITHOUT_GCM
    for m in F.METRICS:
        assert m in table and f"{m}_sd" in table
    assert (table["n_seeds"] == 1).all()
    assert table[[f"{m}_sd" for m in F.METRICS]].isna().all().all()   # one seed: no sd
    for m in ("precision", "recall", "auroc", "dp", "ftu", "cf_unfairness"):
        assert table[m].between(0, 1).all(), m
    by = table.set_index("method")
    assert by.loc[F.REAL, "auroc_cost"] == 0.0
    assert by.loc[F.REAL, "auroc"] > 0.8
    assert by.loc[F.UNAWARE, "ftu"] == 0.0            # sex is not an input
    assert by.loc[F.CCGM, "auroc"] > 0.7              # generated data keep utility
    per_seed = art["per_seed"]
    assert len(per_seed) == len(WITHOUT_GCM) and set(per_seed["seed"]) == set(
        art["settings"]["seeds"])
    info = art["info"][0]
    assert info["n_train"] + info["n_test"] + info["n_test_dropped"] == 3000
    assert art["target"]["dp_max"] == 0.02 and art["target"]["row"] == F.FAIR
    assert isinstance(art["target"]["met"], bool)
    json.dumps(F.table_records(table))                 # JSON-ready
    md = F.format_markdown(table)
    assert md.count("\n") == len(table) + 1 and "| CCGM fair: no path from sex |" in md


def test_fair_rows_remove_the_bias(quick_run):
    """The fair data carry a much smaller income gap than the real data, and the
    classifier that sees the test units in the fair world is far closer to demographic
    parity than the classifier trained on real data."""
    table, _ = quick_run
    by = table.set_index("method")
    assert by.loc[F.REAL, "data_dp"] > 0.15
    assert by.loc[F.FAIR, "data_dp"] < by.loc[F.REAL, "data_dp"] - 0.08
    assert by.loc[F.FAIR_WORLD, "dp"] < by.loc[F.REAL, "dp"] - 0.03
    assert by.loc[F.FAIR_WORLD_T, "dp"] < by.loc[F.REAL, "dp"] - 0.03
    # ... and it moves far less under each unit's own counterfactual of sex
    assert by.loc[F.FAIR_WORLD, "cf_unfairness"] < by.loc[F.REAL, "cf_unfairness"] - 0.04
    # fair data: the classifier barely reads sex (it is independent of the rest there)
    assert by.loc[F.FAIR, "ftu"] < by.loc[F.REAL, "ftu"] + 0.02


def test_fair_world_labels_are_the_draws_mean(quick_run):
    """The fair-world predictor is randomized (its inputs are posterior draws): its label is
    the draws' mean label, so a unit of the reference group (its own counterpart in every
    draw) keeps a 0/1 label, and a plain classifier's dp is that of its thresholded score."""
    from sklearn.metrics import precision_score
    table, art = quick_run
    per = art["per_seed"]
    plain = per[~per["method"].isin([F.FAIR_WORLD, F.FAIR_WORLD_T])]
    np.testing.assert_allclose(plain["dp"], plain["dp_mean_score_thresholded"])
    gen = art["gens"][0]
    data = load_adult().sample(1000, random_state=1)
    known = gen.schema_.by_name["country"].categories
    data = data[data["country"].isin(known)].head(400)       # (the fit saw 3,000 rows)
    features = [c for c in data.columns if c != F.LABEL]

    class Hours:              # P(income = 1) rises with the hours worked
        classes_ = np.array([0, 1])
        feature_names_in_ = np.asarray(features, dtype=object)

        def predict_proba(self, frame):
            p = np.clip((frame["hr_per_week"].to_numpy(float) - 20.0) / 50.0, 0.0, 1.0)
            return np.column_stack([1.0 - p, p])

    pred = F.FairWorldPredictor(Hours(), gen, {F.PROTECTED: F.REFERENCE},
                                random_state=0, n_draws=4)
    draws = pred.draw_probabilities(data[features])
    score, labels = F.scores_and_labels(pred, data[features])
    np.testing.assert_allclose(score, draws.mean(0))
    np.testing.assert_allclose(labels, (draws >= 0.5).mean(0))
    men = (data[F.PROTECTED] == F.REFERENCE).to_numpy()
    assert set(np.unique(labels[men])) <= {0.0, 1.0}
    np.testing.assert_array_equal(draws[:, men], np.broadcast_to(draws[0, men],
                                                                 draws[:, men].shape))
    y = (data["hr_per_week"] > 45).astype(int).to_numpy()
    s, lab = F.scores_and_labels(Hours(), data[features])
    assert precision_score(y, lab.astype(int)) == float(np.sum(lab * y) / lab.sum())


def test_paths_via_education():
    g = adult_graph()
    paths = F.paths_via(g, "sex", "education_num")
    assert all(p[:2] == ["sex", "education_num"] for p in paths)
    assert ["sex", "education_num", "income"] in paths
    assert len({tuple(p) for p in paths}) == len(paths)
    # a valid set of named paths (no recanting witness) that cuts every other route
    edges = set(reference_edges(g, {"sex"}, paths))
    assert ("sex", "education_num") not in edges
    assert {("sex", "income"), ("sex", "marital"), ("marital", "education_num")} <= edges
    with pytest.raises(ValueError):
        F.paths_via(g, "sex", "capital_gain")


@pytest.mark.slow
def test_gcm_peer_small(monkeypatch):
    from dowhy.gcm import config
    monkeypatch.setattr(config, "default_n_jobs", 1)   # no worker processes to start
    data = load_adult().sample(300, random_state=0).reset_index(drop=True)
    with threadpool_limits(1):
        out, pre = F.gcm_sample(adult_graph(), data, 300, random_state=0)
    assert list(out.columns) == list(data.columns) and len(out) == 300
    assert set(np.unique(out["income"])) <= {0, 1}
    # the nodes with a category of under 5 rows got DoWhy's classifier up front
    rare = [c for c in pre if data[c].value_counts().min() < 5]
    assert rare == pre and "occupation" in pre


@pytest.mark.slow
def test_cli_quick_run(tmp_path, capsys):
    from dowhy_ccgm.cli import main
    out_json = tmp_path / "fairness.json"
    rc = main(["fairness", "--quick", "--n-rows", "2000", "--epochs", "5", "--no-gcm",
               "--no-progress", "--out", str(tmp_path / "out"), "--json", str(out_json)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| real data |" in printed and "Target: DP" in printed
    res = json.loads(out_json.read_text())
    assert [r["method"] for r in res["table"]] == WITHOUT_GCM
    assert res["decaf_published"] is None
    assert (tmp_path / "out" / "fairness.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "table.md").read_text().count("| CCGM") == 5
    assert isinstance(pd.DataFrame(res["per_seed"]), pd.DataFrame)
