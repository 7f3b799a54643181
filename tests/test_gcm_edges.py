"""Tests of dowhy_ccgm.gcm._edges.remove_edge on fitted dowhy.gcm causal models."""

import pickle

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from dowhy import gcm
from dowhy.gcm.causal_mechanisms import (
    ConditionalStochasticModel,
    FunctionalCausalModel,
    InvertibleFunctionalCausalModel,
    ProbabilityEstimatorModel,
    StochasticModel,
)
from dowhy.gcm.causal_models import PARENTS_DURING_FIT
from dowhy.gcm.util.general import set_random_seed
from threadpoolctl import threadpool_limits

from dowhy_ccgm.gcm._edges import (
    EdgeRemovedInvertibleMechanism,
    EdgeRemovedMechanism,
    EdgeRemovedRootMechanism,
    remove_edge,
)

gcm.config.disable_progress_bars()

N = 2000
B, C, SIGMA = 2.0, -1.5, 0.5  # Y = B*X + C*Z + N(0, SIGMA^2)
EX, EZ = 1.0, 2.0  # E[X], E[Z]; Var X = Var Z = 1


def _linear_scm(graph_edges, data, model_class=gcm.InvertibleStructuralCausalModel):
    scm = model_class(nx.DiGraph(graph_edges))
    for node in scm.graph.nodes:
        if scm.graph.in_degree(node) == 0:
            scm.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        else:
            scm.set_causal_mechanism(
                node, gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())
            )
    gcm.fit(scm, data)
    return scm


@pytest.fixture(scope="module")
def independent():
    """X -> Y <- Z with X, Z independent."""
    rng = np.random.default_rng(1)
    x = rng.normal(EX, 1.0, N)
    z = rng.normal(EZ, 1.0, N)
    y = B * x + C * z + rng.normal(0, SIGMA, N)
    data = pd.DataFrame({"X": x, "Z": z, "Y": y})
    return _linear_scm([("X", "Y"), ("Z", "Y")], data), data


@pytest.fixture(scope="module")
def mediated():
    """X -> Z -> Y and X -> Y, Z = 0.8 X + 1.2 + N(0, 0.6^2) (Var Z = 1, Cov(X, Z) = 0.8)."""
    rng = np.random.default_rng(2)
    x = rng.normal(EX, 1.0, N)
    z = 0.8 * x + 1.2 + rng.normal(0, 0.6, N)
    y = B * x + C * z + rng.normal(0, SIGMA, N)
    data = pd.DataFrame({"X": x, "Z": z, "Y": y})
    return _linear_scm([("X", "Z"), ("X", "Y"), ("Z", "Y")], data), data


def _samples(model, n=5000, seed=0):
    set_random_seed(seed)
    return gcm.draw_samples(model, n)


def _slope_intercept(s):
    slope, intercept = np.polyfit(s["Z"], s["Y"], 1)
    return slope, intercept


# ------------------------------------------------------------------------------------------
# Distributional semantics of the three modes
# ------------------------------------------------------------------------------------------
def test_mean_removes_dependence_and_sets_mean(independent):
    scm, data = independent
    new = remove_edge(scm, "X", "Y", "mean", data=data)
    s = _samples(new)
    assert abs(np.corrcoef(s["X"], s["Y"])[0, 1]) < 0.05  # original: about 0.78
    assert s["Y"].mean() == pytest.approx(B * EX + C * EZ, abs=0.1)  # -1.0
    assert s["Y"].var() == pytest.approx(C**2 + SIGMA**2, rel=0.08)  # 2.5 (original 6.5)
    assert _slope_intercept(s)[0] == pytest.approx(C, abs=0.06)


def test_marginal_gives_variance_under_independence(mediated):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", "marginal", random_state=0)  # marginal drawn from model
    s = _samples(new)
    # Under independence of X' and Z: Var Y = B^2 + C^2 + SIGMA^2 = 6.5; the original is 1.7.
    assert s["Y"].var() == pytest.approx(B**2 + C**2 + SIGMA**2, rel=0.08)
    assert _samples(scm)["Y"].var() == pytest.approx(1.7, rel=0.1)
    assert s["Y"].mean() == pytest.approx(B * EX + C * EZ, abs=0.12)
    # The remaining edge Z -> Y keeps its coefficient (original regression slope: 0.1).
    assert _slope_intercept(s)[0] == pytest.approx(C, abs=0.08)


