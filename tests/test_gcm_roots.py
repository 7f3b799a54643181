"""Roots drawn jointly in dowhy.gcm (JointEmpiricalDistribution, root_model="joint").

Ground truth: three correlated roots (two Gaussians at correlation 0.8, a string category
cut from the first) and a child ``y = a - b + 0.2 U``. Monte Carlo tolerances are stated
next to each assertion (a correlation from m draws has sd about (1 - rho^2) / sqrt(m)).
"""
import copy
import dataclasses
import pickle

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from dowhy import gcm
from dowhy.gcm.util.general import set_random_seed

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm._root_sampling import IndependentRoots
from dowhy_ccgm.gcm import (
    CCGMRootModel,
    JointEmpiricalDistribution,
    assign_ccgm_mechanisms,
    joint_empirical_roots,
    remove_edge,
)

torch.set_num_threads(1)
gcm.config.disable_progress_bars()

RHO = 0.8
GRAPH = [("a", "y"), ("b", "y"), ("c", "y")]
ROOTS = ["a", "b", "c"]


def _data(n=2_000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = RHO * a + np.sqrt(1 - RHO ** 2) * rng.normal(size=n)
    c = np.where(a + 0.5 * rng.normal(size=n) > 0.3, "hi", "lo").astype(object)
    y = a - b + 0.5 * (c == "hi") + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "y": y})


