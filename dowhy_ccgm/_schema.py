"""Column types and the DataFrame <-> tensor boundary.

Data flows one way: DataFrame -> validated numpy -> tensors -> model -> tensors ->
DataFrame with the training columns and dtypes.
"""
from __future__ import annotations

import math
import numbers

from dataclasses import dataclass, field, asdict

import numpy as np
import pandas as pd

from .nn._atoms import MAX_ATOMS

COLUMN_KINDS = ("continuous", "binary", "categorical")
#: what ``column_types`` may declare as a string: a kind, or ``"zero_inflated"`` (a
#: continuous column with a point mass at zero); a dict ``{"atoms": [...], "step": h}``
#: declares a continuous column's point masses and lattice (:func:`parse_declaration`)
DECLARED_KINDS = COLUMN_KINDS + ("zero_inflated", "formula")
#: the keys a dict declaration may hold
DECLARATION_KEYS = ("kind", "atoms", "step", "formula")
#: a value of a float column is a point mass when at least this share of the rows (and
#: ATOM_MIN_ROWS rows) hold it and it is ATOM_GAP times as frequent as every value that is
#: not one (a continuous density puts no mass on a single value; a grid-valued column, such
#: as a swept angle, repeats every value about equally)
ATOM_SHARE_DETECT = 0.005
ATOM_MIN_ROWS = 20
ATOM_GAP = 10
#: an end (minimum or maximum) of a lattice column (integers, fixed decimals) is a point
#: mass when it is this many times as frequent as its neighbour on the lattice
LATTICE_END_GAP = 2
#: ... or, with fewer rows than ATOM_SHARE_DETECT (but ATOM_MIN_ROWS), when it is HEAP_GAP
#: times as frequent as every other value within this share of the range from it (a
#: top-code far beyond the other values: Adult's capital gains at 99,999, 0.5% of the
#: rows, the next value 41,310; its age at 90)
END_WINDOW = 0.05
#: (and at least this many lattice steps from it)
END_STEPS = 3
#: a value inside a lattice column's range is a point mass (a heap: hours worked at 40,
#: cigarettes a day at 20) when it is this many times as frequent as each of its two
#: neighbours on the lattice (and holds ATOM_SHARE_DETECT of the rows, ATOM_MIN_ROWS rows)
HEAP_GAP = 10
#: a column whose sd exceeds this many times its interquartile scale (a few far outliers)
#: is standardized by its median and interquartile range instead (:func:`_robust_scale`)
OUTLIER_SD_RATIO = 100.0
#: a lattice column's minimum (maximum) bounds what generation gives when at least this
#: many rows hold it: a scale's ends, a count's floor. An end held by fewer rows is a
#: sample's extreme, not a bound: generation, an intervention or a shift of the parents
#: may pass it (below, a column without negative values stops at 0)
END_ROWS = 5
#: lattice steps tried for float columns (values recorded to 0..4 decimals)
_LATTICE_DECIMALS = range(0, 5)


