"""The estimator's parameters in one table: scikit-learn parameter constraints.

:data:`PARAMETER_CONSTRAINTS` is ``CCGMGenerator._parameter_constraints``; the DoWhy
mechanisms check their ``**ccgm_params`` against the same table
(:func:`check_parameters`), so a wrong type or value gives the same error everywhere:
scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``) naming the
parameter, what it must be and what it got. Checks across parameters follow in
:func:`check_combinations`.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import (
    InvalidParameterError,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

from .nn import VARIANTS

__all__ = ["DEFAULTS", "PARAMETER_CONSTRAINTS", "InvalidParameterError", "check_parameters",
           "check_combinations", "resolve_objective", "schedule"]

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_NON_NEGATIVE_INT = Interval(Integral, 0, None, closed="left")
_POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
_NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")

#: The estimator's parameters and their defaults (``CCGMGenerator.__init__``'s signature;
#: a test holds the two equal).
DEFAULTS: dict = {
    "graph": None, "exogenous": None, "variant": "ccgm_noise", "column_types": None,
    "hidden": 32, "n_layers": 2, "encoder_hidden": 64, "epochs": 200, "pretrain_epochs": 5,
    "batch_size": None, "learning_rate": None, "kl_weight": 1.0, "label_weight": 1.0,
    "latent_weight": 1.0, "parent_balance": 0.5, "mechanisms": "auto", "prior": "standard",
    "learn_structure": False, "knowledge": None, "structure_bootstrap": 0,
    "edge_threshold": 0.1, "validation_fraction": 0.1, "patience": None,
    "extra_columns": "raise", "objective": None, "fit_encoder": False,
    "root_sampling": "empirical",
    "progress_bar": None, "n_threads": None, "random_state": None, "device": "auto",
}

PARAMETER_CONSTRAINTS: dict = {
    # (checked at fit time by check_graph, which names the type and any cycle)
    "graph": "no_validation",
    "exogenous": ["array-like", None],
    "variant": [StrOptions(set(VARIANTS))],
    "column_types": [dict, None],
    "hidden": [_POSITIVE_INT],
    "n_layers": [_NON_NEGATIVE_INT],
    "encoder_hidden": [_POSITIVE_INT],
    "epochs": [_NON_NEGATIVE_INT],
    "pretrain_epochs": [_NON_NEGATIVE_INT],
    "batch_size": [_POSITIVE_INT, None],
    "learning_rate": [_POSITIVE_REAL, None],
    "kl_weight": [_NON_NEGATIVE_REAL],
    "label_weight": [_NON_NEGATIVE_REAL],
    "latent_weight": [_NON_NEGATIVE_REAL],
    "parent_balance": [Interval(Real, 0, 1, closed="both")],
    # (a dict {node: kind}: checked at fit time, which names an unknown or ineligible node)
    "mechanisms": [StrOptions({"auto", "linear", "additive", "interaction", "network"}),
                   dict],
    "prior": [StrOptions({"standard", "conditional"})],
    "learn_structure": ["boolean", StrOptions({"paper"})],
    # (checked at fit time by structure.Knowledge.coerce, which names the fault)
    "knowledge": "no_validation",
    "structure_bootstrap": [_NON_NEGATIVE_INT],
    "edge_threshold": [_NON_NEGATIVE_REAL],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "patience": [_NON_NEGATIVE_INT, None],
    "extra_columns": [StrOptions({"raise", "drop"})],
    "objective": [StrOptions({"exact", "elbo"}), None],
    "fit_encoder": ["boolean"],
    "root_sampling": [StrOptions({"empirical", "copula", "independent"})],
    "progress_bar": ["boolean", None],
    "n_threads": [_POSITIVE_INT, None],
    "random_state": ["random_state"],
    "device": [StrOptions({"auto", "cpu", "cuda"}), str],
}


def check_parameters(params: dict, caller: str) -> None:
    """Every entry of ``params`` against :data:`PARAMETER_CONSTRAINTS`, then the checks
    across parameters. Raises ``InvalidParameterError`` naming the parameter."""
    for name, value in params.items():
        if name not in PARAMETER_CONSTRAINTS:
            continue
        if isinstance(value, float) and not np.isfinite(value):
            raise InvalidParameterError(
                f"The {name!r} parameter of {caller} must be finite. Got {value!r} instead.")
        if isinstance(value, (bool, np.bool_)) and any(
                isinstance(c, Interval) for c in PARAMETER_CONSTRAINTS[name]):
            raise InvalidParameterError(   # (bool is an Integral to Python, not here)
                f"The {name!r} parameter of {caller} must be a number, not a bool. Got "
                f"{value!r} instead.")
    validate_parameter_constraints(
        {k: v for k, v in PARAMETER_CONSTRAINTS.items() if k in params}, params,
        caller_name=caller)
    check_combinations(params, caller)


def check_combinations(params: dict, caller: str) -> None:
    """Checks that involve more than one parameter."""
    if params.get("variant") == "causalvae" and params.get("objective") == "exact":
        raise InvalidParameterError(
            f"{caller}: variant='causalvae' is defined by its encoder-inferred noise and is "
            "trained by the ELBO: pass objective='elbo' (or None); it is never switched "
            "silently")
    device = params.get("device")
    if isinstance(device, str) and device not in ("auto", "cpu", "cuda") \
            and not device.startswith("cuda:"):
        raise InvalidParameterError(
            f"The 'device' parameter of {caller} must be 'auto', 'cpu', 'cuda' or "
            f"'cuda:<index>'. Got {device!r} instead.")


def resolve_objective(variant: str, objective) -> str:
    """The objective trained: ``objective``, or its default for the variant."""
    if objective is None:
        return "elbo" if variant == "causalvae" else "exact"
    return objective


def schedule(params: dict, exact_fit: bool, n_rows: int) -> dict:
    """``batch_size``, ``learning_rate`` and ``patience`` with ``None`` resolved.

    The exact fit's automatic batch is a 16th of the training rows, between 32 and
    2048: a pass over small data is still 16 steps, and large data get the larger
    batches their accuracy needs (at 100k rows, batch 2048 against 512: worst
    interventional error 0.006 against 0.015)."""
    n_train = max(int(round(n_rows * (1 - params["validation_fraction"]))), 1)
    auto = ({"batch_size": int(min(max(n_train // 16, 32), 2048)), "learning_rate": 1e-2,
             "patience": 10} if exact_fit
            else {"batch_size": 256, "learning_rate": 3e-3, "patience": 15})
    return {k: auto[k] if params.get(k) is None else params[k] for k in auto}