def test_value_shifts_by_coefficient_times_value(mediated):
    scm, data = mediated
    s_value = _samples(remove_edge(scm, "X", "Y", 3.0))
    s_mean = _samples(remove_edge(scm, "X", "Y", "mean", data=data))
    slope, intercept = _slope_intercept(s_value)
    assert slope == pytest.approx(C, abs=0.06)
    assert intercept == pytest.approx(B * 3.0, abs=0.15)  # true intercept of Y is 0
    shift = s_value["Y"].mean() - s_mean["Y"].mean()
    assert shift == pytest.approx(B * (3.0 - data["X"].mean()), abs=0.12)


def test_marginal_draws_follow_global_seed(mediated):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", data=data)
    a, b, c = _samples(new, 500, 7), _samples(new, 500, 7), _samples(new, 500, 8)
    assert np.array_equal(a["Y"], b["Y"])
    assert not np.allclose(a["Y"], c["Y"])


# ------------------------------------------------------------------------------------------
# Interventions, average causal effect, counterfactuals, arrow strength
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["marginal", "mean"])
def test_do_x_has_no_direct_effect(mediated, how):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", how, data=data)
    observed = data.iloc[:500]
    out = []
    for x_value in (5.0, -3.0):
        set_random_seed(3)
        out.append(
            gcm.interventional_samples(
                new, {"X": lambda x, v=x_value: v, "Z": lambda z: 2.0}, observed_data=observed
            )["Y"].to_numpy()
        )
    assert np.allclose(out[0], out[1])
    set_random_seed(3)
    y_orig = gcm.interventional_samples(
        scm, {"X": lambda x: 5.0, "Z": lambda z: 2.0}, observed_data=observed
    )["Y"]
    assert abs(y_orig.mean() - out[0].mean()) > 5  # the original model: B * (5 - E[X]) = 8


def test_average_causal_effect_only_through_mediator(mediated):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", "mean", data=data)
    kwargs = dict(
        interventions_alternative={"X": lambda x: 1.0},
        interventions_reference={"X": lambda x: 0.0},
        num_samples_to_draw=10000,
    )
    set_random_seed(4)
    ace_new = gcm.average_causal_effect(new, "Y", **kwargs)
    set_random_seed(4)
    ace_orig = gcm.average_causal_effect(scm, "Y", **kwargs)
    assert ace_new == pytest.approx(0.8 * C, abs=0.1)  # -1.2, only X -> Z -> Y
    assert ace_orig == pytest.approx(B + 0.8 * C, abs=0.1)  # 0.8


@pytest.mark.parametrize("how", ["marginal", "mean", 3.0])
def test_counterfactuals_exact_for_remaining_parent(mediated, how):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", how, data=data)
    assert isinstance(new, gcm.InvertibleStructuralCausalModel)
    c_hat = new.causal_mechanism("Y").mechanism.prediction_model.sklearn_model.coef_[1]
    observed = data.iloc[:300]
    # No-op intervention reproduces the factual Y exactly (consistent abduction).
    same = gcm.counterfactual_samples(new, {"X": lambda x: x}, observed_data=observed)
    assert np.allclose(same["Y"], observed["Y"], atol=1e-9)
    # do(Z := z + 1) moves Y by c per unit.
    cf = gcm.counterfactual_samples(new, {"Z": lambda z: z + 1}, observed_data=observed)
    diff = (cf["Y"] - observed["Y"]).to_numpy()
    assert np.ptp(diff) < 1e-9
    assert diff[0] == pytest.approx(c_hat) and c_hat == pytest.approx(C, abs=0.06)
    # do(X := x + 1) reaches Y only through Z: 0.8 * c (original: B + 0.8 * c).
    cf = gcm.counterfactual_samples(new, {"X": lambda x: x + 1}, observed_data=observed)
    diff = (cf["Y"] - observed["Y"]).to_numpy()
    assert np.ptp(diff) < 1e-9
    assert diff[0] == pytest.approx(0.8 * C, abs=0.08)


def test_arrow_strength_reports_no_removed_arrow(mediated):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", data=data)
    set_random_seed(5)
    strengths = gcm.arrow_strength(new, "Y", num_samples_conditional=500, n_jobs=1)
    assert set(strengths) == {("Z", "Y")}
    assert strengths[("Z", "Y")] > 1.0  # about 2 * C^2 * Var Z = 4.5
    assert set(gcm.arrow_strength(scm, "Y", num_samples_conditional=500, n_jobs=1)) == {
        ("X", "Y"),
        ("Z", "Y"),
    }