def _native(v):
    """numpy scalar -> plain Python (JSON-able)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


@dataclass
class ColumnSpec:
    name: str
    kind: str
    dtype: str
    categories: list = field(default_factory=list)
    mean: float = 0.0
    sd: float = 1.0
    integer: bool = False
    vmin: float = 0.0
    vmax: float = 0.0
    is_category_dtype: bool = False
    ordered: bool = False
    #: a continuous column with point masses (zeros, floors, caps, round values), and the
    #: share of the rows at any of them
    atom: bool = False
    atom_share: float = 0.0
    #: the point masses' values (ascending, the data's exact values) and their shares
    atoms: list = field(default_factory=list)
    atom_shares: list = field(default_factory=list)
    #: the lattice step of an integer (1) or fixed-decimal column (0.1, 0.01, ...); 0 for
    #: a float column off any lattice
    step: float = 0.0
    #: an exact formula node: ``Formula.to_json()`` of :mod:`._formula` (None: noisy)
    formula: dict | None = None
    #: a lattice column's bounds of generation ``[lower, upper]`` (:data:`END_ROWS`; an
    #: entry None: no bound); None: the training range (model files before them)
    bounds: list | None = None

    def generation_bounds(self) -> tuple:
        """``(lower, upper)`` of a lattice column's generated values (+-inf: none)."""
        if self.bounds is None:
            return self.vmin, self.vmax
        lo, hi = self.bounds
        return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))

    def to_json(self) -> dict:
        d = asdict(self)
        d["categories"] = [_native(c) for c in self.categories]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ColumnSpec":
        d = dict(d)
        if d.get("atom") and "atoms" not in d:       # files before general point masses
            d["atoms"], d["atom_shares"] = [0.0], [d.get("atom_share", 0.0)]
        if "step" not in d and d.get("integer"):
            d["step"] = 1.0
        return cls(**d)

    # -- value <-> code / standardized value
    def codes(self, values) -> np.ndarray:
        """Observed values of a discrete column -> integer codes; error on unknown values."""
        values = pd.Series(values)
        lookup = {c: k for k, c in enumerate(self.categories)}
        out = np.empty(len(values), dtype=np.int64)
        for k, v in enumerate(values.tolist()):
            key = _native(v)
            if key not in lookup:
                # tolerate 1 vs 1.0 vs True for numeric categories
                try:
                    key = next(c for c in self.categories if c == key)
                except StopIteration:
                    raise ValueError(
                        f"column {self.name!r}: value {v!r} is not one of its categories "
                        f"{self.categories}") from None
            out[k] = lookup[key]
        return out

    def standardize(self, values) -> np.ndarray:
        """Values -> standardized float64 (a missing value stays NaN)."""
        if isinstance(values, pd.Series):
            x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = np.asarray(values, dtype=np.float64)
        return (x - self.mean) / self.sd

    def unstandardize(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(u, dtype=np.float64) * self.sd + self.mean

    @property
    def declared_kind(self):
        """The declaration that reproduces this column's kind elsewhere (``column_types``):
        ``{"atoms": [...], "step": h}`` for a continuous column with point masses or a
        float lattice, else ``kind``."""
        if self.kind == "continuous" and (self.atoms or (self.step and not self.integer)):
            return {"atoms": list(self.atoms), "step": 0.0 if self.integer else self.step}
        return self.kind

    @property
    def floor(self) -> bool:
        """The first point mass is the column's minimum (the continuous part lies above)."""
        return bool(self.atoms) and self.atoms[0] == self.vmin

    @property
    def cap(self) -> bool:
        """The last point mass is the column's maximum (a top-code: nothing above it)."""
        return bool(self.atoms) and self.atoms[-1] == self.vmax and self.vmax > self.vmin

    def atoms_standardized(self) -> list:
        """The point masses' standardized values as the float32 state rows hold them (the
        model recognises atom rows by equality with them)."""
        return [float(np.float32((a - self.mean) / self.sd)) for a in self.atoms]

    def values(self, u: np.ndarray) -> np.ndarray:
        """A continuous column's standardized model values -> the float64 values the output
        shows: integer and lattice columns on their lattice (within
        :meth:`generation_bounds`, except a formula node's),
        point masses exactly the data's values (not up to rounding)."""
        u = np.asarray(u)
        x = self.unstandardize(u)
        if self.step:
            x = np.rint(x / self.step) * self.step
            if self.formula is None:     # (a formula holds beyond the training range)
                x = np.clip(x, *self.generation_bounds())
            if not self.integer and self.step < 1:
                x = np.round(x, int(round(-np.log10(self.step))))
        for a, st in zip(self.atoms, self.atoms_standardized()):
            x = np.where(u == np.float32(st), a, x)
        return x

    def to_series(self, arr: np.ndarray, index=None) -> pd.Series:
        """Model output (standardized values or codes) -> a column with the training dtype."""
        if self.kind == "continuous":
            return pd.Series(self.values(arr), index=index, name=self.name).astype(self.dtype)
        codes = np.asarray(arr, dtype=np.int64)
        if self.is_category_dtype:
            cat = pd.Categorical.from_codes(codes, categories=self.categories,
                                            ordered=self.ordered)
            return pd.Series(cat, index=index, name=self.name)
        labels = np.empty(len(self.categories), dtype=object)
        labels[:] = self.categories
        try:      # numeric and bool labels: one typed lookup
            labels = labels.astype(np.dtype(self.dtype))
        except TypeError:   # strings, pandas' own dtypes: objects, then the dtype
            pass
        return pd.Series(labels[codes], index=index, name=self.name).astype(self.dtype)


def _off_lattice(x: np.ndarray, step: float) -> np.ndarray:
    """Which values of ``x`` are not multiples of ``step`` (to 1e-6 of a step)."""
    k = x / step
    return np.abs(k - np.rint(k)) > 1e-6


def _lattice_step(x: np.ndarray) -> float:
    """The coarsest step ``10^-d`` (d = 0..4) every value of a float column lies on (0: on
    none): grades to one decimal, prices to cents, counts stored as floats."""
    if x.size == 0 or len(np.unique(x[:4096])) < 3:
        return 0.0
    top = float(np.max(np.abs(x)))
    for d in _LATTICE_DECIMALS:
        step = 10.0 ** -d
        if top / step >= 2.0 ** 50:
            return 0.0
        if not _off_lattice(x, step).any():
            return step
    return 0.0


def detect_atoms(x: np.ndarray, step: float) -> list:
    """The point masses of a continuous column (ascending): a float column's values that
    stand out from the continuous part (at least ``ATOM_SHARE_DETECT`` of the rows and
    ``ATOM_MIN_ROWS`` rows, ``ATOM_GAP`` times as frequent as every other value; at most
    ``MAX_ATOMS``); on a lattice column the same values, and its minimum or maximum when
    it is ``LATTICE_END_GAP`` times as frequent as its neighbour on the lattice (the zeros
    of a count, a top-code) or, with as few as ``ATOM_MIN_ROWS`` rows, ``HEAP_GAP`` times
    as frequent as every value within ``END_WINDOW`` of the range from it (a top-code far
    beyond the other values), and any value inside the range that is ``HEAP_GAP`` times as
    frequent as each of its neighbours (a heap: the 40 of hours worked per week, the 20 of
    cigarettes per day). Beyond ``MAX_ATOMS``, the ends and then the most frequent are
    kept (a continuous part cannot reach a far top-code without stretching its whole
    upper tail; a heap left to it is a local misfit)."""
    n = x.size
    values, counts = np.unique(x, return_counts=True)
    if len(values) < 3:
        return []
    least = max(ATOM_MIN_ROWS, ATOM_SHARE_DETECT * n)
    order = np.argsort(-counts, kind="stable")
    c = counts[order]
    best = 0
    for k in range(1, min(MAX_ATOMS, len(c) - 1) + 1):
        if c[k - 1] >= least and c[k - 1] >= ATOM_GAP * c[k]:
            best = k
    standout = {float(v) for v in values[order[:best]]}
    if not step:
        return sorted(standout)
    # a lattice column: its ends by the neighbour rule, and any value that stands out from
    # every other as in a float column (a top-code inside the range: a survey's cap that
    # other sources' rows exceed)
    out = set(standout)

    tol = step * 1e-6

    def neighbour_count(k: int, offset: float) -> int:
        # (values are sorted and unique: the one candidate, by bisection, not a scan of
        # every value per heap candidate)
        target = values[k] + offset
        j = int(np.searchsorted(values, target - tol))
        return int(counts[j]) if j < len(values) and abs(values[j] - target) <= tol else 0

    window = max(END_WINDOW * float(values[-1] - values[0]), END_STEPS * step) + tol
    ends = []
    for end, offset in ((0, step), (len(values) - 1, -step)):
        near = (np.abs(values - values[end]) <= window) & (np.arange(len(values)) != end)
        if (counts[end] >= least
                and counts[end] >= LATTICE_END_GAP * neighbour_count(end, offset)) or (
                counts[end] >= ATOM_MIN_ROWS
                and counts[end] >= HEAP_GAP * max(int(counts[near].max(initial=0)), 1)):
            out.add(float(values[end]))
            ends.append(float(values[end]))
    for k in np.flatnonzero(counts >= least):
        if 0 < k < len(values) - 1 and counts[k] >= HEAP_GAP * max(
                neighbour_count(k, -step), neighbour_count(k, step), 1):
            out.add(float(values[k]))
    if len(out) > MAX_ATOMS:             # the ends, then the most frequent
        freq = dict(zip(values.tolist(), counts.tolist()))
        inner = sorted(out - set(ends), key=lambda v: -freq[v])
        out = set(ends) | set(inner[:MAX_ATOMS - len(ends)])
    return sorted(out)


def _robust_scale(spec: ColumnSpec, x: np.ndarray, atoms) -> None:
    """Standardize by the median and the interquartile range (of the values off the point
    masses) instead of the mean and sd when a few far outliers make the sd more than
    ``OUTLIER_SD_RATIO`` times that robust scale: the model computes in float32, and
    standardized by such an sd the bulk of the column would collapse onto a few float32
    values (and onto its point masses). A value that then lies beyond ``MAX_STANDARDIZED``
    robust scales is refused, naming it."""
    from ._codec import MAX_STANDARDIZED
    body = x[~np.isin(x, atoms)] if len(atoms) else x
    if body.size < 10:
        return
    q1, med, q3 = np.percentile(body, [25, 50, 75])
    robust = float(q3 - q1) / 1.349
    if not robust > 0 or spec.sd <= OUTLIER_SD_RATIO * robust:
        return
    far = np.abs(x - med) / robust > MAX_STANDARDIZED
    if far.any():
        v = x[far][np.argmax(np.abs(x[far] - med))]
        raise ValueError(
            f"column {spec.name!r} holds {int(far.sum())} value(s) more than "
            f"{MAX_STANDARDIZED:.0e} interquartile-scaled units from its median {med:.4g} "
            f"(the farthest: {v!r}); the model computes in float32 and would lose the bulk "
            "of the column's values: correct, winsorize or transform (e.g. log) those "
            "values")
    spec.mean, spec.sd = float(med), robust


def _auto(name, key: str, value: str, expected: str) -> None:
    """A string in a dict declaration: ``"auto"`` (detect: None), else an error naming the
    column and the key."""
    if value != "auto":
        raise ValueError(f"column_types[{name!r}][{key!r}] must be {expected} or 'auto', "
                         f"got {value!r}")
    return None


def parse_declaration(name, declared):
    """A ``column_types`` entry -> ``(kind, atoms, step)``: ``kind`` None (detect) or a
    kind; ``atoms`` None (detect), a list of values, or ``[]`` (none); ``step`` None
    (detect), 0 (no lattice) or the lattice step. Errors name the column.

    Strings: a kind; ``"zero_inflated"`` is ``{"atoms": [0]}``; ``"continuous"`` a plain
    continuous column (no point masses, no float lattice). A dict ``{"atoms": [...],
    "step": h}`` (each key optional, ``"auto"`` to detect) declares a continuous column's
    point masses and lattice step."""
    if declared is None:
        return None, None, None
    if isinstance(declared, str):
        if declared not in DECLARED_KINDS:
            raise ValueError(f"column_types[{name!r}] must be one of {DECLARED_KINDS} or a "
                             f"dict with keys {DECLARATION_KEYS}, got {declared!r}")
        if declared == "zero_inflated":
            return "continuous", [0.0], None
        if declared == "continuous":
            return "continuous", [], 0.0
        if declared == "formula":
            return "continuous", [], None
        return declared, None, None
    if not isinstance(declared, dict):
        raise TypeError(f"column_types[{name!r}] must be a string or a dict, got "
                        f"{type(declared).__name__}")
    unknown = sorted(set(declared) - set(DECLARATION_KEYS), key=str)
    if unknown:
        raise ValueError(f"column_types[{name!r}] has unknown keys {unknown}; a dict "
                         f"declaration may hold {DECLARATION_KEYS}")
    kind = declared.get("kind", "continuous")
    if kind != "continuous":
        raise ValueError(f"column_types[{name!r}]: point masses and lattices belong to "
                         f"continuous columns, got kind {kind!r}")
    atoms = declared.get("atoms", "auto")
    if isinstance(atoms, str):
        atoms = _auto(name, "atoms", atoms, "a list of values")
    else:
        try:
            atoms = sorted({float(a) for a in atoms})
        except (TypeError, ValueError):
            raise ValueError(f"column_types[{name!r}]['atoms'] must be a list of numbers, "
                             f"got {atoms!r}") from None
        if len(atoms) > MAX_ATOMS or not all(np.isfinite(atoms)):
            raise ValueError(f"column_types[{name!r}]['atoms'] must hold at most "
                             f"{MAX_ATOMS} finite values, got {atoms!r}")
    step = declared.get("step", "auto")
    if isinstance(step, str):
        step = _auto(name, "step", step, "a number >= 0")
    elif step is None:
        step = 0.0
    else:
        if isinstance(step, bool) or not isinstance(step, (int, float, np.number)) \
                or not np.isfinite(step) or step < 0:
            raise ValueError(f"column_types[{name!r}]['step'] must be a number >= 0, got "
                             f"{step!r}")
        step = float(step)
    formula_declaration(name, declared)
    return "continuous", atoms, step


def formula_declaration(name, declared):
    """Whether a ``column_types`` entry makes the column an exact formula of its parents:
    True (``"formula"`` or ``{"formula": True}``: find it or refuse), False (``{"formula":
    False}``: never) or ``"auto"`` (the default: when the data hold one,
    :mod:`._formula`)."""
    if declared == "formula":
        return True
    if not isinstance(declared, dict):
        return "auto"
    value = declared.get("formula", "auto")
    if not (isinstance(value, (bool, np.bool_)) or value == "auto"):
        raise ValueError(f"column_types[{name!r}]['formula'] must be True, False or "
                         f"'auto', got {value!r}")
    return value if value == "auto" else bool(value)


def _continuous_spec(spec: ColumnSpec, s: pd.Series, atoms, step) -> ColumnSpec:
    """Learn a continuous column's encoding: standardization, range, lattice, atoms."""
    name = spec.name
    x = s.to_numpy(dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        sd = float(np.std(x))
    if not np.isfinite(sd):
        raise ValueError(f"column {name!r}: its variance overflows float64 (values up to "
                         f"{np.max(np.abs(x)):.3g}); rescale the column (e.g. to other "
                         "units) before fitting")
    if sd <= 0:
        raise ValueError(f"column {name!r} is constant; a constant column carries no "
                         "causal information: drop it from the graph and the data")
    spec.mean, spec.sd = float(np.mean(x)), sd
    spec.integer = bool(pd.api.types.is_integer_dtype(s.dtype))
    spec.vmin, spec.vmax = float(np.min(x)), float(np.max(x))
    if spec.integer:
        if step not in (None, 0.0, 1.0):
            raise ValueError(f"column {name!r} holds integers: its lattice step is 1, got "
                             f"{step!r} (cast the column to float for another step)")
        spec.step = 1.0
    elif step is None:
        spec.step = _lattice_step(x)
    else:
        spec.step = float(step)
        if step:
            bad = _off_lattice(x, step)
            if bad.any():
                raise ValueError(f"column {name!r} is declared on a lattice of step "
                                 f"{step!r} but holds {x[bad][0]!r}, which is not a "
                                 "multiple of it")
    if atoms is None:
        atoms = detect_atoms(x, spec.step)
    else:
        missing = [a for a in atoms if not np.any(x == a)]
        if missing == [0.0] and atoms == [0.0]:
            raise ValueError(f"column {name!r} is declared zero_inflated but has no exact "
                             "zeros (a declared point mass must be a value rows hold)")
        if missing:
            raise ValueError(f"column {name!r} is declared with point masses {missing} that "
                             "no row holds")
        if spec.step and any(spec.vmin < a < spec.vmax for a in atoms):
            raise ValueError(
                f"column {name!r} lies on a lattice (step {spec.step:g}): its point masses "
                f"must be its minimum or maximum (a floor, a top-code), got {atoms}; an "
                "interior value of a lattice already has its own probability")
    if spec.step:
        spec.bounds = [spec.vmin if np.sum(x == spec.vmin) >= END_ROWS else
                       (0.0 if spec.vmin >= 0 else None),
                       spec.vmax if np.sum(x == spec.vmax) >= END_ROWS else None]
    _robust_scale(spec, x, atoms)
    spec.atoms = [float(a) for a in atoms]
    spec.atom_shares = [float(np.mean(x == a)) for a in spec.atoms]
    spec.atom = bool(spec.atoms)
    spec.atom_share = float(sum(spec.atom_shares))
    return spec


def typed_column(values, name=None) -> pd.Series:
    """A column (a Series, or a 1-D array as ``dowhy.gcm`` passes a mechanism's parents) as
    a Series whose dtype says what its values are: an object column whose values are all
    bools becomes ``bool``, one whose values are all numbers (missing values included)
    ``float64``; other columns are unchanged. The one normalisation before the one kind
    rule of :func:`infer_column_spec`, for the estimator and the ``dowhy.gcm`` path alike
    (numbers stored as objects are numbers, not one category per value)."""
    if isinstance(values, pd.Series):
        s = values
    else:
        s = pd.Series(np.asarray(values).reshape(-1), name=name)
    if s.dtype != object or not len(s):
        return s
    vals = s.to_numpy()
    if all(isinstance(v, (bool, np.bool_)) for v in vals):
        return s.astype(bool)
    if all(isinstance(v, numbers.Number) for v in vals):
        return s.astype(np.float64)
    return s


def infer_column_spec(name: str, s: pd.Series, kind: str | None = None) -> ColumnSpec:
    """Detect a column's kind from its dtype (or take ``kind``) and learn its encoding.

    * bool, pandas ``category`` with 2 levels, integer or float columns with exactly two
      values {0, 1}: binary;
    * ``category`` with 3+ levels: categorical;
    * other numeric columns: continuous (integer columns are rounded back on output; float
      columns on a lattice of ``10^-d`` likewise come back on it), with the point masses
      :func:`detect_atoms` finds (``kind="continuous"`` turns both off; a dict declares
      them, :func:`parse_declaration`);
    * object/string columns: labels, binary with two distinct values, categorical otherwise
      (the same rule as ``assign_ccgm_mechanisms``); an object column of bools or of
      numbers is read as such (:func:`typed_column`).
    """
    kind, atoms, step = parse_declaration(name, kind)
    s = typed_column(s, name)
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(
            s.dtype) or isinstance(s.dtype, pd.PeriodDtype) or (
            s.dtype == object and pd.api.types.infer_dtype(s, skipna=True) in (
                "datetime", "datetime64", "date", "time", "timedelta", "period")):
        raise ValueError(f"column {name!r} holds dates or durations ({s.dtype}): encode it "
                         "as a number first (e.g. days since a reference date, or the "
                         "year), or drop it; as labels every date would be a category")
    is_cat = isinstance(s.dtype, pd.CategoricalDtype)
    numeric = pd.api.types.is_numeric_dtype(s.dtype) and not is_cat
    is_bool = pd.api.types.is_bool_dtype(s.dtype)
    if kind is None:
        if is_bool:
            kind = "binary"
        elif is_cat:
            kind = "binary" if len(s.cat.categories) == 2 else "categorical"
        elif numeric:
            # a first look at a few rows settles most continuous columns without hashing
            # every value of a large column (pd.unique's table is a transient copy)
            uniq = pd.unique(s.iloc[:1024].dropna())
            if len(uniq) <= 2:
                uniq = pd.unique(s.dropna())
            if len(uniq) == 2 and set(np.asarray(uniq, dtype=float).tolist()) == {0.0, 1.0}:
                kind = "binary"
            else:
                kind = "continuous"
        else:   # strings / objects: labels (the rule of the dowhy.gcm path as well)
            kind = "binary" if len(pd.unique(s.dropna())) == 2 else "categorical"
    spec = ColumnSpec(name=name, kind=kind, dtype=str(s.dtype), is_category_dtype=is_cat,
                      ordered=bool(is_cat and s.cat.ordered))
    if kind == "continuous":
        if not numeric or is_bool:
            raise ValueError(f"column {name!r} (dtype {s.dtype}) cannot be continuous")
        return _continuous_spec(spec, s, atoms, step)
    if is_cat:
        cats = list(s.cat.categories)
    else:
        cats = sorted(pd.unique(s.dropna()).tolist(), key=lambda v: (str(type(v)), v))
    if kind == "binary" and len(cats) != 2:
        raise ValueError(f"column {name!r} is declared binary but has {len(cats)} distinct "
                         f"values {cats[:10]}")
    if len(cats) < 2:
        raise ValueError(f"column {name!r} has a single value {cats}; drop it")
    spec.categories = [_native(c) for c in cats]
    return spec


class Schema:
    """Ordered column specs of the model's nodes (in the model's node order)."""

    def __init__(self, specs: list[ColumnSpec], columns: list[str]):
        self.specs = specs
        self.by_name = {s.name: s for s in specs}
        self.nodes = [s.name for s in specs]
        self.columns = list(columns)  # output column order (training order)
        self.cont = [s.name for s in specs if s.kind == "continuous"]
        self.disc = [s.name for s in specs if s.kind != "continuous"]

    def codes_array(self, X: pd.DataFrame) -> np.ndarray:
        """Discrete codes (n, n_disc) int64; -1 for a missing value."""
        codes = np.empty((len(X), len(self.disc)), dtype=np.int64)
        for k, c in enumerate(self.disc):
            na = X[c].isna().to_numpy()
            if na.any():
                codes[:, k] = -1
                codes[~na, k] = self.by_name[c].codes(X[c][~na])
            else:
                codes[:, k] = self.by_name[c].codes(X[c])
        return codes

    def standardize_into(self, X: pd.DataFrame, out: np.ndarray, columns) -> None:
        """Write the standardized continuous columns of ``X`` into ``out[:, columns[k]]``
        (float32 state rows: no separate array of the values)."""
        for k, c in enumerate(self.cont):
            try:
                out[:, columns[k]] = self.by_name[c].standardize(X[c])
            except (TypeError, ValueError):
                bad = next((v for v in X[c].tolist()
                            if not isinstance(v, (int, float, np.number))
                            and not pd.isna(v)), None)
                raise ValueError(f"column {c!r} is continuous but holds the non-numeric "
                                 f"value {bad!r}") from None

    def to_arrays(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Standardized continuous values (float32, written column by column: no float64
        copy of the whole block) and discrete codes (int64)."""
        u = np.empty((len(X), len(self.cont)), dtype=np.float32)
        self.standardize_into(X, u, range(len(self.cont)))
        return u, self.codes_array(X)

    def to_frame(self, u: np.ndarray, codes: np.ndarray, index=None) -> pd.DataFrame:
        cols = {}
        for k, c in enumerate(self.cont):
            cols[c] = self.by_name[c].to_series(u[:, k], index)
        for k, c in enumerate(self.disc):
            cols[c] = self.by_name[c].to_series(codes[:, k], index)
        return pd.DataFrame({c: cols[c] for c in self.columns}, index=index)

    def to_json(self) -> dict:
        return {"specs": [s.to_json() for s in self.specs], "columns": self.columns}

    @classmethod
    def from_json(cls, d: dict) -> "Schema":
        return cls([ColumnSpec.from_json(s) for s in d["specs"]], d["columns"])
