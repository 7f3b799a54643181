"""A simulated observational study with known ATE and ATT: correlated confounders (one of
them zero-inflated; optionally rounded, count-valued and top-coded ones), a rare treatment
and a zero-inflated outcome."""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

#: The confounders of :func:`simulate_observational`, in order.
OBS_CONFOUNDERS = [f"x{k}" for k in range(1, 9)]
#: Their correlation: ``0.7 ** |i - j|`` on the latent Gaussian scale.
OBS_LATENT_CORRELATION = 0.7


def _expit(v):
    return 1.0 / (1.0 + np.exp(-v))


#: the top-code of ``x8`` with ``quirks=True`` (its latent above 1.2: about 11.5% of rows)
OBS_TOP_CODE = float(np.round(np.exp(0.4 + 0.5 * 1.2), 2))


def _covariates(L: np.ndarray, quirks: bool = False) -> dict:
    """The eight confounders from correlated standard-normal latents ``L`` (n, 8); with
    ``quirks`` the values real data record (a rounded column, a count with structural
    zeros, a top-code)."""
    x = {f"x{k}": L[:, k - 1] for k in range(1, 5)}                   # continuous
    x["x5"] = np.exp(0.5 * L[:, 4])                                     # skewed
    x["x6"] = (L[:, 5] > 0.5).astype(np.int64)                          # binary
    x["x7"] = np.digitize(L[:, 6], [-0.5, 0.7]).astype(np.int64)        # 3 categories
    # zero-inflated "earnings": a point mass at 0 (latent below -0.3, about 38%), else a
    # skewed positive amount
    x["x8"] = np.where(L[:, 7] < -0.3, 0.0, np.exp(0.4 + 0.5 * L[:, 7]))
    if quirks:
        x["x4"] = np.round(L[:, 3], 1)                                  # recorded to 0.1
        # a count with structural zeros (half the rows), 1, 2, ... above
        x["x5"] = np.where(L[:, 4] < 0.0, 0,
                           np.floor(2.0 * np.exp(0.6 * L[:, 4]))).astype(np.int64)
        x["x8"] = np.minimum(np.round(x["x8"], 2), OBS_TOP_CODE)       # cents, top-coded
    return x


def _propensity_index(x: dict) -> np.ndarray:
    return (0.8 * x["x1"] - 0.6 * x["x2"] + 0.3 * np.tanh(x["x3"]) + 0.5 * x["x6"]
            + 0.4 * np.log1p(x["x8"]))


def _outcome_index(x: dict) -> np.ndarray:
    """The untreated outcome's latent mean."""
    return (0.6 + 0.7 * x["x1"] + 0.5 * x["x2"] - 0.4 * x["x4"] + 0.3 * x["x5"]
            + 0.5 * x["x6"] + 0.3 * (x["x7"] == 2) + 0.4 * np.log1p(x["x8"]))


def _effect_index(x: dict) -> np.ndarray:
    """The treatment's shift of the outcome's latent: larger for larger x1."""
    return 1.0 + 0.5 * x["x1"]


def _latents(n: int, rng: np.random.Generator) -> np.ndarray:
    k = len(OBS_CONFOUNDERS)
    R = OBS_LATENT_CORRELATION ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    return rng.standard_normal((n, k)) @ np.linalg.cholesky(R).T


_INTERCEPTS: dict = {}


def _intercept(treated_share: float, quirks: bool = False) -> float:
    """The propensity's intercept that gives ``treated_share`` (bisection on 1M fixed
    covariate draws; cached)."""
    key = (round(float(treated_share), 12), bool(quirks))
    if key not in _INTERCEPTS:
        index = _propensity_index(_covariates(_latents(1_000_000, np.random.default_rng(12345)),
                                              quirks))
        lo, hi = -20.0, 20.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _expit(mid + index).mean() > treated_share:
                hi = mid
            else:
                lo = mid
        _INTERCEPTS[key] = 0.5 * (lo + hi)
    return _INTERCEPTS[key]


_TRUTH: dict = {}


