"""ATE, ATT and subgroup effects from a fitted generator, against a simulated truth
(issue 10): x -> d -> y, x -> y with a heterogeneous effect y = d (1 + x) + sin(x) + noise,
so ATE = 1 while the treated (more often x > 0) gain more."""
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.ate import naive_ate
from dowhy_ccgm.effects import (average_effect, effect_on_treated, subgroup_effects,
                                unit_effects)

GRAPH = nx.DiGraph([("x", "d"), ("x", "y"), ("d", "y")])


def simulate(n, shift, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(1.5 * x - shift)))).astype(int)
    y = d * (1 + x) + np.sin(x) + 0.3 * rng.normal(size=n)
    return pd.DataFrame({"x": x, "d": d, "y": y})


@pytest.fixture(scope="module")
def study():
    df = simulate(5000, 1.0, 0)                       # 33% treated
    return CCGMGenerator(GRAPH, random_state=0, progress_bar=False).fit(df), df


def test_ate_att_and_subgroups_match_the_truth(study):
    gen, df = study
    x, d = df["x"].to_numpy(), df["d"].to_numpy()
    assert abs(average_effect(gen, "d", "y", random_state=0) - 1.0) < 0.06   # measured 0.016
    att_true = np.mean(1 + x[d == 1])                  # the treated units' own effects
    assert abs(effect_on_treated(gen, df, "d", "y") - att_true) < 0.08      # measured 0.025
    assert abs(naive_ate(df, "d", "y") - att_true) > 0.3                  # (confounded)
    groups = subgroup_effects(gen, df, "d", "y", by=np.where(x > 0, "pos", "neg"))
    assert groups.loc["pos", "effect"] == pytest.approx(np.mean(1 + x[x > 0]), abs=0.1)
    assert groups.loc["neg", "effect"] == pytest.approx(np.mean(1 + x[x <= 0]), abs=0.1)
    assert groups["n"].sum() == len(df)
    # the treated arm of a treated unit is its observed outcome
    eff = unit_effects(gen, df[df.d == 1].head(50), "d", "y")
    y0 = gen.counterfactual(df[df.d == 1].head(50), {"d": 0})["y"]
    np.testing.assert_allclose(eff, df[df.d == 1].head(50)["y"] - y0, atol=1e-4)


def test_rare_treatment_share_and_effect_on_the_treated():
    """2.5% treated: the generated treated share and the treated subpopulation are kept,
    and the ATT (identified where the treated are) is accurate."""
    df = simulate(10_000, 4.6, 1)
    gen = CCGMGenerator(GRAPH, random_state=0, progress_bar=False).fit(df)
    s = gen.sample(400_000, random_state=1)
    assert abs(s["d"].mean() - df["d"].mean()) < 0.004                    # measured 0.0007
    assert abs(s.loc[s.d == 1, "x"].mean() - df.loc[df.d == 1, "x"].mean()) < 0.1
    att_true = np.mean(1 + df.loc[df.d == 1, "x"])
    assert abs(effect_on_treated(gen, df, "d", "y") - att_true) < 0.1      # measured 0.012


def test_effect_helpers_refuse_bad_input(study):
    gen, df = study
    with pytest.raises(KeyError, match="unknown treatment node 'z'"):
        average_effect(gen, "z", "y")
    with pytest.raises(ValueError, match="same node 'y'"):
        effect_on_treated(gen, df, "y", "y")
    with pytest.raises(ValueError, match="no unit of X has 'd' == 5"):
        effect_on_treated(gen, df, "d", "y", treated=5)
    with pytest.raises(ValueError, match="n_draws must be a positive integer"):
        unit_effects(gen, df, "d", "y", n_draws=0)
    with pytest.raises(ValueError, match="by has 3 labels for 5000 units"):
        subgroup_effects(gen, df, "d", "y", by=["a", "b", "c"])
