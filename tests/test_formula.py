"""Exact formula nodes: a column that is an exact function of its parents is found,
modelled with no noise, holds under interventions, counterfactuals and edge removal, and
survives a save/load round trip; declarations are honoured or refused by name."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm._formula import Formula, find_formula

QUICK = dict(epochs=60, hidden=16, random_state=0, progress_bar=False)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _shop(n=1500, seed=0):
    """price -> units (counts), (price, units) -> revenue = price * units, ad -> cost,
    (revenue, cost) -> profit = revenue - cost: two bookkeeping identities."""
    rng = np.random.default_rng(seed)
    ad = rng.uniform(100, 500, n)
    price = np.round(rng.uniform(800, 1000, n), 2)
    units = rng.poisson(2000 - 1.5 * price + 0.5 * ad)
    revenue = price * units
    cost = ad + 500 * units + rng.normal(0, 20000, n)
    return pd.DataFrame({"ad": ad, "price": price, "units": units, "revenue": revenue,
                         "cost": cost, "profit": revenue - cost})


GRAPH = nx.DiGraph([("ad", "units"), ("price", "units"), ("price", "revenue"),
                    ("units", "revenue"), ("ad", "cost"), ("units", "cost"),
                    ("revenue", "profit"), ("cost", "profit")])


def test_find_formula_families():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(1, 3, 500), rng.uniform(1, 3, 500)
    f = find_formula(2 * a - 3 * b + 1, {"a": a, "b": b})
    assert f.terms == ((), (("a", 1),), (("b", 1),)) and f.coef == (1.0, 2.0, -3.0)
    assert find_formula(a * b, {"a": a, "b": b}).terms == ((("a", 1), ("b", 1)),)
    ratio = find_formula(a / b ** 2, {"a": a, "b": b})
    assert ratio.terms == ((("a", 1), ("b", -2)),) and ratio.coef == (1.0,)
    np.testing.assert_allclose(ratio({"a": a, "b": b}), a / b ** 2, rtol=1e-12)
    # real noise is not a formula, nor is a fit with too few rows per term
    assert find_formula(a * b + 0.01 * rng.normal(size=500), {"a": a, "b": b}) is None
    assert find_formula(a[:12] * b[:12], {"a": a[:12], "b": b[:12]}) is None
    # a column stored rounded to cents: a formula up to the rounding, evaluated on it
    bmi = np.round(a / b ** 2, 2)
    assert find_formula(bmi, {"a": a, "b": b}) is None
    f = find_formula(bmi, {"a": a, "b": b}, step=0.01)
    assert f is not None and f.step == 0.01
    np.testing.assert_array_equal(np.round(f({"a": a, "b": b}) * 100), np.round(bmi * 100))
    assert Formula.from_json(f.to_json()) == f


def test_formula_nodes_are_found_and_hold_under_every_query(tmp_path):
    df = _shop()
    gen = CCGMGenerator(GRAPH, **QUICK).fit(df)
    specs = gen.model_.schema.by_name
    assert specs["revenue"].formula["terms"] == [[["price", 1], ["units", 1]]]
    assert specs["profit"].formula["coef"] == [1.0, -1.0]
    assert specs["cost"].formula is None and specs["units"].formula is None
    x = gen.sample(3000, random_state=1)
    rel = lambda a, b: np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))
    assert rel(x["revenue"], x["price"] * x["units"]) < 1e-6
    assert rel(x["profit"], x["revenue"] - x["cost"]) < 1e-6
    # an intervention upstream: the identity still holds, units respond
    xd = gen.intervene({"price": 850.0}, n_samples=2000, random_state=2)
    assert rel(xd["revenue"], 850.0 * xd["units"]) < 1e-6
    # a counterfactual: abduction has no noise to find at a formula node
    unit = df.head(50)
    same = gen.counterfactual(unit, {})
    assert rel(same["profit"], unit["profit"]) < 1e-6
    cf = gen.counterfactual(unit, {"units": unit["units"] + 10})
    np.testing.assert_allclose(cf["revenue"], unit["price"] * (unit["units"] + 10),
                               rtol=1e-6)
    # an intervention on the formula node itself overrides it; its child follows
    cf = gen.counterfactual(unit, {"revenue": 0.0})
    np.testing.assert_allclose(cf["profit"], -unit["cost"], rtol=1e-5, atol=1.0)
    # edge removal: the formula reads the removed parent's reference value
    fair = gen.remove_edge("price", "revenue", how=900.0)
    xr = fair.sample(1000, random_state=3)
    assert rel(xr["revenue"], 900.0 * xr["units"]) < 1e-6
    # save and load keep the formulas
    path = tmp_path / "shop.ccgm"
    gen.save(path)
    back = CCGMGenerator.load(path)
    pd.testing.assert_frame_equal(back.sample(200, random_state=4),
                                  gen.sample(200, random_state=4))


def test_formula_declarations():
    df = _shop(800)
    # {"formula": False} keeps the node noisy
    gen = CCGMGenerator(GRAPH, column_types={"profit": {"formula": False}}, **QUICK).fit(df)
    assert gen.model_.schema.by_name["profit"].formula is None
    # a declared formula node that is not one is refused, naming it
    with pytest.raises(ValueError, match=r"column_types\['cost'\] declares an exact formula"):
        CCGMGenerator(GRAPH, column_types={"cost": "formula"}, **QUICK).fit(df)
    with pytest.raises(ValueError, match=r"column_types\['ad'\].*root"):
        CCGMGenerator(GRAPH, column_types={"ad": "formula"}, **QUICK).fit(df)
    with pytest.raises(ValueError, match=r"\['formula'\] must be True, False or 'auto'"):
        CCGMGenerator(GRAPH, column_types={"profit": {"formula": "yes"}}, **QUICK).fit(df)
    # a declared formula accepts a slightly noisy identity (within 1% of the node's sd)
    noisy = df.assign(profit=df["profit"] + np.random.default_rng(0).normal(
        0, 1e-3 * df["profit"].std(), len(df)))
    gen = CCGMGenerator(GRAPH, column_types={"profit": "formula"}, **QUICK).fit(noisy)
    f = gen.model_.schema.by_name["profit"].formula
    assert f["coef"] == [1.0, -1.0] and 5e-4 < f["residual"] < 2e-3


def test_formula_node_in_dowhy_gcm_has_no_noise_influence():
    from dowhy import gcm
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    df = _shop(1000)
    scm = gcm.InvertibleStructuralCausalModel(GRAPH)
    assign_ccgm_mechanisms(scm, df, epochs=60, hidden=16, random_state=0,
                           progress_bar=False)
    gcm.fit(scm, df)
    gcm.util.general.set_random_seed(0)
    parents = df[["price", "units"]].to_numpy()[:200]
    mech = scm.causal_mechanism("revenue")
    a = mech.evaluate(parents, mech.draw_noise_samples(200))
    b = mech.evaluate(parents, mech.draw_noise_samples(200))
    np.testing.assert_allclose(a[:, 0], parents[:, 0] * parents[:, 1], rtol=1e-6)
    np.testing.assert_array_equal(a, b)
    share = gcm.intrinsic_causal_influence(scm, "profit", num_samples_randomization=300,
                                           num_samples_baseline=300)
    total = sum(abs(v) for v in share.values())
    assert abs(share["revenue"]) / total < 1e-3 and abs(share["profit"]) / total < 1e-3
    assert abs(share["cost"]) / total > 0.05
    # a formula node's mechanism is fitted with no training step (nothing to learn)
    for node in ("revenue", "profit"):
        h = scm.causal_mechanism(node).history_
        assert h["used"] == ["target"] and h["steps"] == 0 and h["converged"] is True
