"""Exact formula nodes: a column that is an exact function of its parents.

Bookkeeping identities are common in real data (``revenue = price * units``, ``profit =
revenue - cost``, ``bmi = weight / height**2``). A noisy mechanism fitted to such a node
invents noise: attribution methods that split variance among the nodes' noises (intrinsic
influence, anomaly attribution) then credit that invented noise. Such a node is modelled
here as what it is: a fixed formula of its parents, with no noise.

The formulas searched are sums of terms ``c_k * prod_j x_j^(p_jk)`` over numeric parents,
``p`` in {-1, 0, 1, 2} and at most two factors per term (a constant, linear terms,
squares, pairwise products and ratios), fitted by least squares in float64 in families of
growing size; a family whose fit leaves a residual within ``tolerance`` standard
deviations of the node (root mean square) is the node's formula, pruned of the terms that
do not change its values.

This module is pure numpy; :class:`~dowhy_ccgm.nn.CCGMNet` evaluates the same formula in
torch (:meth:`~dowhy_ccgm.nn.CCGMNet.set_formulas`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["Formula", "find_formula", "AUTO_TOLERANCE", "DECLARED_TOLERANCE"]

#: detected without a declaration: the residual's RMS at most this many standard
#: deviations of the node (R^2 >= 1 - 1e-8); rounding to a few digits passes, real noise not
AUTO_TOLERANCE = 1e-4
#: a node declared deterministic (``column_types={c: "formula"}``) accepts the family's
#: best fit up to this (R^2 >= 1 - 1e-4); beyond it the declaration is refused
DECLARED_TOLERANCE = 1e-2
#: at most this many parents enter the quadratic families (their size grows as k^2)
MAX_QUADRATIC_PARENTS = 8
#: a family needs at least ROWS_PER_TERM rows per term (else any column looks exact)
ROWS_PER_TERM = 5
#: larger data are screened on this many rows first (a noisy node is rejected cheaply)
SCREEN_ROWS = 4096


@dataclass(frozen=True)
class Formula:
    """``node = sum_k coef[k] * prod_{(name, power) in terms[k]} name ** power``.

    ``terms[k]`` is a tuple of ``(parent name, power)`` factors (``()``: the constant).
    ``residual`` is the fit's residual RMS in standard deviations of the node; ``step``
    (> 0) rounds the result to that lattice (a column stored to a fixed precision)."""
    terms: tuple
    coef: tuple
    residual: float = 0.0
    step: float = 0.0

    @property
    def parents(self) -> tuple:
        """The parents the formula reads, in first-use order."""
        seen = []
        for term in self.terms:
            for name, _ in term:
                if name not in seen:
                    seen.append(name)
        return tuple(seen)

    def __call__(self, values) -> np.ndarray:
        """The formula at ``values`` (a mapping of parent name to float arrays), float64."""
        X = {p: np.asarray(values[p], dtype=np.float64) for p in self.parents}
        n = max((v.shape[0] for v in X.values()), default=1)
        out = _design(self.terms, X, n) @ np.asarray(self.coef, dtype=np.float64)
        if self.step > 0:
            out = np.round(out / self.step) * self.step
        return out

    def __str__(self) -> str:
        parts = []
        for term, c in zip(self.terms, self.coef):
            factors = "*".join(name if p == 1 else f"{name}^{p}" for name, p in term)
            parts.append(f"{c:.6g}" + (f"*{factors}" if factors else ""))
        return " + ".join(parts).replace("+ -", "- ")

    def to_json(self) -> dict:
        return {"terms": [[[_native(n), int(p)] for n, p in t] for t in self.terms],
                "coef": [float(c) for c in self.coef], "residual": float(self.residual),
                "step": float(self.step)}

    @classmethod
    def from_json(cls, d: dict | None) -> "Formula | None":
        if d is None:
            return None
        return cls(tuple(tuple((n, int(p)) for n, p in t) for t in d["terms"]),
                   tuple(float(c) for c in d["coef"]), float(d.get("residual", 0.0)),
                   float(d.get("step", 0.0)))


def _native(v):
    return v.item() if isinstance(v, np.generic) else v


def _families(names, nonzero):
    """Candidate term sets, smallest first: linear; + squares and pairwise products;
    + ratios of parents that are never zero."""
    const, lin = [()], [((n, 1),) for n in names]
    yield const + lin
    if 1 <= len(names) <= MAX_QUADRATIC_PARENTS:
        quad = [((n, 2),) for n in names] + [((a, 1), (b, 1))
                                             for a, b in itertools.combinations(names, 2)]
        yield const + lin + quad
        ratios = [((a, 1), (b, -1)) for a in names for b in names
                  if a != b and b in nonzero]
        ratios += [((b, -1),) for b in names if b in nonzero]
        ratios += [((a, 1), (b, -2)) for a in names for b in names
                   if a != b and b in nonzero]
        if ratios:
            yield const + lin + quad + ratios


def _design(terms, X, n):
    cols = []
    for term in terms:
        t = np.ones(n)
        for name, p in term:
            t = t * X[name] ** p
        cols.append(t)
    return np.column_stack(cols)


def _lstsq(D, y):
    """Least squares with columns scaled to unit RMS (conditioning); returns the
    coefficients on the unscaled columns and the residual."""
    scale = np.sqrt(np.mean(D * D, axis=0))
    scale[scale == 0] = 1.0
    coef, *_ = np.linalg.lstsq(D / scale, y, rcond=None)
    coef = coef / scale
    return coef, y - D @ coef


def find_formula(y, parents: dict, tolerance: float = AUTO_TOLERANCE,
                 step: float = 0.0) -> Formula | None:
    """The smallest formula of the family above that reproduces ``y`` from ``parents``
    (a mapping of name to numeric arrays) within ``tolerance`` (residual RMS in standard
    deviations of ``y``), or None. A column on a lattice of ``step`` (integers: 1; prices
    in cents: 0.01) also accepts a formula that every row matches after rounding to the
    lattice (``round(f(x) / step) * step``: the formula's ``step``).

    Rows with a missing value in ``y`` or a parent are left out of the search. A constant
    ``y`` or too few rows for a family (``ROWS_PER_TERM`` per term) gives None."""
    y = np.asarray(y, dtype=np.float64)
    X = {k: np.asarray(v, dtype=np.float64) for k, v in parents.items()}
    ok = np.isfinite(y)
    for v in X.values():
        ok &= np.isfinite(v)
    y = y[ok]
    X = {k: v[ok] for k, v in X.items()}
    n = y.shape[0]
    sd = float(np.std(y))
    if n < 2 or not np.isfinite(sd) or sd == 0 or not X:
        return None
    names = list(X)
    nonzero = {k for k, v in X.items() if np.all(np.abs(v) > 0)}
    step = float(step or 0.0)

    def plausible(res):     # exact within the tolerance, or within a lattice's rounding
        rms = float(np.sqrt(np.mean(res * res)))
        return np.isfinite(rms) and (rms <= tolerance * sd or (step > 0 and rms <= 0.5 * step))

    def exact(D, coef):
        """The coefficients (rounded to few digits where that keeps the fit) that reproduce
        every row, and the residual RMS in sd; None if none does."""
        for c in [_rounded(coef, d) for d in range(1, 9)] + [coef]:
            res = y - D @ c
            rms = float(np.sqrt(np.mean(res * res))) / sd
            if rms <= tolerance or (step > 0 and float(np.max(np.abs(res)))
                                    < 0.5 * step * (1 - 1e-6)):
                return c, rms
        return None
    with np.errstate(all="ignore"):
        for terms in _families(names, nonzero):
            if n < ROWS_PER_TERM * len(terms):
                return None
            if n > SCREEN_ROWS:      # a family that misses on a subsample misses on all
                sub = np.linspace(0, n - 1, SCREEN_ROWS).astype(np.int64)
                Ds = _design(terms, {k: v[sub] for k, v in X.items()}, SCREEN_ROWS)
                if not np.all(np.isfinite(Ds)) or not plausible(
                        y[sub] - Ds @ _lstsq(Ds, y[sub])[0]):
                    continue
            D = _design(terms, X, n)
            if not np.all(np.isfinite(D)):
                continue
            coef, res = _lstsq(D, y)
            if not plausible(res):
                continue
            # prune the terms whose removal leaves the residual as it was (smallest
            # contribution first), refitting each time
            rms = float(np.sqrt(np.mean(res * res)))
            keep = list(range(len(terms)))
            contrib = np.abs(coef) * np.sqrt(np.mean(D * D, axis=0))
            for k in np.argsort(contrib):
                trial = [j for j in keep if j != k]
                if not trial:
                    continue
                r2 = _lstsq(D[:, trial], y)[1]
                if float(np.sqrt(np.mean(r2 * r2))) <= 1.05 * rms + 1e-9 * sd:
                    keep = trial
            found = exact(D[:, keep], _lstsq(D[:, keep], y)[0])
            if found is None:
                continue
            coef, rms = found
            return Formula(tuple(terms[j] for j in keep), tuple(float(c) for c in coef), rms,
                           step)
    return None


def _rounded(coef, digits: int) -> np.ndarray:
    """Every coefficient to ``digits`` significant digits (an exact identity's 1.00000003
    becomes 1, so the formula's arithmetic is exact)."""
    return np.array([float(f"{c:.{digits}g}") if np.isfinite(c) else c for c in coef])
