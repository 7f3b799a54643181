"""CCGM in dowhy.gcm: CCGMMechanism / CCGMRootModel, assign_ccgm_mechanisms, to_gcm.

Ground truth from known SCMs. Sizes are small (n = 1500, 30 epochs, hidden 16); every
tolerance is stated next to its assertion.
"""
import pickle

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from dowhy import gcm
from dowhy.gcm.causal_models import PARENTS_DURING_FIT
from dowhy.gcm.util.general import set_random_seed
from sklearn.exceptions import NotFittedError

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.gcm import (
    CCGMDiscreteMechanism,
    CCGMMechanism,
    CCGMRootModel,
    JointEmpiricalDistribution,
    assign_ccgm_mechanisms,
    remove_edge,
    to_gcm,
)

torch.set_num_threads(1)
gcm.config.disable_progress_bars()

N = 1500
FAST = dict(epochs=30, hidden=16, progress_bar=False)
SHIFT = {"lo": -1.0, "mid": 0.0, "hi": 2.0}  # effect of C on Y in the categorical SCM
SIGMA = 0.3


def f_additive(x):
    return 2.0 * np.tanh(2.0 * x) + x


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def additive():
    """X -> Y, Y = f(X) + U, U ~ N(0, 0.5^2): nonlinear additive noise."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    y = f_additive(x) + 0.5 * rng.normal(size=N)
    data = pd.DataFrame({"X": x, "Y": y})
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "Y")]))
    set_random_seed(0)
    assign_ccgm_mechanisms(scm, data, **FAST)
    gcm.fit(scm, data)
    return scm, data


def _categorical_data(n, rng):
    x = rng.normal(size=n)
    t = x + 0.7 * rng.normal(size=n)
    c = np.where(t > 0.6, "hi", np.where(t > -0.6, "mid", "lo")).astype(object)
    u = SIGMA * rng.normal(size=n)
    y = x + np.array([SHIFT[v] for v in c]) + u
    return pd.DataFrame({"X": x, "C": c, "Y": y}), u


@pytest.fixture(scope="module")
def categorical():
    """X -> C -> Y, X -> Y with C a string category; Y = X + shift[C] + U."""
    data, _ = _categorical_data(N, np.random.default_rng(1))
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "C"), ("C", "Y"), ("X", "Y")]))
    set_random_seed(1)
    assign_ccgm_mechanisms(scm, data, **FAST)
    gcm.fit(scm, data)
    return scm, data


def _tiny_data(n=300, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    d = (x + rng.normal(size=n) > 0).astype(np.int64)  # numeric 0/1
    s = np.where(x + rng.normal(size=n) > 0.5, "on", "off").astype(object)
    y = x + d + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"X": x, "D": d, "S": s, "Y": y})


TINY = dict(epochs=3, hidden=8, progress_bar=False)
TINY_EDGES = [("X", "D"), ("X", "S"), ("D", "Y"), ("X", "Y")]


@pytest.fixture(scope="module")
def tiny():
    """Barely trained X -> D -> Y, X -> Y, X -> S (D numeric 0/1, S strings): plumbing
    tests only."""
    data = _tiny_data()
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(TINY_EDGES))
    set_random_seed(3)
    assign_ccgm_mechanisms(scm, data, **TINY)
    gcm.fit(scm, data)
    return scm, data


@pytest.fixture(scope="module")
def generator():
    """A CCGMGenerator on the categorical SCM."""
    data, _ = _categorical_data(N, np.random.default_rng(2))
    graph = nx.DiGraph([("X", "C"), ("C", "Y"), ("X", "Y")])
    gen = CCGMGenerator(graph, column_types={"C": "categorical"}, random_state=0, **FAST)
    return gen.fit(data), data


# ------------------------------------------------------------------------------ accuracy
def test_interventional_means_match_truth(additive):
    scm, _ = additive
    for v in (-1.0, 0.5, 1.0):
        set_random_seed(10)
        s = gcm.interventional_samples(scm, {"X": lambda x, v=v: v}, num_samples_to_draw=4000)
        # E[Y | do(X=v)] = f(v); MC sd 0.5/sqrt(4000) < 0.01, model error allowance 0.15
        assert abs(s["Y"].mean() - f_additive(v)) < 0.15, v
        # the noise spread is kept: sd(Y | do(X=v)) = 0.5
        assert abs(s["Y"].std() - 0.5) < 0.1, v


def test_counterfactuals_of_additive_scm(additive):
    scm, data = additive
    units = data.head(300)
    u = units["Y"] - f_additive(units["X"])
    truth = f_additive(units["X"] + 1.0) + u
    set_random_seed(11)
    cf = gcm.counterfactual_samples(scm, {"X": lambda x: x + 1.0}, observed_data=units)
    rmse = float(np.sqrt(np.mean((cf["Y"] - truth) ** 2)))
    # the noise sd is 0.5: a model that forgot the unit's noise would be at ~0.5
    assert rmse < 0.25, rmse
    # an identity intervention returns the observed data: abduction is an exact inverse
    same = gcm.counterfactual_samples(scm, {"X": lambda x: x}, observed_data=units)
    np.testing.assert_allclose(same["Y"], units["Y"], atol=1e-4)


def test_counterfactuals_beat_dowhy_default(additive):
    """Against what DoWhy's auto-assignment picks here (an additive noise model with
    histogram gradient boosting; its counterfactual RMSE is 0.21-0.26 over seeds)."""
    scm, data = additive
    units = data.head(300)
    truth = f_additive(units["X"] - 1.0) + units["Y"] - f_additive(units["X"])
    base = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "Y")]))
    base.set_causal_mechanism("X", gcm.EmpiricalDistribution())
    base.set_causal_mechanism(
        "Y", gcm.AdditiveNoiseModel(gcm.ml.create_hist_gradient_boost_regressor()))
    set_random_seed(12)
    gcm.fit(base, data)
    errors = {}
    for name, model in (("ccgm", scm), ("dowhy", base)):
        cf = gcm.counterfactual_samples(model, {"X": lambda x: x - 1.0}, observed_data=units)
        errors[name] = float(np.sqrt(np.mean((cf["Y"] - truth) ** 2)))
    assert errors["ccgm"] < errors["dowhy"], errors


# ------------------------------------------------------------------------------ categorical
def test_categorical_node_samples_only_its_labels(categorical):
    scm, data = categorical
    assert isinstance(scm.causal_mechanism("C"), CCGMDiscreteMechanism)
    assert isinstance(scm.causal_mechanism("Y"), CCGMMechanism)
    assert not isinstance(scm.causal_mechanism("Y"), CCGMDiscreteMechanism)
    set_random_seed(20)
    s = gcm.draw_samples(scm, 3000)
    assert set(s["C"]) == {"lo", "mid", "hi"}
    assert s["Y"].dtype == np.float64
    # class frequencies close to the data's (3000 draws: sd of a share < 0.01)
    freq = s["C"].value_counts(normalize=True)
    true = data["C"].value_counts(normalize=True)
    for c in SHIFT:
        assert abs(freq[c] - true[c]) < 0.05, (c, freq[c], true[c])


def test_categorical_intervention(categorical):
    scm, _ = categorical
    set_random_seed(21)
    s = gcm.interventional_samples(scm, {"C": lambda c: "hi"}, num_samples_to_draw=4000)
    assert set(s["C"]) == {"hi"}
    # E[Y | do(C=hi)] = E[X] + 2 = 2 (MC sd ~0.016)
    assert abs(s["Y"].mean() - 2.0) < 0.15
    s = gcm.interventional_samples(scm, {"X": lambda x: 1.5}, num_samples_to_draw=4000)
    # P(C = hi | do(X=1.5)) = P(1.5 + 0.7 Z > 0.6) = Phi(0.9 / 0.7)
    assert abs((s["C"] == "hi").mean() - 0.9007) < 0.06


def test_categorical_counterfactuals(categorical):
    scm, _ = categorical
    units, u = _categorical_data(300, np.random.default_rng(5))
    set_random_seed(22)
    cf = gcm.counterfactual_samples(scm, {"C": lambda c: "hi"}, observed_data=units)
    truth = units["X"] + SHIFT["hi"] + u
    rmse = float(np.sqrt(np.mean((cf["Y"] - truth) ** 2)))
    assert rmse < 0.15, rmse  # noise sd 0.3
    # through the categorical node: X + 3 makes almost every unit "hi" (only valid labels)
    cf = gcm.counterfactual_samples(scm, {"X": lambda x: x + 3.0}, observed_data=units)
    assert set(cf["C"]) <= set(SHIFT)
    assert (cf["C"] == "hi").mean() > 0.9
    # identity intervention: same labels, same Y
    same = gcm.counterfactual_samples(scm, {"X": lambda x: x}, observed_data=units)
    assert (same["C"].to_numpy() == units["C"].to_numpy()).all()
    np.testing.assert_allclose(same["Y"], units["Y"], atol=1e-4)


def test_discrete_abduction_is_monotone(categorical):
    """A unit's counterfactual category never moves against the direction of the
    intervention: with "hi" more likely for every unit after do(X := X + 0.5), no unit that
    was "hi" leaves it (the uniform noise is kept inside its category interval)."""
    scm, _ = categorical
    units, _ = _categorical_data(500, np.random.default_rng(6))
    set_random_seed(23)
    cf = gcm.counterfactual_samples(scm, {"X": lambda x: x + 0.5}, observed_data=units)
    was_hi = units["C"].to_numpy() == "hi"
    assert was_hi.sum() > 50
    assert (cf["C"].to_numpy()[was_hi] == "hi").mean() > 0.98


def test_binary_numeric_node(tiny):
    scm, data = tiny
    assert isinstance(scm.causal_mechanism("D"), CCGMDiscreteMechanism)
    set_random_seed(30)
    s = gcm.interventional_samples(scm, {"X": lambda x: x + 2.0}, num_samples_to_draw=2000)
    assert set(np.unique(s["D"])) <= {0.0, 1.0}
    cf = gcm.counterfactual_samples(scm, {"X": lambda x: x}, observed_data=data.head(50))
    np.testing.assert_array_equal(cf["D"].to_numpy(), data["D"].head(50).to_numpy())
    # a numeric 0/1 parent also takes soft interventions (linear in D)
    s = gcm.interventional_samples(scm, {"D": lambda d: 0.5}, num_samples_to_draw=50)
    assert np.isfinite(s["Y"]).all()


# ------------------------------------------------------------------------------ DoWhy functions
def test_remove_edge_on_ccgm_scm(categorical):
    scm, data = categorical
    set_random_seed(40)
    before = gcm.interventional_samples(scm, {"X": lambda x: 1.0}, num_samples_to_draw=4000)
    fair = remove_edge(scm, "C", "Y", how="marginal")
    assert not fair.graph.has_edge("C", "Y") and scm.graph.has_edge("C", "Y")
    set_random_seed(41)
    s = gcm.interventional_samples(fair, {"X": lambda x: 1.0}, num_samples_to_draw=4000)
    # Y = 1 + shift[C'] + U with C' ~ marginal of C, independent of X
    expected = 1.0 + data["C"].map(SHIFT).mean()
    assert abs(s["Y"].mean() - expected) < 0.15, (s["Y"].mean(), expected)
    # the original still responds to C: E[Y | do(X=1)] = 1 + E[shift[C] | X=1]
    set_random_seed(40)
    again = gcm.interventional_samples(scm, {"X": lambda x: 1.0}, num_samples_to_draw=4000)
    np.testing.assert_allclose(again["Y"], before["Y"])
    assert before["Y"].mean() > expected + 0.3


def test_evaluate_causal_model_runs():
    data = _tiny_data(600)
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(TINY_EDGES))
    set_random_seed(3)
    assign_ccgm_mechanisms(scm, data, **{**TINY, "epochs": 60})
    gcm.fit(scm, data)
    set_random_seed(50)
    result = gcm.evaluate_causal_model(
        scm, data, evaluate_invertibility_assumptions=False, compare_mechanism_baselines=False,
        evaluate_causal_structure=False,
        config=gcm.model_evaluation.EvaluateCausalModelConfig(mechanism_evaluation_kfolds=2,
                                                              n_jobs=1))
    perf = result.mechanism_performances
    assert set(perf) == {"X", "D", "S", "Y"}
    # Y = X + D + 0.3 N: the true mechanism's mean squared error is 0.09 (measured 0.099)
    assert np.isfinite(perf["Y"].crps) and perf["Y"].mse < 0.12
    # the string node goes through DoWhy's categorical path (F1 of classifier_model.predict):
    # as good as the Bayes rule's (S = on iff X + N > 0.5) F1 on the same rows, within 0.1
    bayes = np.where(data["X"] > 0.5, "on", "off")
    from sklearn.metrics import f1_score
    best = f1_score(data["S"], bayes, average="macro")
    assert perf["S"].f1 > best - 0.1 and np.isfinite(perf["D"].crps)
    assert np.isfinite(result.overall_kl_divergence)


def test_arrow_strength_runs_on_ccgm(categorical):
    scm, _ = categorical
    set_random_seed(51)
    strength = gcm.arrow_strength(scm, "Y", num_samples_conditional=300, max_num_runs=30,
                                  n_jobs=1)
    # both parents matter; C (shift range 3) more than the direct X effect on Var(Y | ...)
    assert set(strength) == {("X", "Y"), ("C", "Y")}
    assert strength[("C", "Y")] > 0.2 and strength[("X", "Y")] > 0.05
    # the categorical target uses class probabilities (a ProbabilityEstimatorModel)
    strength_c = gcm.arrow_strength(scm, "C", num_samples_conditional=300, max_num_runs=30,
                                    n_jobs=1)
    assert strength_c[("X", "C")] > 0.1


# ------------------------------------------------------------------------------ plumbing
def test_pickle_and_clone(tiny):
    scm, data = tiny
    clone = pickle.loads(pickle.dumps(scm))
    for model in (scm, clone):
        set_random_seed(60)
        out = gcm.counterfactual_samples(model, {"X": lambda x: x + 1}, observed_data=data.head(20))
        if model is scm:
            first = out
    pd.testing.assert_frame_equal(first, out)
    mech = scm.causal_mechanism("Y")
    fresh = mech.clone()
    assert type(fresh) is CCGMMechanism and fresh.get_params() == mech.get_params()
    with pytest.raises(NotFittedError):
        fresh.draw_samples(np.zeros((3, 2)))
    assert type(scm.causal_mechanism("D").clone()) is CCGMDiscreteMechanism


def test_seeding_carries_through(monkeypatch):
    from dowhy_ccgm.gcm import _memo
    monkeypatch.setattr(_memo, "MAX_ENTRIES", 0)   # (each fit trained: none remembered)
    data = _tiny_data(200, seed=4)
    samples = []
    for _ in range(2):
        scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(TINY_EDGES))
        set_random_seed(70)
        assign_ccgm_mechanisms(scm, data, **TINY)
        gcm.fit(scm, data)
        samples.append(gcm.draw_samples(scm, 50))
    pd.testing.assert_frame_equal(samples[0], samples[1])
    set_random_seed(71)
    other = gcm.draw_samples(scm, 50)
    assert not np.allclose(other["Y"], samples[1]["Y"])


def test_inputs_never_modified_and_read_only_ok(tiny):
    scm, data = tiny
    mech = scm.causal_mechanism("Y")
    X = data[["D", "X"]].to_numpy().copy()
    Y = data["Y"].to_numpy().copy()
    X.flags.writeable = False
    Y.flags.writeable = False
    X0, Y0 = X.copy(), Y.copy()
    noise = mech.estimate_noise(Y, X)
    assert noise.shape == (len(Y), 1)
    noise.flags.writeable = False
    out = mech.evaluate(X, noise)
    assert out.shape == (len(Y), 1)
    np.testing.assert_allclose(out[:, 0], Y, atol=1e-4)
    m = CCGMMechanism(**TINY)
    m.fit(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    assert mech.draw_noise_samples(7).shape == (7, 1)
    assert m.draw_samples(X[:5]).shape == (5, 1)


def test_string_labels_from_object_parent_array():
    """Mixed parents arrive as one object array; a string target comes back as strings."""
    rng = np.random.default_rng(8)
    n = 300
    g = rng.choice(np.array(["a", "b"], dtype=object), size=n)
    x = rng.normal(size=n)
    X = np.empty((n, 2), dtype=object)
    X[:, 0], X[:, 1] = g, x
    y = np.where((g == "a") ^ (x > 0), "yes", "no").astype(object)
    m = CCGMMechanism(**TINY)
    m.fit(X, y)
    assert isinstance(m, CCGMDiscreteMechanism) and m.kind_ == "binary"
    out = m.draw_samples(X)
    assert out.dtype == object and set(out[:, 0]) <= {"yes", "no"}
    probs = m.estimate_probabilities(X[:4])
    assert probs.shape == (4, 2)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    u = m.estimate_noise(y[:40], X[:40])
    np.testing.assert_array_equal(m.evaluate(X[:40], u)[:, 0], y[:40])
    # DoWhy's categorical code paths read a ClassifierFCM's classifier_model
    assert isinstance(m, gcm.ClassifierFCM)
    pred = m.classifier_model.predict(X[:40])
    assert pred.shape == (40, 1) and set(pred[:, 0]) <= {"yes", "no"}
    assert list(m.classes) == ["no", "yes"] and m.get_class_names([1, 0]) == ["yes", "no"]


def test_root_model_and_assignment_options():
    data = _tiny_data(200, seed=5)
    data["R"] = np.where(data["D"] == 1, "on", "off")  # a string root
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(TINY_EDGES + [("R", "Y")]))
    keep = gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())
    scm.set_causal_mechanism("Y", keep)
    assigned = assign_ccgm_mechanisms(scm, data, override_models=False, root_model="ccgm",
                                      **TINY)
    assert scm.causal_mechanism("Y") is keep and "Y" not in assigned
    assert isinstance(scm.causal_mechanism("X"), CCGMRootModel)
    assert scm.causal_mechanism("R").kind == "binary"
    assert isinstance(scm.causal_mechanism("S"), CCGMDiscreteMechanism)
    set_random_seed(80)
    gcm.fit(scm, data)
    s = gcm.draw_samples(scm, 100)
    assert set(s["R"]) <= {"on", "off"} and np.isfinite(s["X"]).all()
    with pytest.raises(TypeError, match="variant"):
        assign_ccgm_mechanisms(scm, data, variant="ccgm")
    with pytest.raises(TypeError, match="unexpected"):
        CCGMMechanism(epoch=3)
    with pytest.raises(ValueError, match="root"):
        CCGMMechanism(**TINY).fit(np.zeros((10, 0)), np.arange(10.0))
    with pytest.raises(ValueError, match="missing"):
        assign_ccgm_mechanisms(scm, data.drop(columns="R"))


def test_progress_bar_follows_dowhy_config(capsys):
    data = _tiny_data(100, seed=6)
    m = CCGMMechanism(epochs=2, hidden=4)  # progress_bar=None: follows gcm.config
    m.fit(data[["X"]].to_numpy(), data["Y"].to_numpy())
    assert "CCGM fit" not in capsys.readouterr().err
    gcm.config.enable_progress_bars()
    try:
        m.fit(data[["X"]].to_numpy(), data["Y"].to_numpy())
    finally:
        gcm.config.disable_progress_bars()
    assert "CCGM fit" in capsys.readouterr().err


# ------------------------------------------------------------------------------ to_gcm
def test_to_gcm_is_fitted_and_matches_generator(generator):
    gen, data = generator
    scm = gen.to_gcm()
    assert isinstance(scm, gcm.InvertibleStructuralCausalModel)
    # the root: the generator's stored root rows (root_sampling="empirical", its default;
    # without a pool a CCGMRootModel, tested in test_gcm_roots.py)
    assert isinstance(scm.causal_mechanism("X"), JointEmpiricalDistribution)
    assert isinstance(scm.causal_mechanism("C"), CCGMDiscreteMechanism)
    assert scm.graph.nodes["Y"][PARENTS_DURING_FIT] == ["C", "X"]
    n = 20_000
    set_random_seed(90)
    s = gcm.interventional_samples(scm, {"X": lambda x: 1.0}, num_samples_to_draw=n)
    ref = gen.intervene({"X": 1.0}, n_samples=n, random_state=0)
    # same model, independent draws: MC sd of the difference of means ~ sqrt(2/n) sd(Y)
    tol = 4 * np.sqrt(2.0 / n) * ref["Y"].std()
    assert abs(s["Y"].mean() - ref["Y"].mean()) < tol
    assert abs((s["C"] == "hi").mean() - (ref["C"] == "hi").mean()) < 0.02
    # unit level: with C intervened on, every noise is continuous and exactly abducted
    units = data.head(200)
    cf = gcm.counterfactual_samples(scm, {"C": lambda c: "lo"}, observed_data=units)
    ref_cf = gen.counterfactual(units, {"C": "lo"})
    np.testing.assert_allclose(cf["Y"].to_numpy(), ref_cf["Y"].to_numpy(), atol=1e-3)
    # the generator is untouched and gcm functions run on the export
    strength = gcm.arrow_strength(scm, "Y", num_samples_conditional=200, max_num_runs=20,
                                  n_jobs=1)
    assert set(strength) == {("X", "Y"), ("C", "Y")}


def test_to_gcm_exports_removed_edges(generator):
    gen, _ = generator
    fair = gen.remove_edge("C", "Y", how="marginal", random_state=0)
    scm = to_gcm(fair)
    assert not scm.graph.has_edge("C", "Y") and scm.graph.has_edge("X", "Y")
    assert scm.graph.nodes["Y"][PARENTS_DURING_FIT] == ["X"]
    n = 20_000
    set_random_seed(91)
    s = gcm.interventional_samples(scm, {"X": lambda x: -1.0}, num_samples_to_draw=n)
    ref = fair.intervene({"X": -1.0}, n_samples=n, random_state=1)
    tol = 4 * np.sqrt(2.0 / n) * ref["Y"].std()
    assert abs(s["Y"].mean() - ref["Y"].mean()) < tol
    # Y no longer listens to C: do(C) leaves Y's distribution unchanged
    a = gcm.interventional_samples(scm, {"C": lambda c: "hi"}, num_samples_to_draw=n)
    b = gcm.interventional_samples(scm, {"C": lambda c: "lo"}, num_samples_to_draw=n)
    assert abs(a["Y"].mean() - b["Y"].mean()) < tol


def test_one_edge_removal_policy_for_generator_and_export(generator):
    """After a "marginal" removal both APIs give the SAME unit-level counterfactuals: the
    removed parent is fed its reference value (here C's most frequent category) in
    abduction and prediction, so a no-op counterfactual returns the observed units."""
    gen, data = generator
    fair = gen.remove_edge("C", "Y", random_state=0)        # the default how: "marginal"
    units = data.head(200)
    same = fair.counterfactual(units, {})
    np.testing.assert_allclose(same["Y"].to_numpy(), units["Y"].to_numpy(), atol=1e-4)
    ref = fair.counterfactual(units, {"X": 1.0})
    cf = gcm.counterfactual_samples(to_gcm(fair), {"X": lambda x: 1.0}, observed_data=units)
    np.testing.assert_allclose(cf["Y"].to_numpy(), ref["Y"].to_numpy(), atol=1e-3)
    # Y no longer listens to C at unit level either
    a = fair.counterfactual(units, {"C": "hi"})["Y"].to_numpy()
    b = fair.counterfactual(units, {"C": "lo"})["Y"].to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    # how="mean" on a categorical parent is refused, naming the parent and the options
    with pytest.raises(ValueError, match="parent 'C' is categorical.*how='marginal'"):
        gen.remove_edge("C", "Y", how="mean")



def test_both_apis_keep_the_dtypes_of_the_data():
    """A binary int64 node comes back as int64 from the gcm path as from the generator."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    b = (x + rng.normal(size=500) > 0).astype(np.int64)
    df = pd.DataFrame({"x": x, "b": b, "y": x + b + 0.3 * rng.normal(size=500)})
    graph = nx.DiGraph([("x", "b"), ("b", "y"), ("x", "y")])
    scm = gcm.InvertibleStructuralCausalModel(graph)
    assign_ccgm_mechanisms(scm, df, epochs=3, progress_bar=False)
    gcm.fit(scm, df)
    gen = CCGMGenerator(graph, epochs=3, progress_bar=False).fit(df)
    for out in (gcm.draw_samples(scm, 50),
                gcm.interventional_samples(scm, {"x": lambda v: 1.0}, num_samples_to_draw=50),
                gcm.counterfactual_samples(scm, {"x": lambda v: v + 1}, observed_data=df[:9]),
                gen.sample(50, random_state=0)):
        assert out.dtypes.to_dict() == df.dtypes.to_dict()
        assert set(out["b"]) <= {0, 1}


def test_refit_on_other_data_detects_point_masses_again():
    """gcm.distribution_change refits the mechanisms on another period: a point mass found
    in the first data is not a declaration that the second must hold; a declared one that
    the data lack is refused naming the node, not the mechanism's internal frame."""
    r = np.random.default_rng(0)
    x = r.normal(size=500)
    old = pd.DataFrame({"x": x, "y": np.where(r.random(500) < 0.9, 1000.0, 990 + x)})
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("x", "y")]))
    assign_ccgm_mechanisms(scm, old, epochs=5, progress_bar=False)
    gcm.fit(scm, old)
    assert scm.causal_mechanism("y").fitted_.schema.by_name["target"].atoms == [1000.0]
    gcm.fit(scm, old.assign(y=old.y * 0.9))
    assert scm.causal_mechanism("y").fitted_.schema.by_name["target"].atoms == [900.0]
    declared = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("x", "y")]))
    assign_ccgm_mechanisms(declared, old, column_types={"y": {"atoms": [1000.0]}}, epochs=5,
                           progress_bar=False)
    with pytest.raises(ValueError, match=r"'y'.*point masses \[1000.0\]"):
        gcm.fit(declared, old.assign(y=old.y * 0.9))


