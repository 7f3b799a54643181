"""Values <-> model inputs, one definition for every entry point (the generator's
``FittedCCGM`` and the DoWhy node view ``gcm/_node.py``).

* :func:`standardized`: continuous values -> standardized float64, refusing what float32
  (the model's dtype) cannot carry: beyond :data:`MAX_STANDARDIZED` standard deviations a
  value would become ``inf`` and the output ``NaN``.
* :func:`codes_of_labels`: a discrete column's labels -> integer codes (vectorised, with
  the schema's tolerant fallback: 1 vs 1.0 vs True, and its error naming the column).
* :func:`label_array`: a discrete column's categories as the values DoWhy mechanisms
  return (bool, int64, float64 or object, in code order).
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = ["MAX_STANDARDIZED", "standardized", "codes_of_labels", "label_array"]

#: largest |standardized value| accepted (float32 carries it with room to spare for the
#: masks' products; the data's own values are a few units)
MAX_STANDARDIZED = 1e6


def standardized(spec, values: np.ndarray, what: str) -> np.ndarray:
    """``spec.standardize(values)`` for finite float64 ``values``; a ValueError naming
    ``what`` (e.g. "intervention", "parent") and the column when a value lies beyond
    :data:`MAX_STANDARDIZED` standard deviations of the training mean."""
    st = spec.standardize(values)
    if np.any(np.abs(st) > MAX_STANDARDIZED):
        k = int(np.argmax(np.abs(st)))
        raise ValueError(
            f"{what} value {float(np.ravel(values)[k])!r} for {spec.name!r} is "
            f"{float(np.abs(np.ravel(st)[k])):.3g} standard deviations from its training "
            f"mean; the model computes in float32 and cannot represent values beyond "
            f"{MAX_STANDARDIZED:.0e} standard deviations")
    return st


def codes_of_labels(spec, values) -> np.ndarray:
    """Labels of a discrete column -> int64 codes (unknown labels raise the schema's error
    naming the column and its categories)."""
    values = np.asarray(values)
    try:
        codes = pd.Index(spec.categories).get_indexer(values)
    except (TypeError, ValueError):  # pragma: no cover - exotic label types
        codes = None
    if codes is None or (codes < 0).any():
        return np.asarray(spec.codes(values), dtype=np.int64)
    return codes.astype(np.int64)


def label_array(spec) -> np.ndarray:
    """A discrete column's categories as returned values: bool for booleans, int64 for an
    integer column, float64 for other numbers, object otherwise (in code order)."""
    cats = spec.categories
    if all(isinstance(c, (bool, np.bool_)) for c in cats):
        return np.asarray(cats, dtype=bool)
    if all(isinstance(c, numbers.Integral) for c in cats) \
            and spec.dtype.lower().startswith(("int", "uint")):
        return np.asarray(cats, dtype=np.int64)      # an int column stays int
    if all(isinstance(c, numbers.Number) for c in cats):
        return np.asarray(cats, dtype=np.float64)
    lookup = np.empty(len(cats), dtype=object)
    lookup[:] = cats
    return lookup
