"""The simulated observational study (correlated confounders, a zero-inflated confounder and
outcome, a rare treatment, known ATE and ATT) and CCGM's effects on it."""
import networkx as nx
import numpy as np
import pytest

from dowhy_ccgm.datasets import OBS_CONFOUNDERS, observational_truth, simulate_observational


def test_the_simulated_study_has_the_stated_shape():
    data, truth, effects = simulate_observational(60_000, random_state=1, return_effects=True)
    assert list(data.columns) == OBS_CONFOUNDERS + ["D", "Y"]
    assert data["D"].dtype == np.int64 and data["x6"].dtype == np.int64
    # a rare treatment: share 2% (binomial sd 0.0006 at this n)
    assert abs(data["D"].mean() - 0.02) < 0.003
    assert abs(truth["treated_share"] - 0.02) < 1e-3
    # point masses at zero: x8 about 38% (Phi(-0.3)), the outcome about 18%
    assert abs((data["x8"] == 0).mean() - 0.382) < 0.01
    assert 0.12 < (data["Y"] == 0).mean() < 0.25 and data["Y"].min() == 0.0
    # correlated confounders: adjacent continuous latents at 0.7
    c = data[OBS_CONFOUNDERS].astype(float).corr().to_numpy()
    assert abs(c[0, 1] - 0.7) < 0.02 and abs(c[0, 2] - 0.49) < 0.02
    # the treated have larger x1, hence larger effects: ATT > ATE; the units' own effects
    # average to the population values (sd of the sample ATT with ~1200 treated: ~0.015)
    assert truth["att"] > truth["ate"] + 0.2
    assert abs(effects.mean() - truth["ate"]) < 0.02
    assert abs(effects[data["D"].to_numpy() == 1].mean() - truth["att"]) < 0.05
    # randomized: the same share, independent of the confounders
    rand, _ = simulate_observational(60_000, random_state=2, randomized=True)
    assert abs(rand["D"].mean() - 0.02) < 0.003
    assert abs(np.corrcoef(rand["D"], rand["x1"])[0, 1]) < 0.02
    assert observational_truth(0.02) == truth


def test_oracle_estimates_and_the_efficiency_floor():
    """The oracle (true-nuisance) efficient estimates are unbiased, and their spread, the
    efficiency bound, is far above the spread of the treated units' own sample ATT: no
    estimator that learns from the data can have the latter as its floor."""
    from dowhy_ccgm.datasets import observational_nuisances, oracle_estimates
    big, truth = simulate_observational(300_000, random_state=7)
    est = oracle_estimates(big)
    # sd at 300k rows: about 0.013 (ATE) and 0.015 (ATT); 3.5 sd
    assert abs(est["ate"] - truth["ate"]) < 0.05 and abs(est["att"] - truth["att"]) < 0.05
    nu = observational_nuisances(big)
    treated = big["D"].to_numpy() == 1
    assert abs(nu["e"].mean() - 0.02) < 0.001
    # the outcome regressions are the conditional means: residuals average to 0
    # (sd about 1 / sqrt(n_arm): 0.002 among the controls, 0.013 among the treated)
    assert abs((big["Y"].to_numpy() - nu["mu0"])[~treated].mean()) < 0.01
    assert abs((big["Y"].to_numpy() - nu["mu1"])[treated].mean()) < 0.05
    oracle_att, sample_att = [], []
    for r in range(30):
        d, _, e = simulate_observational(10_000, random_state=500 + r, return_effects=True)
        oracle_att.append(oracle_estimates(d)["att"])
        sample_att.append(e[d["D"].to_numpy() == 1].mean())
    # about 0.079 against 0.039 (the bench's 200 data sets); 30 data sets: sd within ~15%
    assert np.std(oracle_att, ddof=1) > 1.5 * np.std(sample_att, ddof=1)
    with pytest.raises(ValueError, match="x3"):
        oracle_estimates(big.drop(columns="x3"))
    with pytest.raises(ValueError, match="'Y'"):
        oracle_estimates(big.drop(columns="Y"))
    with pytest.raises(ValueError, match="no treated unit"):
        oracle_estimates(big[~treated])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_the_simulated_study_checks_n(bad):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        simulate_observational(bad)


def test_ccgm_recovers_the_effects_and_the_confounders_joint_law():
    """One CCGM on "every confounder into D and Y, D -> Y" (10% treated, 6000 rows: a
    test-sized version of bench_observational.py): the g-formula ATE and the treated units'
    counterfactual ATT within 0.15 of the truth (the bench's 5-seed errors at 2% treated and
    10k rows are 0.05 and 0.03; the naive difference is off by about 0.5 here), the
    confounders' correlation matrix within 0.05, the treated share within 0.01."""
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.effects import average_effect, effect_on_treated
    data, truth = simulate_observational(6000, treated_share=0.1, random_state=3)
    g = nx.DiGraph([(c, "D") for c in OBS_CONFOUNDERS] + [(c, "Y") for c in OBS_CONFOUNDERS]
                   + [("D", "Y")])
    gen = CCGMGenerator(g, column_types={"x6": "binary", "x7": "categorical", "D": "binary"},
                        random_state=0, progress_bar=False).fit(data)
    assert abs(naive_ate(data, "D", "Y") - truth["ate"]) > 0.3
    ate = average_effect(gen, "D", "Y", n_samples=100_000, random_state=1)
    att = effect_on_treated(gen, data, "D", "Y", random_state=2)
    assert abs(ate - truth["ate"]) < 0.15, (ate, truth)
    assert abs(att - truth["att"]) < 0.15, (att, truth)
    s = gen.sample(100_000, random_state=4)
    err = np.abs(s[OBS_CONFOUNDERS].astype(float).corr().to_numpy()
                 - data[OBS_CONFOUNDERS].astype(float).corr().to_numpy()).max()
    assert err < 0.05, err
    assert abs(s["D"].mean() - data["D"].mean()) < 0.01