def observational_truth(treated_share: float = 0.02, quirks: bool = False) -> dict:
    """Population ATE and ATT of :func:`simulate_observational` (Monte Carlo over 2M fixed
    units with both potential outcomes drawn from the same noise; the ATT weights every
    unit by its propensity, ``E[e(X) (Y(1) - Y(0))] / E[e(X)]``, which has far less Monte
    Carlo error than averaging over drawn treated units). Cached per share and
    ``quirks``."""
    key = (round(float(treated_share), 12), bool(quirks))
    if key not in _TRUTH:
        rng = np.random.default_rng(54321)
        effects, weights = [], []
        a = _intercept(treated_share, quirks)
        for _ in range(4):
            x = _covariates(_latents(500_000, rng), quirks)
            eps = rng.standard_normal(500_000)
            base = _outcome_index(x) + eps
            delta = np.maximum(base + _effect_index(x), 0.0) - np.maximum(base, 0.0)
            effects.append(delta)
            weights.append(_expit(a + _propensity_index(x)))
        delta, e = np.concatenate(effects), np.concatenate(weights)
        _TRUTH[key] = {"ate": float(delta.mean()), "att": float((e * delta).sum() / e.sum()),
                       "treated_share": float(e.mean())}
    return dict(_TRUTH[key])


def _positive_part_mean(v: np.ndarray) -> np.ndarray:
    """``E[max(0, v + eps)]``, ``eps ~ N(0, 1)``: ``v Phi(v) + phi(v)``."""
    from scipy.special import ndtr
    return v * ndtr(v) + np.exp(-0.5 * v * v) / np.sqrt(2.0 * np.pi)


def observational_nuisances(data: pd.DataFrame, treated_share: float = 0.02,
                            quirks: bool = False) -> dict:
    """The true nuisance functions of :func:`simulate_observational` at the rows of
    ``data``: the propensity ``e = P(D = 1 | x)`` and the outcome regressions
    ``mu0 = E[Y | x, D = 0]``, ``mu1 = E[Y | x, D = 1]`` (exact:
    ``E[max(0, v + eps)] = v Phi(v) + phi(v)``), each an (n,) array.

    They make the *oracle* estimates of :func:`oracle_estimates`: what an analyst who knew
    the true functions would compute from the data set, the reference for the part of an
    estimator's error that is the data set's own."""
    missing = [c for c in OBS_CONFOUNDERS if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks the confounder columns {missing} of "
                         "simulate_observational")
    x = {c: data[c].to_numpy(dtype=np.float64) for c in OBS_CONFOUNDERS}
    m, tau = _outcome_index(x), _effect_index(x)
    return {"e": _expit(_intercept(treated_share, quirks) + _propensity_index(x)),
            "mu0": _positive_part_mean(m), "mu1": _positive_part_mean(m + tau)}


def oracle_estimates(data: pd.DataFrame, treated_share: float = 0.02,
                     quirks: bool = False) -> dict:
    """The efficient (doubly robust) ATE and ATT estimates of ``data`` with the *true*
    nuisance functions (:func:`observational_nuisances`): the efficient influence
    functions' means,

    * ATE: ``mean(mu1 - mu0 + D (Y - mu1) / e - (1 - D) (Y - mu0) / (1 - e))``;
    * ATT: ``sum(D (Y - mu0) - (1 - D) e / (1 - e) (Y - mu0)) / sum(D)``.

    Their spread over data sets of ``n`` rows is the semiparametric efficiency bound at that
    size: no regular estimator that learns the nuisances from the data does better. (The
    treated units' own sample ATT is *not* such a floor: it needs their unobserved
    ``Y(0)``.) ``data`` needs the columns of :func:`simulate_observational`."""
    nu = observational_nuisances(data, treated_share, quirks)
    for c in ("D", "Y"):
        if c not in data.columns:
            raise ValueError(f"data lacks the column {c!r} of simulate_observational")
    d = data["D"].to_numpy(dtype=np.float64)
    y = data["Y"].to_numpy(dtype=np.float64)
    if d.sum() == 0:
        raise ValueError("data has no treated unit (D == 1): the ATT is undefined")
    e, mu0, mu1 = nu["e"], nu["mu0"], nu["mu1"]
    ate = np.mean(mu1 - mu0 + d * (y - mu1) / e - (1 - d) * (y - mu0) / (1 - e))
    att = np.sum(d * (y - mu0) - (1 - d) * e / (1 - e) * (y - mu0)) / d.sum()
    return {"ate": float(ate), "att": float(att)}


