"""CCGMGenerator plumbing: bad input, scikit-learn contract, persistence, column types."""
import os
import pickle

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm

FAST = dict(epochs=8, hidden=16, random_state=0, progress_bar=False)


@pytest.fixture(scope="module")
def data():
    return toy_scm(800, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    return CCGMGenerator(TOY_GRAPH, **FAST).fit(data)


# ----------------------------------------------------------------- bad input
def test_cyclic_graph_names_the_cycle(data):
    g = nx.DiGraph([("x1", "x3"), ("x3", "x4"), ("x4", "x1"), ("x2", "x3")])
    with pytest.raises(ValueError, match=r"cycle .*x1 -> x3 -> x4 -> x1|cycle .*x3 -> x4 -> x1"):
        CCGMGenerator(g, **FAST).fit(data)


def test_graph_must_be_a_digraph(data):
    with pytest.raises(TypeError, match="networkx.DiGraph"):
        CCGMGenerator([("x1", "x3")], **FAST).fit(data)


def test_graph_nodes_missing_from_data(data):
    with pytest.raises(ValueError, match=r"missing from the data: \['x4'\]"):
        CCGMGenerator(TOY_GRAPH, **FAST).fit(data.drop(columns="x4"))


def test_extra_columns_raise_or_drop(data):
    extra = data.assign(noise=1.0)
    with pytest.raises(ValueError, match=r"not in the graph: \['noise'\]"):
        CCGMGenerator(TOY_GRAPH, **FAST).fit(extra)
    g = CCGMGenerator(TOY_GRAPH, extra_columns="drop", **FAST).fit(extra)
    assert list(g.sample(3, random_state=0).columns) == ["x1", "x2", "x3", "x4"]


@pytest.mark.parametrize("bad,msg", [(np.nan, "missing \\(NaN\\)"), (np.inf, "infinite")])
def test_nan_and_inf_are_refused_naming_the_column(data, bad, msg):
    """An infinite value is refused everywhere; a missing one by everything but ``fit``
    (which fits the observed factors, tests/test_missing.py) and ``counterfactual``."""
    d = data.copy()
    d.loc[d.index[3], "x3"] = bad
    if np.isnan(bad):
        fitted = CCGMGenerator(TOY_GRAPH, **FAST).fit(d)
        for call in (fitted.score, fitted.transform):
            with pytest.raises(ValueError, match=f"column 'x3' has 1 {msg}"):
                call(d)
        return
    with pytest.raises(ValueError, match=f"column 'x3' has 1 {msg}"):
        CCGMGenerator(TOY_GRAPH, **FAST).fit(d)


def test_undeclared_strings_are_labels_and_constant_columns_are_refused(data):
    """One rule in both APIs: a string column is binary with two labels, categorical with
    more (assign_ccgm_mechanisms detects the same kinds)."""
    from dowhy_ccgm.gcm._mechanism import detect_kind
    d = data.copy()
    two = np.where(d["x2"] > 0, "hi", "lo").astype(object)
    three = np.select([d["x2"] < -0.5, d["x2"] < 0.5], ["lo", "mid"], "hi").astype(object)
    for labels, kind in ((two, "binary"), (three, "categorical")):
        train = d.assign(x2=labels)
        g = CCGMGenerator(TOY_GRAPH, **FAST).fit(train)
        assert g.schema_.by_name["x2"].kind == kind == detect_kind(labels)
        s = g.sample(500, random_state=0)["x2"]
        assert set(s) <= set(labels) and s.dtype == train["x2"].dtype
    d2 = data.assign(x2=3.0)
    with pytest.raises(ValueError, match="column 'x2' is constant"):
        CCGMGenerator(TOY_GRAPH, **FAST).fit(d2)


def test_too_few_rows(data):
    with pytest.raises(ValueError, match="at least 10 rows"):
        CCGMGenerator(TOY_GRAPH, **FAST).fit(data.head(5))


def test_bad_parameters_are_named(data):
    with pytest.raises(ValueError, match="variant"):
        CCGMGenerator(TOY_GRAPH, variant="vae").fit(data)
    with pytest.raises(ValueError, match="batch_size"):
        CCGMGenerator(TOY_GRAPH, batch_size=0).fit(data)
    with pytest.raises(ValueError, match="exogenous node 'x3' has parents"):
        CCGMGenerator(TOY_GRAPH, exogenous=["x1", "x3"], **FAST).fit(data)
    with pytest.raises(KeyError, match="unknown exogenous node 'zz'"):
        CCGMGenerator(TOY_GRAPH, exogenous=["zz"], **FAST).fit(data)
    with pytest.raises(KeyError, match="column_types names unknown columns"):
        CCGMGenerator(TOY_GRAPH, column_types={"q": "binary"}, **FAST).fit(data)


def test_unfitted_model_raises_not_fitted():
    g = CCGMGenerator(TOY_GRAPH)
    for call in (lambda: g.sample(5), lambda: g.intervene({"x1": 0}, n_samples=5),
                 lambda: g.remove_edge("x1", "x3"), lambda: g.save("x.ccgm")):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()


def test_unknown_nodes_and_bad_interventions(fitted, data):
    with pytest.raises(KeyError, match="unknown node 'x7'"):
        fitted.intervene({"x7": 1.0}, n_samples=5)
    with pytest.raises(ValueError, match="non-empty dict"):
        fitted.intervene({}, n_samples=5)
    with pytest.raises(ValueError, match="must be finite"):
        fitted.intervene({"x1": np.nan}, n_samples=5)
    with pytest.raises(ValueError, match="3 values for 5 units"):
        fitted.intervene({"x1": [1.0, 2.0, 3.0]}, n_samples=5)
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="missing from the data"):
        fitted.counterfactual(data.drop(columns="x1").head(), {"x3": 0.0})