def _linear_scm(data, roots="joint"):
    """DoWhy's own linear mechanism on y: the root models are what is tested."""
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(GRAPH))
    models = (joint_empirical_roots(ROOTS) if roots == "joint"
              else {r: gcm.EmpiricalDistribution() for r in ROOTS})
    for node, m in models.items():
        scm.set_causal_mechanism(node, m)
    scm.set_causal_mechanism("y", gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
    gcm.fit(scm, data)
    return scm


def _stats(s):
    hi = (s["c"] == "hi").to_numpy()
    return {"corr_ab": s["a"].corr(s["b"]), "a_given_hi": s.loc[hi, "a"].mean(),
            "var_y": s["y"].var()}


@pytest.fixture(scope="module")
def data():
    return _data()


def test_joint_roots_keep_the_joint_law_and_independent_ones_do_not(data):
    truth = _stats(data)
    set_random_seed(0)
    joint = _stats(gcm.draw_samples(_linear_scm(data), 40_000))
    set_random_seed(0)
    indep = _stats(gcm.draw_samples(_linear_scm(data, roots="independent"), 40_000))
    # corr sd ~ 0.36 / 200 = 0.002; E[a | c = hi] sd ~ 0.01; var(y) (about 0.45) sd ~ 0.004
    assert abs(joint["corr_ab"] - truth["corr_ab"]) < 0.01
    assert abs(joint["a_given_hi"] - truth["a_given_hi"]) < 0.03
    assert abs(joint["var_y"] - truth["var_y"]) < 0.02
    # DoWhy's EmpiricalDistribution: the roots come out independent
    assert abs(indep["corr_ab"]) < 0.02 and abs(indep["a_given_hi"] - data["a"].mean()) < 0.03
    assert indep["var_y"] > truth["var_y"] + 0.2


def test_every_pass_draws_observed_rows_whatever_the_order(data):
    models = joint_empirical_roots(ROOTS)
    for node, m in models.items():
        m.fit(data[node].to_numpy())
    observed = set(map(tuple, data[ROOTS].itertuples(index=False)))
    np.random.seed(1)
    for order in (ROOTS, ROOTS[::-1], ["b", "a", "c"]):
        got = {node: models[node].draw_samples(500)[:, 0] for node in order}
        rows = set(zip(got["a"], got["b"], got["c"]))
        assert rows <= observed
    # a second pass draws other rows (500 of 2000 rows: the same 500 would be a bug)
    first = models["a"].draw_samples(500)[:, 0]
    assert not np.array_equal(first, models["a"].draw_samples(500)[:, 0])


def test_interventions_on_one_root_keep_the_others_joint_law(data):
    scm = _linear_scm(data)
    set_random_seed(2)
    s = gcm.interventional_samples(scm, {"a": lambda v: 1.0}, num_samples_to_draw=40_000)
    assert (s["a"] == 1.0).all()
    # b and c keep their marginals (not their law given a = 1) and their joint law
    assert abs(s["b"].mean() - data["b"].mean()) < 0.03
    hi = data["c"] == "hi"
    corr_bc = np.corrcoef(data["b"], hi)[0, 1]
    assert abs(np.corrcoef(s["b"], s["c"] == "hi")[0, 1] - corr_bc) < 0.02
    # the ATE of a on y through DoWhy, with the joint law of (b, c): slope 1 (OLS sd ~0.005)
    ate = gcm.average_causal_effect(scm, "y", {"a": lambda v: 1.0}, {"a": lambda v: 0.0},
                                    num_samples_to_draw=20_000)
    assert abs(ate - 1.0) < 0.05


def test_counterfactuals_keep_the_observed_roots(data):
    scm = _linear_scm(data)
    obs = data.head(50)
    cf = gcm.counterfactual_samples(scm, {"a": lambda v: v + 1.0}, observed_data=obs)
    np.testing.assert_array_equal(cf["b"].to_numpy(), obs["b"].to_numpy())
    assert list(cf["c"]) == list(obs["c"])
    np.testing.assert_allclose(cf["y"] - obs["y"], 1.0, atol=0.05)   # slope of a on y


def test_clone_pickle_and_refit_keep_the_roots_joint(data):
    scm = _linear_scm(data)
    clone = scm.clone()                  # what gcm.fit_and_compute's bootstrap does
    cl = [clone.causal_mechanism(r) for r in ROOTS]
    assert all(isinstance(m, JointEmpiricalDistribution) and m.data is None for m in cl)
    assert cl[0].shares_block_with(cl[1]) and cl[0].shares_block_with(cl[2])
    assert not cl[0].shares_block_with(scm.causal_mechanism("a"))
    boot = data.sample(len(data), replace=True, random_state=3)
    gcm.fit(clone, boot)
    set_random_seed(3)
    s = gcm.draw_samples(clone, 20_000)
    assert abs(s["a"].corr(s["b"]) - boot["a"].corr(boot["b"])) < 0.01
    back = pickle.loads(pickle.dumps(scm))
    s = gcm.draw_samples(back, 20_000)
    assert abs(s["a"].corr(s["b"]) - data["a"].corr(data["b"])) < 0.01
    # a second gcm.fit on other data replaces every root's rows
    small = _data(300, seed=4)
    gcm.fit(scm, small)
    s = gcm.draw_samples(scm, 5_000)
    assert set(s["a"]) <= set(small["a"]) and abs(s["a"].corr(s["b"])
                                                   - small["a"].corr(small["b"])) < 0.03


def test_a_root_refitted_alone_is_drawn_on_its_own(data):
    models = joint_empirical_roots(ROOTS)
    for node, m in models.items():
        m.fit(data[node].to_numpy())
    models["a"].fit(_data(700, seed=5)["a"].to_numpy())     # other rows: not joint any more
    np.random.seed(6)
    a = models["a"].draw_samples(20_000)[:, 0]
    b = models["b"].draw_samples(20_000)[:, 0]
    assert set(a) <= set(_data(700, seed=5)["a"]) and abs(np.corrcoef(a, b)[0, 1]) < 0.03


def test_evaluate_causal_model_and_edge_removal_run_on_joint_roots(data):
    scm = _linear_scm(data)
    set_random_seed(7)
    ev = gcm.evaluate_causal_model(scm, data, compare_mechanism_baselines=False,
                                   evaluate_invertibility_assumptions=False,
                                   evaluate_causal_structure=False)
    assert ev.overall_kl_divergence < 0.1
    cut = remove_edge(scm, "a", "y", how="mean")
    s = gcm.draw_samples(cut, 20_000)
    # y no longer depends on a given b and c (OLS slope of a: 0, sd about 0.005; it is 1
    # before the cut), while a still correlates with y through b: the roots stay joint
    X = np.column_stack([np.ones(len(s)), s["a"], s["b"], s["c"] == "hi"]).astype(float)
    slope_a = np.linalg.lstsq(X, s["y"].to_numpy(float), rcond=None)[0][1]
    assert abs(slope_a) < 0.03 and s["a"].corr(s["y"]) < -0.3
    assert abs(np.corrcoef(s["b"], s["c"] == "hi")[0, 1]
               - np.corrcoef(data["b"], data["c"] == "hi")[0, 1]) < 0.03


def test_assign_ccgm_mechanisms_joint_by_default(data):
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(GRAPH))
    assign_ccgm_mechanisms(scm, data, epochs=20, hidden=8, random_state=0, progress_bar=False)
    roots = [scm.causal_mechanism(r) for r in ROOTS]
    assert all(isinstance(m, JointEmpiricalDistribution) for m in roots)
    assert roots[0].shares_block_with(roots[2]) and "'c'" in repr(roots[2])
    gcm.fit(scm, data)
    set_random_seed(8)
    s = gcm.draw_samples(scm, 20_000)
    assert abs(s["a"].corr(s["b"]) - data["a"].corr(data["b"])) < 0.01
    other = gcm.InvertibleStructuralCausalModel(nx.DiGraph(GRAPH))
    assign_ccgm_mechanisms(other, data, root_model="empirical", epochs=2)
    assert isinstance(other.causal_mechanism("a"), gcm.EmpiricalDistribution)
    with pytest.raises(ValueError, match="root_model must be 'joint'"):
        assign_ccgm_mechanisms(other, data, root_model="rows")
    with pytest.raises(ValueError, match="root_model must be 'joint'"):
        assign_ccgm_mechanisms(other, data, root_model=["joint"])
    # an instance of JointEmpiricalDistribution is "joint" (a clone per root started a
    # block per root: the roots came out independent, corr 0.01 against 0.8)
    inst = gcm.InvertibleStructuralCausalModel(nx.DiGraph(GRAPH))
    assign_ccgm_mechanisms(inst, data, root_model=JointEmpiricalDistribution(), epochs=20,
                           hidden=8, random_state=0, progress_bar=False)
    assert inst.causal_mechanism("a").shares_block_with(inst.causal_mechanism("b"))
    gcm.fit(inst, data)
    set_random_seed(8)
    s = gcm.draw_samples(inst, 20_000)
    assert abs(s["a"].corr(s["b"]) - data["a"].corr(data["b"])) < 0.01


