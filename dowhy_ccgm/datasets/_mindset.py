"""The learning-mindset data set and a mindset-like simulator with a known effect.

Two entry points:

* :func:`load_mindset` returns the packaged copy of the simulated National Study of
  Learning Mindsets (the tabular data of the paper's Section IV.B / Table II).
* :func:`simulate_mindset` draws from a small structural causal model that mimics the
  four variables used in the paper's experiment, with a known average treatment effect,
  so that estimators can be checked against the truth.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from ._files import read_packaged_csv

__all__ = ["load_mindset", "simulate_mindset", "MINDSET_SHA256"]

#: sha256 of the packaged ``data/learning_mindset.csv``.
MINDSET_SHA256 = "00e904b1bcc688857cc679d9035dac1b3ba892c3a03a4d5050eb43f101256fa7"

_RESOURCE = "data/learning_mindset.csv"
_N_ROWS = 10_391

_COLUMNS = [
    "schoolid",
    "intervention",
    "achievement_score",
    "success_expect",
    "ethnicity",
    "gender",
    "frst_in_family",
    "school_urbanicity",
    "school_mindset",
    "school_achievement",
    "school_ethnic_minority",
    "school_poverty",
    "school_size",
]
_CATEGORICAL = ["schoolid", "ethnicity", "gender", "frst_in_family", "school_urbanicity"]
_FLOAT = [
    "achievement_score",
    "school_mindset",
    "school_achievement",
    "school_ethnic_minority",
    "school_poverty",
    "school_size",
]

# Marginal distribution of ``success_expect`` (levels 1..7) in the real data, used by
# the simulator's discretisation of a standard-normal latent variable.
_SE_PROBS = np.array([0.00885, 0.01809, 0.04581, 0.10240, 0.36599, 0.36589, 0.09297])


def load_mindset(*, verify_checksum: bool = False) -> pd.DataFrame:
    """Load the simulated National Study of Learning Mindsets (10,391 students).

    The data are a *simulated* version of the National Study of Learning Mindsets, a
    randomized "growth mindset" nudge study in U.S. public high schools. The simulation
    was released by Athey and Wager (2019) for the ACIC 2018 workshop on empirical
    investigation of methods for heterogeneous treatment effects. This copy is the
    version with readable column names that is distributed with DoWhy's example
    notebooks and with the "Causal Inference for the Brave and True" handbook (both MIT
    licensed). In it, treatment assignment is confounded, so the naive difference of
    means (about 0.47) overstates the covariate-adjusted effect (about 0.41).

    Parameters
    ----------
    verify_checksum : bool, default False
        Also compare the file's sha256 with :data:`MINDSET_SHA256` and raise when it
        differs. Shape, column names and value ranges are always checked.

    Returns
    -------
    pandas.DataFrame
        10,391 rows, one per student, and 13 columns:

        - ``intervention`` (int64, 0/1): the binary treatment, about 33% treated.
        - ``achievement_score`` (float64): standardized outcome.
        - ``success_expect`` (int64): self-reported expectation of success, ordinal 1..7.
        - ``schoolid``, ``ethnicity``, ``gender``, ``frst_in_family``,
          ``school_urbanicity`` (``category`` dtype; the categories are the integer
          codes of the original file). Students sit in 76 schools.
        - ``school_mindset``, ``school_achievement``, ``school_ethnic_minority``,
          ``school_poverty``, ``school_size`` (float64): standardized school-level
          covariates.

    Raises
    ------
    ValueError
        If the packaged file does not have the expected shape, columns or values.

    Notes
    -----
    Terms of use: the data may be used to evaluate treatment-effect estimation methods.
    Do not publish analyses of the covariates' joint distribution (the covariates
    follow the real study's). Cite the National Study of Learning Mindsets when
    using them, and Athey and Wager (2019) for the simulation.

    sha256 of the packaged CSV:
    ``00e904b1bcc688857cc679d9035dac1b3ba892c3a03a4d5050eb43f101256fa7``.

    References
    ----------
    .. [1] D. S. Yeager et al., "A national experiment reveals where a growth mindset
       improves achievement", Nature 573, 364-369 (2019). The National Study of
       Learning Mindsets.
    .. [2] S. Athey and S. Wager, "Estimating Treatment Effects with Causal Forests:
       An Application", Observational Studies 5, 37-51 (2019).

    Examples
    --------
    >>> from dowhy_ccgm.datasets import load_mindset
    >>> df = load_mindset()
    >>> df.shape
    (10391, 13)
    """
    df = read_packaged_csv(_RESOURCE, MINDSET_SHA256, verify_checksum)

    if list(df.columns) != _COLUMNS:
        raise ValueError(
            f"learning_mindset.csv has columns {list(df.columns)}, expected {_COLUMNS}."
        )
    if df.shape != (_N_ROWS, len(_COLUMNS)):
        raise ValueError(
            f"learning_mindset.csv has shape {df.shape}, expected ({_N_ROWS}, {len(_COLUMNS)})."
        )
    if df.isna().any().any():
        bad = [c for c in df.columns if df[c].isna().any()]
        raise ValueError(f"learning_mindset.csv has missing values in {bad}.")
    if not set(np.unique(df["intervention"])) <= {0, 1}:
        raise ValueError("learning_mindset.csv: 'intervention' is not binary 0/1.")
    se = df["success_expect"]
    if not (np.issubdtype(se.dtype, np.integer) and se.between(1, 7).all()):
        raise ValueError("learning_mindset.csv: 'success_expect' is not an integer in 1..7.")

    df["intervention"] = df["intervention"].astype(np.int64)
    df["success_expect"] = df["success_expect"].astype(np.int64)
    for col in _FLOAT:
        df[col] = df[col].astype(np.float64)
    for col in _CATEGORICAL:
        codes = df[col].astype(np.int64)
        df[col] = pd.Categorical(codes, categories=np.sort(codes.unique()), ordered=False)
    return df


def _softplus(x):
    return np.logaddexp(0.0, x)


def _outcome_baseline(success_expect, school_mindset):
    """Untreated mean outcome m(SE, SM) of the simulator (before centring)."""
    return (0.5 * _softplus(1.5 * (success_expect - 4.8))
            - 0.08 * school_mindset - 0.03 * school_mindset**2)


# Constant that makes E[m(SE, SM)] = 0 under the simulator's marginals
# (SE has the marginal _SE_PROBS exactly; E[SM] = 0, E[SM^2] = 1).
_BASELINE_SHIFT = float(
    np.dot(_SE_PROBS / _SE_PROBS.sum(), 0.5 * _softplus(1.5 * (np.arange(1, 8) - 4.8)))
) - 0.03


def simulate_mindset(n: int = 10_000, *, ate: float = 0.40, random_state=None):
    """Draw a mindset-like data set from a structural causal model with a known ATE.

    The model mimics the four variables the paper uses from the learning-mindset data
    (:func:`load_mindset`): a school-level mindset score, an ordinal success
    expectation, a confounded binary intervention and a continuous achievement score.
    The treatment effect is constant, so the true average treatment effect equals
    ``ate`` exactly, and the confounding makes the naive difference of means overstate
    it (by about 0.09 with the default settings, like the real data's 0.47 vs 0.41).

    Structural equations, with independent noises ``U_SM, U_L, U_D, U_Y``
    (``U_SM, U_L, eps ~ N(0, 1)``, ``U_D ~ Uniform(0, 1)``)::

        school_mindset    SM = U_SM
        latent            L  = -0.06 * SM + sqrt(1 - 0.06**2) * U_L        (L ~ N(0, 1))
        success_expect    SE = 1 + #{k : L > c_k},  c_k = Phi^{-1}(cumulative marginal
                               of the real success_expect), so SE in 1..7 has the
                               real data's marginal distribution
        propensity        e  = expit(-0.95 + 0.12 * (SE - 5) + 0.10 * 1[SE >= 6]
                                     - 0.20 * tanh(SM))
        intervention      D  = 1[U_D < e]                                   (~30% treated)
        achievement_score Y  = 0.5 * softplus(1.5 * (SE - 4.8)) - 0.08 * SM - 0.03 * SM**2
                               - c + ate * D + 0.85 * eps

    where ``c`` centres the untreated part of ``Y`` at mean zero and
    ``softplus(x) = log(1 + exp(x))``. Higher success expectation raises both the chance
    of treatment and the outcome (a positive bias); higher school mindset lowers the
    chance of treatment and (slightly) the outcome (also a positive bias). The
    propensity is mildly nonlinear (a step at SE = 6 and a ``tanh``), and the outcome is
    convex in SE, so linear/logistic working models are slightly misspecified: with
    ``ate=0.4``, the large-sample limits are about 0.49 for the naive estimate and
    0.405 for AIPW with logistic propensity and linear outcome models. Correlations are
    close to the real data's: SE-Y about 0.44, SM-Y about -0.12, SE-D about 0.08,
    SM-D about -0.06.

    Parameters
    ----------
    n : int, default 10_000
        Number of rows (students).
    ate : float, default 0.40
        The constant treatment effect, hence the true average treatment effect.
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Seed for :func:`numpy.random.default_rng`. ``None`` draws fresh entropy.

    Returns
    -------
    data : pandas.DataFrame
        Columns ``school_mindset`` (float64), ``success_expect`` (int64, 1..7),
        ``intervention`` (int64, 0/1) and ``achievement_score`` (float64).
    true_ate : float
        The true average treatment effect (equal to ``ate``).

    Examples
    --------
    >>> from dowhy_ccgm.datasets import simulate_mindset
    >>> data, true_ate = simulate_mindset(1_000, random_state=0)
    >>> data.shape, true_ate
    ((1000, 4), 0.4)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if isinstance(ate, bool) or not isinstance(ate, numbers.Real) or not np.isfinite(ate):
        raise ValueError(f"ate must be a finite real number, got {ate!r}.")
    n = int(n)
    ate = float(ate)
    rng = np.random.default_rng(random_state)

    school_mindset = rng.standard_normal(n)
    rho = -0.06
    latent = rho * school_mindset + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)
    cuts = norm.ppf(np.cumsum(_SE_PROBS / _SE_PROBS.sum())[:-1])
    success_expect = (1 + np.searchsorted(cuts, latent)).astype(np.int64)

    logit = (
        -0.95
        + 0.12 * (success_expect - 5)
        + 0.10 * (success_expect >= 6)
        - 0.20 * np.tanh(school_mindset)
    )
    intervention = (rng.uniform(size=n) < expit(logit)).astype(np.int64)

    achievement_score = (
        _outcome_baseline(success_expect, school_mindset)
        - _BASELINE_SHIFT
        + ate * intervention
        + 0.85 * rng.standard_normal(n)
    )

    data = pd.DataFrame(
        {
            "school_mindset": school_mindset.astype(np.float64),
            "success_expect": success_expect,
            "intervention": intervention,
            "achievement_score": achievement_score.astype(np.float64),
        }
    )
    return data, ate
