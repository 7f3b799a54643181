"""Real data: NHEFS (Hernan and Robins, *Causal Inference: What If*, ch. 12-13; the
``causaldata`` package), the effect of quitting smoking on weight gain, with the 63
participants whose outcome is missing kept in the fit. The book's reference analyses give
3.4 kg (95% CI 2.4-4.5) by IP weighting and 3.5 kg (2.6-4.5) by standardization."""
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_real import NHEFS_COVARIATES, load_nhefs  # noqa: E402

from dowhy_ccgm import CCGMGenerator  # noqa: E402
from dowhy_ccgm.effects import average_effect  # noqa: E402


@pytest.fixture(scope="module")
def nhefs():
    df = load_nhefs()
    g = nx.DiGraph([(c, "qsmk") for c in NHEFS_COVARIATES]
                   + [(c, "wt82_71") for c in NHEFS_COVARIATES] + [("qsmk", "wt82_71")])
    return CCGMGenerator(g, random_state=0, progress_bar=False).fit(df), df


def test_nhefs_columns_as_recorded(nhefs):
    gen, df = nhefs
    assert df["wt82_71"].isna().sum() == 63 and len(df) == 1629
    spec = gen.schema_.by_name
    assert spec["wt71"].step == 0.01 and spec["age"].step == 1.0       # lattices detected
    assert spec["education"].kind == "categorical" and spec["qsmk"].kind == "binary"
    s = gen.sample(20_000, random_state=1)
    cents = s["wt71"].to_numpy() * 100
    np.testing.assert_allclose(cents, np.rint(cents), atol=1e-6)
    np.testing.assert_array_equal(s["age"], np.rint(s["age"]))
    # the treated share and the outcome's mean and spread of the data (sd of a mean of
    # 1566 outcomes: 0.2 kg)
    assert abs(s["qsmk"].mean() - df["qsmk"].mean()) < 0.02
    assert abs(s["wt82_71"].mean() - df["wt82_71"].mean()) < 0.5
    assert abs(s["wt82_71"].std() / df["wt82_71"].std() - 1) < 0.1


def test_nhefs_effect_inside_the_reference_intervals(nhefs):
    gen, _ = nhefs
    ate = average_effect(gen, "qsmk", "wt82_71", n_samples=200_000, random_state=0)
    # measured 3.48 kg; inside both references' 95% intervals (2.4-4.5 and 2.6-4.5)
    assert 2.6 <= ate <= 4.5, ate
    assert abs(ate - 3.45) < 0.5