def test_progress_bar_setting_travels_to_worker_processes(tmp_path):
    """DoWhy's parallel calls fit mechanisms in worker processes whose dowhy.gcm.config
    starts with bars on: a mechanism made with progress_bar=None in a process whose bars
    are off carries that setting to the worker, not back again."""
    import pickle
    import subprocess
    import sys

    from dowhy_ccgm.gcm import CCGMMechanism
    mech = CCGMMechanism(epochs=1)
    gcm.config.disable_progress_bars()
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(mech))
    code = ("import pickle, sys; m = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "import dowhy.gcm; print(dowhy.gcm.config.show_progress_bars, m._progress_bar())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "False"]
    # at home the process's own (current) setting rules: None defers to it
    assert pickle.loads(path.read_bytes())._progress_bar() is None


def test_mechanism_fit_names_the_node_it_reads():
    """A ``dowhy.gcm`` mechanism reads one node of its star fit: ``history_["used"]``
    says which, the fitted conditional is right, and ``fit_model`` refuses a node it
    does not have, by name."""
    from dowhy_ccgm._fit import fit_model
    from dowhy_ccgm._params import DEFAULTS
    rng = np.random.default_rng(0)
    n = 3000
    x = np.where(rng.random(n) < 0.5, -2.0, 2.0) + 0.3 * rng.normal(size=n)
    y = 0.5 * x + 0.2 * rng.normal(size=n)
    mech = CCGMMechanism(epochs=200, random_state=0, progress_bar=False)
    mech.fit(x.reshape(-1, 1), y)
    assert mech.history_["used"] == ["target"] and mech.history_["steps"] > 0
    grid = np.linspace(-2.5, 2.5, 11).reshape(-1, 1)
    np.random.seed(0)
    draws = np.stack([np.asarray(mech.evaluate(grid, mech.draw_noise_samples(11)),
                                 dtype=float).ravel() for _ in range(400)])
    np.testing.assert_allclose(draws.mean(0), 0.5 * grid.ravel(), atol=0.04)
    np.testing.assert_allclose(draws.std(0), 0.2, atol=0.03)
    params = {**DEFAULTS, "graph": nx.DiGraph([("x", "y")]), "progress_bar": False,
              "epochs": 2}
    with pytest.raises(KeyError, match="used node 'z'"):
        fit_model(params, pd.DataFrame({"x": x, "y": y}), used=["z"])