# ------------------------------------------------------------------------------------------
# Structure, copies, wrapper classes, pickling, clone
# ------------------------------------------------------------------------------------------
def test_original_model_untouched(mediated):
    scm, data = mediated
    mechanism = scm.causal_mechanism("Y")
    coef = mechanism.prediction_model.sklearn_model.coef_.copy()
    new = remove_edge(scm, "X", "Y", "mean", data=data)
    assert scm.graph.has_edge("X", "Y") and not new.graph.has_edge("X", "Y")
    assert scm.causal_mechanism("Y") is mechanism
    assert scm.graph.nodes["Y"][PARENTS_DURING_FIT] == ["X", "Z"]
    assert new.graph.nodes["Y"][PARENTS_DURING_FIT] == ["Z"]
    wrapped = new.causal_mechanism("Y").mechanism
    assert wrapped is not mechanism
    assert np.array_equal(wrapped.prediction_model.sklearn_model.coef_, coef)
    assert new.causal_mechanism("Z") is not scm.causal_mechanism("Z")
    s = _samples(scm)
    assert np.corrcoef(s["X"], s["Y"] - C * s["Z"])[0, 1] > 0.9  # still Y depends on X
    assert np.array_equal(mechanism.prediction_model.sklearn_model.coef_, coef)


def test_child_becomes_root_node():
    rng = np.random.default_rng(6)
    x = rng.normal(EX, 1.0, N)
    data = pd.DataFrame({"X": x, "Y": B * x + rng.normal(0, SIGMA, N)})
    scm = _linear_scm([("X", "Y")], data)
    new = remove_edge(scm, "X", "Y", data=data)
    assert isinstance(new.causal_mechanism("Y"), EdgeRemovedRootMechanism)
    assert isinstance(new.causal_mechanism("Y"), StochasticModel)
    assert new.graph.nodes["Y"][PARENTS_DURING_FIT] == []
    s = _samples(new)
    assert abs(np.corrcoef(s["X"], s["Y"])[0, 1]) < 0.05
    assert s["Y"].var() == pytest.approx(B**2 + SIGMA**2, rel=0.08)  # marginal draws of X
    s = _samples(remove_edge(scm, "X", "Y", "mean", data=data))
    assert s["Y"].var() == pytest.approx(SIGMA**2, rel=0.1)
    cf = gcm.counterfactual_samples(new, {"X": lambda x: x + 1}, observed_data=data.iloc[:100])
    assert np.allclose(cf["Y"], data["Y"].iloc[:100])  # Y is exogenous now


class _InteractionModel(ConditionalStochasticModel):
    """Custom mechanism: Y = a X0 + b X1 + c X0 X1 + N(0, sd^2) over the sorted parents (X, Z)."""

    def __init__(self):
        self.beta, self.sd = None, None

    @staticmethod
    def _features(X):
        X = np.asarray(X, dtype=float)
        return np.column_stack([X[:, 0], X[:, 1], X[:, 0] * X[:, 1]])

    def fit(self, X, Y):
        features = self._features(X)
        self.beta = np.linalg.lstsq(features, np.ravel(Y), rcond=None)[0]
        self.sd = float(np.std(np.ravel(Y) - features @ self.beta))

    def draw_samples(self, parent_samples):
        mean = self._features(parent_samples) @ self.beta
        return (mean + np.random.normal(0, self.sd, mean.shape[0]))[:, None]

    def clone(self):
        return _InteractionModel()


def test_custom_conditional_model_in_probabilistic_causal_model():
    rng = np.random.default_rng(7)
    x, z = rng.normal(EX, 1.0, N), rng.normal(EZ, 1.0, N)
    y = 1.5 * x * z - 2.0 * x + rng.normal(0, SIGMA, N)
    data = pd.DataFrame({"X": x, "Z": z, "Y": y})
    pcm = gcm.ProbabilisticCausalModel(nx.DiGraph([("X", "Y"), ("Z", "Y")]))
    for node in ("X", "Z"):
        pcm.set_causal_mechanism(node, gcm.EmpiricalDistribution())
    pcm.set_causal_mechanism("Y", _InteractionModel())
    gcm.fit(pcm, data)
    new = remove_edge(pcm, "X", "Y", 2.0)
    assert type(new) is gcm.ProbabilisticCausalModel
    mechanism = new.causal_mechanism("Y")
    assert isinstance(mechanism, EdgeRemovedMechanism)
    assert not isinstance(mechanism, FunctionalCausalModel)
    slope, intercept = _slope_intercept(_samples(new))
    assert slope == pytest.approx(1.5 * 2.0, abs=0.06)  # Y = 3 Z - 4 + noise
    assert intercept == pytest.approx(-2.0 * 2.0, abs=0.15)
    # Removing Z (position 1 of the sorted parents) must insert its column there:
    # Y = 1.5 * 4 X - 2 X = 4 X (the wrong position would give 6 X - 8).
    s = _samples(remove_edge(pcm, "Z", "Y", 4.0))
    assert np.polyfit(s["X"], s["Y"], 1)[0] == pytest.approx(4.0, abs=0.1)