# ----------------------------------------------------------------- scikit-learn
def test_clone_get_set_params(fitted):
    c = clone(fitted)
    assert not hasattr(c, "net_")
    assert c.get_params()["epochs"] == FAST["epochs"] and c.graph is not None
    c.set_params(hidden=8, variant="ccgm")
    assert c.hidden == 8 and c.variant == "ccgm"
    assert set(CCGMGenerator().get_params()) >= {"graph", "exogenous", "variant", "random_state",
                                                  "device", "objective", "column_types"}


def test_pipeline_last_step(data):
    pipe = Pipeline([("scale", StandardScaler().set_output(transform="pandas")),
                     ("ccgm", CCGMGenerator(TOY_GRAPH, **FAST))])
    pipe.fit(data)
    s = pipe[-1].sample(1000, random_state=0)
    assert list(s.columns) == ["x1", "x2", "x3", "x4"]
    assert np.all(np.abs(s.mean()) < 0.25)             # the generator saw standardized data
    assert np.isfinite(pipe.score(data))


def test_pickle_round_trip(fitted):
    again = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(again.sample(50, random_state=1),
                                  fitted.sample(50, random_state=1))


# ----------------------------------------------------------------- persistence
def test_save_load_round_trip(fitted, data, tmp_path):
    cut = fitted.remove_edge("x1", "x3", how="marginal", random_state=0)
    path = tmp_path / "model.ccgm"
    cut.save(path)
    back = CCGMGenerator.load(path)
    for a, b in [(back.sample(200, random_state=3), cut.sample(200, random_state=3)),
                 (back.intervene({"x1": 1.0}, n_samples=200, random_state=4),
                  cut.intervene({"x1": 1.0}, n_samples=200, random_state=4)),
                 (back.counterfactual(data.head(30), {"x3": 0.0}, random_state=5),
                  cut.counterfactual(data.head(30), {"x3": 0.0}, random_state=5))]:
        pd.testing.assert_frame_equal(a, b)
    assert back.removed_edges_ == [("x1", "x3")]
    pd.testing.assert_frame_equal(back.adjacency_, cut.adjacency_)


def test_load_refuses_corrupt_foreign_and_unsafe_files(tmp_path):
    bad = tmp_path / "garbage.ccgm"
    bad.write_bytes(b"this is not a model")
    with pytest.raises(ValueError, match="not a readable dowhy_ccgm model file"):
        CCGMGenerator.load(bad)
    import torch
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a dowhy_ccgm CCGMGenerator model file"):
        CCGMGenerator.load(foreign)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.ccgm"
    torch.save({"meta": Evil()}, evil)
    with pytest.raises(ValueError, match="refused for safety"):
        CCGMGenerator.load(evil)
    assert not marker.exists()                    # the payload never ran
    with pytest.raises(FileNotFoundError):
        CCGMGenerator.load(tmp_path / "nope.ccgm")