def _count_fits(monkeypatch) -> list:
    """A list that grows by one at every star fit the CCGM mechanisms train."""
    from dowhy_ccgm.gcm import _mechanism
    calls = []
    real = _mechanism.fit_model
    monkeypatch.setattr(_mechanism, "fit_model",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_identical_refits_are_trained_once(monkeypatch):
    """DoWhy refits a node on the same rows with the same settings (distribution_change's
    unchanged nodes, in both copies of the model): the fit is trained once, and what the
    mechanism gets is what a fresh fit computes, in a network of its own."""
    from dowhy_ccgm.gcm import _memo
    _memo.clear()
    calls = _count_fits(monkeypatch)
    data = _tiny_data(250, seed=8)
    X, y = data[["D", "X"]].to_numpy(), data["Y"].to_numpy()
    first = CCGMMechanism(random_state=5, **TINY)
    first.fit(X, y)
    second, third = first.clone(), first.clone()
    second.fit(X, y)
    third.fit(X, y)
    assert len(calls) == 1
    monkeypatch.setattr(_memo, "MAX_ENTRIES", 0)
    fresh = CCGMMechanism(random_state=5, **TINY)
    fresh.fit(X, y)
    assert len(calls) == 2
    got, want = second.fitted_.net.state_dict(), fresh.fitted_.net.state_dict()
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert second.history_ == fresh.history_
    noise = np.linspace(-2.0, 2.0, 250)
    np.testing.assert_array_equal(second.evaluate(X, noise), fresh.evaluate(X, noise))
    # no network is shared: changing the second leaves the first and the third as they were
    before = first.evaluate(X, noise)
    with torch.no_grad():
        second.fitted_.net.decoder.a.add_(1.0)
    np.testing.assert_array_equal(first.evaluate(X, noise), before)
    np.testing.assert_array_equal(third.evaluate(X, noise), before)
    assert not np.allclose(second.evaluate(X, noise), before)
    # other rows or another seed are trained; the same again is not
    monkeypatch.setattr(_memo, "MAX_ENTRIES", 8)
    y2 = y.copy()
    y2[0] += 1e-3
    CCGMMechanism(random_state=5, **TINY).fit(X, y2)
    assert len(calls) == 3
    CCGMMechanism(random_state=6, **TINY).fit(X, y)
    assert len(calls) == 4
    CCGMMechanism(random_state=5, **TINY).fit(X, y)
    assert len(calls) == 4
    _memo.clear()
    CCGMMechanism(random_state=5, **TINY).fit(X, y)
    assert len(calls) == 5


def test_distribution_change_with_remembered_fits_is_unchanged(monkeypatch):
    """gcm.distribution_change fits an unchanged node twice on the joint data: with the
    memo it is trained once and the attribution is the same to the last bit."""
    from dowhy_ccgm.gcm import _memo
    rng = np.random.default_rng(11)
    old = _tiny_data(200, seed=9)[["X", "Y"]]
    new = old.copy()
    new["X"] = rng.normal(loc=1.0, size=200)
    new["Y"] = f_additive(new["X"]) + 0.3 * rng.normal(size=200)
    old["Y"] = f_additive(old["X"]) + 0.3 * rng.normal(size=200)
    calls = _count_fits(monkeypatch)
    out = []
    for entries in (0, 8):
        monkeypatch.setattr(_memo, "MAX_ENTRIES", entries)
        _memo.clear()
        calls.clear()
        scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "Y")]))
        assign_ccgm_mechanisms(scm, old, random_state=3, **TINY)
        set_random_seed(12)
        att = gcm.distribution_change(scm, old, new, "Y", num_samples=300,
                                      difference_estimation_func=lambda a, b:
                                      np.mean(b) - np.mean(a))
        out.append((att, len(calls)))
    (off, fits_off), (on, fits_on) = out
    assert fits_off == 2 and fits_on == 1
    assert off == on and abs(off["X"]) > 0.5


def test_set_fit_memo_bounds_and_switches_off_the_memo(monkeypatch):
    from dowhy_ccgm.gcm import _memo, set_fit_memo
    _memo.clear()
    calls = _count_fits(monkeypatch)
    data = _tiny_data(150, seed=21)
    X, y = data[["X"]].to_numpy(), data["Y"].to_numpy()
    before = set_fit_memo(1)
    try:
        assert before == 8
        for seed in (1, 2, 2, 1):            # one kept: the last seed only
            CCGMMechanism(random_state=seed, **TINY).fit(X, y)
        assert len(calls) == 3
        assert set_fit_memo(0) == 1 and not _memo._memo
        CCGMMechanism(random_state=1, **TINY).fit(X, y)
        CCGMMechanism(random_state=1, **TINY).fit(X, y)
        assert len(calls) == 5
        for bad in (-1, 1.5, True, "8"):
            with pytest.raises(ValueError, match="max_entries"):
                set_fit_memo(bad)
    finally:
        set_fit_memo(before)