def test_wrapper_pickles_and_clones(mediated):
    scm, data = mediated
    new = remove_edge(scm, "X", "Y", "mean", data=data)
    mechanism = new.causal_mechanism("Y")
    assert isinstance(mechanism, EdgeRemovedInvertibleMechanism)
    assert isinstance(mechanism, InvertibleFunctionalCausalModel)
    restored = pickle.loads(pickle.dumps(new))
    assert np.array_equal(_samples(restored, 300)["Y"], _samples(new, 300)["Y"])

    clone = mechanism.clone()
    assert type(clone) is type(mechanism) and clone.removed_parent == "X"
    assert clone.mechanism is not mechanism.mechanism
    # unfitted: the cloned mechanism's noise model is not fitted (DoWhy's RuntimeError)
    with pytest.raises(RuntimeError, match="has not been fitted"):
        clone.draw_samples(data[["Z"]].to_numpy())
    refit = new.clone()  # unfitted model of the reduced graph; gcm.fit refits it
    gcm.fit(refit, data)
    inner = refit.causal_mechanism("Y").mechanism.prediction_model.sklearn_model
    assert abs(inner.coef_[0]) < 1e-8  # the inserted constant column carries no information
    assert inner.coef_[1] == pytest.approx(np.polyfit(data["Z"], data["Y"], 1)[0], abs=1e-6)
    assert gcm.draw_samples(refit, 10).shape == (10, 3)


# ------------------------------------------------------------------------------------------
# Auto-assigned mechanisms, categorical nodes
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def categorical():
    rng = np.random.default_rng(8)
    n = 1000
    x, z = rng.normal(0, 1, n), rng.normal(0, 1, n)
    c = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-(2.5 * x + z))), "a", "b").astype(object)
    w = np.where(c == "a", 1.0, -1.0) + 0.5 * z + rng.normal(0, 0.3, n)
    data = pd.DataFrame({"X": x, "Z": z, "C": c, "W": w})
    scm = gcm.InvertibleStructuralCausalModel(
        nx.DiGraph([("X", "C"), ("Z", "C"), ("C", "W"), ("Z", "W")])
    )
    set_random_seed(0)
    # One thread and no worker processes: HistGradientBoosting's OpenMP threads oversubscribe a
    # small shared machine (150 s instead of 4 s here).
    n_jobs = gcm.config.default_n_jobs
    gcm.config.default_n_jobs = 1
    try:
        with threadpool_limits(limits=1):
            gcm.auto.assign_causal_mechanisms(scm, data, quality=gcm.auto.AssignmentQuality.GOOD)
            gcm.fit(scm, data)
    finally:
        gcm.config.default_n_jobs = n_jobs
    return scm, data


def test_auto_assigned_categorical_child(categorical):
    scm, data = categorical
    new = remove_edge(scm, "X", "C", random_state=0)
    mechanism = new.causal_mechanism("C")
    assert isinstance(mechanism, ProbabilityEstimatorModel)
    assert isinstance(mechanism, FunctionalCausalModel)
    probabilities = mechanism.estimate_probabilities(data[["Z"]].to_numpy())
    assert probabilities.shape == (len(data), 2) and np.allclose(probabilities.sum(axis=1), 1)
    # p(c | z) averages the original p(c | x, z) over the marginal of X.
    original = scm.causal_mechanism("C")
    for z in (-1.5, 0.0, 0.7):
        full = np.column_stack([data["X"], np.full(len(data), z)])  # sorted parents: X, Z
        expected = original.estimate_probabilities(full).mean(axis=0)
        estimated = mechanism.estimate_probabilities(np.array([[z]]))[0]
        assert np.allclose(estimated, expected, atol=0.02)

    def gap(s):
        high = s["X"] > 0
        return (s["C"][high] == "a").mean() - (s["C"][~high] == "a").mean()

    assert abs(gap(_samples(new, 4000))) < 0.06
    assert gap(_samples(scm, 4000)) > 0.4
    set_random_seed(9)
    strengths = gcm.arrow_strength(new, "C", num_samples_conditional=500, n_jobs=1)
    assert set(strengths) == {("Z", "C")} and strengths[("Z", "C")] > 0