# ----------------------------------------------------------------- column types
@pytest.fixture(scope="module")
def mixed():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    color = pd.Categorical(rng.choice(["red", "green", "blue"], p=[0.5, 0.3, 0.2], size=n),
                           categories=["red", "green", "blue"])
    p = 1 / (1 + np.exp(-(1.5 * x + (color == "red") * 1.0 - 0.5)))
    treated = (rng.uniform(size=n) < p).astype(np.int64)
    y = 2.0 * treated + x + 0.5 * rng.normal(size=n)
    ordinal = np.clip(np.rint(2 + x + rng.normal(size=n)), 0, 5).astype(np.int64)
    df = pd.DataFrame({"x": x, "color": color, "treated": treated, "y": y, "ordinal": ordinal})
    g = nx.DiGraph([("x", "treated"), ("color", "treated"), ("treated", "y"), ("x", "y"),
                    ("x", "ordinal")])
    gen = CCGMGenerator(g, epochs=40, random_state=0, progress_bar=False).fit(df)
    return df, gen


def test_types_are_detected_and_only_valid_values_are_sampled(mixed):
    df, gen = mixed
    kinds = {s.name: s.kind for s in gen.schema_.specs}
    assert kinds == {"x": "continuous", "color": "categorical", "treated": "binary",
                     "y": "continuous", "ordinal": "continuous"}
    s = gen.sample(20_000, random_state=0)
    assert (s.dtypes == df.dtypes).all()
    assert set(s["treated"].unique()) <= {0, 1}
    assert list(s["color"].cat.categories) == ["red", "green", "blue"]
    assert s["ordinal"].between(0, 5).all()                      # integer column stays in range
    freq = s["color"].value_counts(normalize=True)
    assert abs(freq["red"] - 0.5) < 0.03 and abs(freq["blue"] - 0.2) < 0.03
    assert abs(s["treated"].mean() - df["treated"].mean()) < 0.03


def test_discrete_interventions_and_counterfactuals(mixed):
    df, gen = mixed
    iv1 = gen.intervene({"treated": 1}, n_samples=30_000, random_state=1)
    iv0 = gen.intervene({"treated": 0}, n_samples=30_000, random_state=1)
    assert abs((iv1["y"].mean() - iv0["y"].mean()) - 2.0) < 0.12       # true ATE 2
    red = gen.intervene({"color": "red"}, n_samples=30_000, random_state=2)
    blue = gen.intervene({"color": "blue"}, n_samples=30_000, random_state=2)
    assert red["treated"].mean() > blue["treated"].mean() + 0.1
    with pytest.raises(ValueError, match="'purple' is not one of its categories"):
        gen.intervene({"color": "purple"}, n_samples=10)
    with pytest.raises(ValueError, match="not one of its categories"):
        gen.intervene({"treated": 2}, n_samples=10)
    X = df.head(300)
    cf = gen.counterfactual(X, {"treated": 1 - X["treated"].to_numpy()}, random_state=0)
    delta = np.where(X["treated"] == 1, -2.0, 2.0)
    assert np.sqrt(np.mean((cf["y"] - (X["y"] + delta)) ** 2)) < 0.2
    same = gen.counterfactual(X, {}, random_state=0)
    assert (same["color"] == X["color"]).all() and (same["treated"] == X["treated"]).all()


def test_declared_types_and_string_categories():
    rng = np.random.default_rng(3)
    n = 1500
    a = rng.normal(size=n)
    lab = np.where(a + 0.5 * rng.normal(size=n) > 0, "yes", "no")
    df = pd.DataFrame({"a": a, "lab": lab})
    g = nx.DiGraph([("a", "lab")])
    gen = CCGMGenerator(g, column_types={"lab": "binary"}, epochs=20, random_state=0,
                        progress_bar=False).fit(df)
    s = gen.sample(5000, random_state=0)
    assert set(s["lab"]) <= {"yes", "no"}
    hi = gen.intervene({"a": 1.5}, n_samples=5000, random_state=0)
    assert (hi["lab"] == "yes").mean() > 0.9