def simulate_observational(n: int = 10_000, *, treated_share: float = 0.02,
                           random_state=None, return_effects: bool = False,
                           randomized: bool = False, quirks: bool = False):
    """An observational study with a known ATE and ATT (the shape of real data).

    Structural causal model, with latents ``L ~ N(0, R)``, ``R_ij = 0.7^|i-j|`` (eight
    correlated confounders, adjacent pairs at 0.7 on the latent scale) and independent
    noises ``U_D ~ U(0, 1)``, ``eps ~ N(0, 1)``::

        x1..x4 = L1..L4                      continuous
        x5 = exp(0.5 L5)                     skewed, positive
        x6 = 1[L6 > 0.5]                     binary
        x7 = 0, 1, 2 by L7's cuts -0.5, 0.7  categorical
        x8 = 0 if L8 < -0.3 else exp(0.4 + 0.5 L8)   zero-inflated (about 38% zeros)
        D  = 1[U_D < expit(a + 0.8 x1 - 0.6 x2 + 0.3 tanh(x3) + 0.5 x6 + 0.4 log1p(x8))]
        Y  = max(0, m(x) + (1 + 0.5 x1) D + eps)                      zero-inflated outcome
        m(x) = 0.6 + 0.7 x1 + 0.5 x2 - 0.4 x4 + 0.3 x5 + 0.5 x6 + 0.3 [x7 = 2]
               + 0.4 log1p(x8)

    With ``quirks=True`` the confounders carry what real data record, and the treatment and
    outcome respond to the recorded values: ``x4`` rounded to one decimal (a lattice),
    ``x5`` a count with structural zeros (``0`` where ``L5 < 0``, else ``floor(2 exp(0.6
    L5))``, int64), and ``x8`` in cents and top-coded at :data:`OBS_TOP_CODE` (a second
    point mass, about 11.5% of the rows, beside the zeros).

    ``a`` makes the treated share ``treated_share`` (default 2%: a rare treatment). The
    treated have larger ``x1``, hence larger effects: the ATT exceeds the ATE. The
    outcome's point mass at zero makes the effect nonlinear in ``x`` even where the
    latent effect is linear.

    Returns
    -------
    data : pandas.DataFrame
        ``x1``..``x8``, ``D`` (int64 0/1), ``Y`` (float64 >= 0).
    truth : dict
        Population ``ate``, ``att`` and ``treated_share``
        (:func:`observational_truth`).
    With ``randomized=True`` the treatment is drawn independently of the confounders with
    the same share (the de-biased world: the naive difference of means of such a sample is
    the true SCM's own estimate of the ATE at this size).

    effects : numpy.ndarray, only with ``return_effects=True``
        Every unit's own ``Y_i(1) - Y_i(0)`` (its own noise): the sample ATE and ATT of the
        true SCM, whose spread over data sets is the sampling floor of an estimate from
        ``n`` rows.

    Examples
    --------
    >>> from dowhy_ccgm.datasets import simulate_observational
    >>> data, truth = simulate_observational(2_000, random_state=0)
    >>> data.shape, round(truth["att"] - truth["ate"], 2) > 0
    ((2000, 10), True)
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if (isinstance(treated_share, bool) or not isinstance(treated_share, numbers.Real)
            or not 0.0 < float(treated_share) < 1.0):
        raise ValueError(f"treated_share must be a number in (0, 1), got {treated_share!r}.")
    rng = np.random.default_rng(random_state)
    x = _covariates(_latents(int(n), rng), quirks)
    e = (np.full(int(n), float(treated_share)) if randomized
         else _expit(_intercept(treated_share, quirks) + _propensity_index(x)))
    d = rng.random(int(n)) < e
    base = _outcome_index(x) + rng.standard_normal(int(n))
    y = np.maximum(base + _effect_index(x) * d, 0.0)
    data = pd.DataFrame({**x, "D": d.astype(np.int64), "Y": y})
    if return_effects:
        effects = np.maximum(base + _effect_index(x), 0.0) - np.maximum(base, 0.0)
        return data, observational_truth(treated_share, quirks), effects
    return data, observational_truth(treated_share, quirks)