def test_auto_assigned_categorical_parent(categorical):
    scm, data = categorical
    with pytest.raises(ValueError, match="marginal"):
        remove_edge(scm, "C", "W", "mean", data=data)
    with pytest.raises(ValueError, match="observed category"):
        remove_edge(scm, "C", "W", "zzz", data=data)
    with pytest.raises(ValueError, match="observed category"):
        remove_edge(scm, "C", "W", "zzz", random_state=0)  # checked against model samples
    s = _samples(remove_edge(scm, "C", "W", "a"))
    assert s["W"].mean() == pytest.approx(1.0, abs=0.1)  # 1 + 0.5 E[Z]
    new = remove_edge(scm, "C", "W", data=data)
    assert new.causal_mechanism("W").inserted_value == data["C"].mode()[0]
    s = _samples(new)
    assert s["W"].var() > 1.0  # marginal draws of C (+-1) keep the spread; "a" alone: ~0.34
    s = _samples(remove_edge(scm, "Z", "W", "mean", data=data))
    assert set(s["C"]) == {"a", "b"}


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------
def test_errors(mediated):
    scm, data = mediated
    with pytest.raises(TypeError, match="causal model"):
        remove_edge(scm.graph, "X", "Y")
    with pytest.raises(ValueError, match="parent node 'Q'"):
        remove_edge(scm, "Q", "Y")
    with pytest.raises(ValueError, match="child node 'Q'"):
        remove_edge(scm, "X", "Q")
    with pytest.raises(ValueError, match="no edge 'Y' -> 'X'"):
        remove_edge(scm, "Y", "X")
    with pytest.raises(ValueError, match="reverse edge"):
        remove_edge(scm, "Y", "Z")
    for bad in (None, [1.0], np.nan, {"X": 1}):
        with pytest.raises(ValueError, match="how"):
            remove_edge(scm, "X", "Y", bad, data=data)
    with pytest.raises(ValueError, match="how='median'.*numeric"):
        remove_edge(scm, "X", "Y", "median", data=data)
    with pytest.raises(ValueError, match="column for parent 'X'"):
        remove_edge(scm, "X", "Y", data=data[["Z", "Y"]])
    with pytest.raises(TypeError, match="random_state"):
        remove_edge(scm, "X", "Y", random_state="seed")

    unfitted = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("X", "Y")]))
    unfitted.set_causal_mechanism("X", gcm.EmpiricalDistribution())
    unfitted.set_causal_mechanism("Y", gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
    with pytest.raises(RuntimeError, match="not fitted.*'X'"):
        remove_edge(unfitted, "X", "Y")
    changed = remove_edge(scm, "X", "Y", "mean", data=data)
    changed.graph.add_edge("X", "Y")  # graph edited after fitting
    with pytest.raises(RuntimeError, match="node 'Y' is not fitted"):
        remove_edge(changed, "Z", "Y")


def test_average_causal_effect_after_removing_the_only_path(mediated):
    """DoWhy's average_causal_effect raises once the treatment is no longer an ancestor of
    the target; ours returns the graph's exact answer, 0, and DoWhy's value otherwise."""
    from dowhy.gcm.util.general import set_random_seed

    from dowhy_ccgm.gcm import average_causal_effect
    scm, data = mediated
    parents = list(scm.graph.predecessors("Y"))
    cut = scm
    for p in parents:
        cut = remove_edge(cut, p, "Y", data=data)
    x = parents[0]
    with pytest.raises(ValueError, match="can not be found"):
        gcm.average_causal_effect(cut, "Y", {x: lambda v: 1.0}, {x: lambda v: 0.0},
                                  num_samples_to_draw=500)
    assert average_causal_effect(cut, "Y", {x: lambda v: 1.0}, {x: lambda v: 0.0},
                                 num_samples_to_draw=500) == 0.0
    set_random_seed(5)
    ours = average_causal_effect(scm, "Y", {x: lambda v: 1.0}, {x: lambda v: 0.0},
                                 num_samples_to_draw=2000)
    set_random_seed(5)
    theirs = gcm.average_causal_effect(scm, "Y", {x: lambda v: 1.0}, {x: lambda v: 0.0},
                                       num_samples_to_draw=2000)
    assert ours == theirs and abs(ours) > 0.1
    with pytest.raises(ValueError, match="Unknown node"):
        average_causal_effect(scm, "Q", {x: lambda v: 1.0}, {x: lambda v: 0.0})