def test_to_gcm_draws_the_generators_roots_jointly(data):
    gen = CCGMGenerator(nx.DiGraph(GRAPH), epochs=5, hidden=8, random_state=0,
                        progress_bar=False).fit(data)
    scm = gen.to_gcm()
    a = scm.causal_mechanism("a")
    assert isinstance(a, JointEmpiricalDistribution) and a.shares_block_with(
        scm.causal_mechanism("c"))
    set_random_seed(9)
    s = gcm.draw_samples(scm, 20_000)
    ref = gen.sample(20_000, random_state=0)
    for col in ("a", "b"):          # the generator's stored rows are the training rows
        ref_values = np.sort(data[col].to_numpy())
        pos = np.clip(np.searchsorted(ref_values, s[col].to_numpy()), 1, len(ref_values) - 1)
        gap = np.minimum(abs(ref_values[pos] - s[col].to_numpy()),
                         abs(ref_values[pos - 1] - s[col].to_numpy()))
        assert gap.max() < 1e-4
    assert abs(s["a"].corr(s["b"]) - ref["a"].corr(ref["b"])) < 0.01
    assert abs((s["c"] == "hi").mean() - (ref["c"] == "hi").mean()) < 0.015
    # a generator without a pool (root_sampling="independent", or an old file) exports
    # each root's trained marginal
    old = copy.copy(gen)
    old.model_ = dataclasses.replace(gen.model_, roots=IndependentRoots())
    assert isinstance(old.to_gcm().causal_mechanism("a"), CCGMRootModel)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="repeated"):
        joint_empirical_roots(["a", "a"])
    with pytest.raises(TypeError, match="list of node names"):
        joint_empirical_roots("age")
    with pytest.raises(TypeError, match="joint_with"):
        JointEmpiricalDistribution(joint_with=gcm.EmpiricalDistribution())
    m = joint_empirical_roots(["age"])["age"]
    with pytest.raises(RuntimeError, match="'age'.*not been fitted"):
        m.draw_samples(3)
    with pytest.raises(ValueError, match="'age'"):
        m.fit(np.zeros((5, 2)))
    X = np.arange(4.0)
    m.fit(X)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="num_samples"):
            m.draw_samples(bad)
    assert m.draw_samples(np.int64(0)).shape == (0, 1)
    X[:] = -1.0             # the model keeps a copy: the caller's array is the caller's
    assert m.draw_samples(50).min() >= 0.0
