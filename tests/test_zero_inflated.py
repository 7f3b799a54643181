"""Zero-inflated columns (a point mass at 0 plus a continuous part): detection and
declaration, the point-mass share and the continuous part in samples, interventions and
counterfactuals against the true SCM, the DoWhy path, persistence, and clear errors."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator


def _expit(v):
    return 1.0 / (1.0 + np.exp(-v))


def earnings_scm(n, rng, x=None):
    """x -> earn -> y; P(earn = 0 | x) = expit(-0.5 + x); earn > 0 lognormal otherwise."""
    x = rng.normal(size=n) if x is None else np.full(n, float(x))
    zero = rng.random(n) < _expit(-0.5 + x)
    earn = np.where(zero, 0.0, np.exp(0.5 + 0.4 * x + 0.5 * rng.normal(size=n)))
    y = 0.5 * np.log1p(earn) + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"x": x, "earn": earn, "y": y})


GRAPH = nx.DiGraph([("x", "earn"), ("earn", "y")])


@pytest.fixture(scope="module")
def earnings():
    df = earnings_scm(8000, np.random.default_rng(0))
    return CCGMGenerator(GRAPH, random_state=0, progress_bar=False).fit(df), df


def test_detected_and_reproduced_point_mass(earnings):
    gen, df = earnings
    spec = gen.schema_.by_name["earn"]
    assert spec.atom and abs(spec.atom_share - (df["earn"] == 0).mean()) < 1e-12
    s = gen.sample(100_000, random_state=1)
    assert s["earn"].dtype == np.float64 and s["earn"].min() == 0.0   # exact zeros, none below
    # the share at 0 (binomial sd of the data's share 0.0055), and by x (the truth's share)
    assert abs((s["earn"] == 0).mean() - (df["earn"] == 0).mean()) < 0.015
    for lo, hi in [(-2.0, -1.0), (-0.5, 0.5), (1.0, 2.0)]:
        m = (s["x"] > lo) & (s["x"] < hi)
        truth = _expit(-0.5 + s.loc[m, "x"]).mean()
        assert abs((s.loc[m, "earn"] == 0).mean() - truth) < 0.03, (lo, hi)
    # the continuous part: quantiles of the positive values against the data's (measured
    # 0.59 / 1.49 / 3.27 against 0.66 / 1.45 / 3.20) and a two-sample KS distance
    pos_g, pos_d = s["earn"][s["earn"] > 0].to_numpy(), df["earn"][df["earn"] > 0].to_numpy()
    for q, tol in ((0.1, 0.15), (0.5, 0.06), (0.9, 0.06)):
        a, b = np.quantile(pos_g, q), np.quantile(pos_d, q)
        assert abs(a / b - 1) < tol, (q, a, b)
    grid = np.quantile(pos_d, np.linspace(0.01, 0.99, 99))
    ks = np.max(np.abs(np.searchsorted(np.sort(pos_g), grid) / len(pos_g)
                       - np.searchsorted(np.sort(pos_d), grid) / len(pos_d)))
    assert ks < 0.05, ks
    # the child sees the generated value: E[y | earn = 0] = 0 in the truth
    assert abs(s.loc[s["earn"] == 0, "y"].mean()) < 0.03


def test_interventions_move_the_point_mass(earnings):
    gen, _ = earnings
    for v in (-1.0, 1.0):
        iv = gen.intervene({"x": v}, n_samples=100_000, random_state=2)
        assert abs((iv["earn"] == 0).mean() - _expit(-0.5 + v)) < 0.02, v
    # do(earn = 0) sets the exact value, and the child's mechanism reads it
    iv = gen.intervene({"earn": 0.0}, n_samples=50_000, random_state=3)
    assert (iv["earn"] == 0).all() and abs(iv["y"].mean()) < 0.03


def test_counterfactuals_keep_units_and_ranks(earnings):
    gen, df = earnings
    units = df.iloc[:3000]
    same = gen.counterfactual(units, {"x": lambda v: v}, random_state=4)
    np.testing.assert_allclose(same["earn"], units["earn"], atol=1e-5)
    assert ((same["earn"] == 0) == (units["earn"] == 0)).all()
    # P(zero) rises with x: a unit at 0 stays at 0 when x rises (its noise lies below the
    # atom's CDF level, which only grows), and a positive unit keeps its rank among the
    # positive units that stay positive
    # a callable intervention on the node itself sees its exact values (zeros are 0.0)
    doubled = gen.counterfactual(units, {"earn": lambda v: 2.0 * v}, random_state=4)
    np.testing.assert_array_equal(doubled["earn"].to_numpy() == 0, units["earn"].to_numpy() == 0)
    np.testing.assert_allclose(doubled["earn"], 2.0 * units["earn"], rtol=1e-5, atol=1e-5)
    up = gen.counterfactual(units, {"x": lambda v: v + 1.0}, random_state=4)
    at0 = units["earn"].to_numpy() == 0
    assert (up["earn"].to_numpy()[at0] == 0).all()
    assert (up["earn"] == 0).mean() > (units["earn"] == 0).mean() + 0.1


def test_general_form_with_values_on_both_sides():
    """A point mass inside the support (net income: losses, zeros, gains)."""
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.normal(size=n)
    zero = rng.random(n) < 0.3
    inc = np.where(zero, 0.0, 1.0 + x + rng.normal(size=n))
    df = pd.DataFrame({"x": x, "inc": inc})
    gen = CCGMGenerator(nx.DiGraph([("x", "inc")]), random_state=0,
                        progress_bar=False).fit(df)
    s = gen.sample(80_000, random_state=6)
    assert abs((s["inc"] == 0).mean() - 0.3) < 0.02
    assert abs((s["inc"] < 0).mean() - (df["inc"] < 0).mean()) < 0.02
    nz, nz_data = s["inc"][s["inc"] != 0], df["inc"][df["inc"] != 0]
    # against the data's (se of its mean 0.022, of its sd 0.015)
    assert abs(nz.mean() - nz_data.mean()) < 0.05 and abs(nz.std() - nz_data.std()) < 0.06
    same = gen.counterfactual(df.iloc[:1000], {"x": lambda v: v}, random_state=7)
    np.testing.assert_allclose(same["inc"], df["inc"].iloc[:1000], atol=1e-5)


def test_zero_inflated_root_and_persistence(tmp_path):
    rng = np.random.default_rng(8)
    n = 4000
    hours = np.where(rng.random(n) < 0.25, 0.0, rng.gamma(4.0, 5.0, size=n))
    df = pd.DataFrame({"hours": hours, "y": 0.05 * hours + rng.normal(size=n)})
    g = nx.DiGraph([("hours", "y")])
    for sampling in ("empirical", "independent"):
        gen = CCGMGenerator(g, root_sampling=sampling, random_state=0,
                            progress_bar=False).fit(df)
        s = gen.sample(50_000, random_state=9)
        assert abs((s["hours"] == 0).mean() - 0.25) < 0.02, sampling
        assert s["hours"].min() == 0.0
    path = tmp_path / "m.pt"
    gen.save(path)
    back = CCGMGenerator.load(path)
    pd.testing.assert_frame_equal(back.sample(2000, random_state=3),
                                  gen.sample(2000, random_state=3))


def test_declarations_and_errors():
    rng = np.random.default_rng(9)
    df = earnings_scm(600, rng)
    plain = CCGMGenerator(GRAPH, column_types={"earn": "continuous"}, epochs=2,
                          progress_bar=False).fit(df)
    assert not plain.schema_.by_name["earn"].atom
    with pytest.raises(ValueError, match="'y' is declared zero_inflated but has no exact zeros"):
        CCGMGenerator(GRAPH, column_types={"y": "zero_inflated"}, epochs=1).fit(df)
    # an integer column may carry a point mass (a count's structural zeros)
    counts = df.assign(earn=np.rint(df["earn"]).astype(np.int64))
    gen = CCGMGenerator(GRAPH, column_types={"earn": "zero_inflated"}, epochs=1,
                        progress_bar=False).fit(counts)
    assert gen.schema_.by_name["earn"].atoms == [0.0]
    # a declared point mass the model cannot represent is an error naming the column ...
    with pytest.raises(ValueError, match=r"point masses \['earn'\].*objective='exact'"):
        CCGMGenerator(GRAPH, objective="elbo", epochs=1,
                      column_types={"earn": "zero_inflated"}).fit(df)
    with pytest.raises(ValueError, match=r"point masses \['earn'\].*ccgm_noise"):
        CCGMGenerator(GRAPH, variant="ccgm", epochs=1,
                      column_types={"earn": "zero_inflated"}).fit(df)
    # ... a detected one is modelled as plain continuous, with a warning that names it
    for kw in ({"objective": "elbo"}, {"variant": "ccgm"}):
        with pytest.warns(UserWarning, match=r"columns \['earn'\] have point masses.*'earn' "
                                             r"at \[0.0\]"):
            g = CCGMGenerator(GRAPH, epochs=1, progress_bar=False, **kw).fit(df)
        assert not g.schema_.by_name["earn"].atom


def test_dowhy_path_detects_the_point_mass():
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    df = earnings_scm(5000, np.random.default_rng(10))[["x", "earn"]]
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph([("x", "earn")]))
    set_random_seed(0)
    assign_ccgm_mechanisms(scm, df, progress_bar=False)
    gcm.fit(scm, df)
    s = gcm.draw_samples(scm, 50_000)
    assert s["earn"].min() == 0.0
    assert abs((s["earn"] == 0).mean() - (df["earn"] == 0).mean()) < 0.02
    iv = gcm.interventional_samples(scm, {"x": lambda v: 1.0}, num_samples_to_draw=50_000)
    assert abs((iv["earn"] == 0).mean() - _expit(0.5)) < 0.02
    cf = gcm.counterfactual_samples(scm, {"x": lambda v: v}, observed_data=df.iloc[:1000])
    np.testing.assert_allclose(cf["earn"], df["earn"].iloc[:1000], atol=1e-5)


def test_files_from_before_general_point_masses_load(earnings, tmp_path):
    """A model file written before several atoms per column (an ``atom`` buffer of
    [has atom, its value, lower form], specs with ``atom``/``atom_share`` only, no root
    values in the pool) loads into the same model: the same samples."""
    import json
    import torch
    gen, _ = earnings
    path = tmp_path / "m.pt"
    gen.save(path)
    payload = torch.load(path, weights_only=False)
    state = payload["state"]
    values, meta = state.pop("atom_values"), json.loads(payload["meta"])
    old = torch.zeros(state["atom"].shape[0], 3)
    old[:, 0] = state["atom"][:, 0]
    old[:, 1] = values[:, 0]
    old[:, 2] = state["atom"][:, 1]
    state["atom"] = old
    for spec in meta["schema"]["specs"]:
        for key in ("atoms", "atom_shares", "step"):
            spec.pop(key, None)
    payload["meta"] = json.dumps(meta)
    for key in ("values", "values_idx"):
        payload["root_pool"].pop(key, None)
    torch.save(payload, path)
    back = CCGMGenerator.load(path)
    assert back.schema_.by_name["earn"].atoms == [0.0]
    a, b = back.sample(3000, random_state=3), gen.sample(3000, random_state=3)
    pd.testing.assert_frame_equal(a.drop(columns="x"), b.drop(columns="x"))
    # (the roots' values are then the float32 state's: a standardized value to float32's
    # 6e-8, so equal to 1e-6 of the value or, near the column's zero, of its scale)
    np.testing.assert_allclose(a["x"], b["x"], rtol=1e-6, atol=1e-6 * float(b["x"].std()))
