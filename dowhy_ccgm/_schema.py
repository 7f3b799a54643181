"""Column types and the DataFrame <-> tensor boundary.

Data flows one way: DataFrame -> validated numpy -> tensors -> model -> tensors ->
DataFrame with the training columns and dtypes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict

import numpy as np
import pandas as pd

COLUMN_KINDS = ("continuous", "binary", "categorical")
#: what ``column_types`` may declare: a kind, or ``"zero_inflated"`` (a continuous column
#: with a point mass at zero)
DECLARED_KINDS = COLUMN_KINDS + ("zero_inflated",)
#: a float column whose share of exact zeros is at least this is zero-inflated by default
#: (a continuous density puts no mass on a point)
ZERO_SHARE_DETECT = 0.01


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
    #: a continuous column with a point mass at 0 (zero-inflated), its share in the data
    atom: bool = False
    atom_share: float = 0.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["categories"] = [_native(c) for c in self.categories]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ColumnSpec":
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
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.sd

    def unstandardize(self, u: np.ndarray) -> np.ndarray:
        return np.asarray(u, dtype=np.float64) * self.sd + self.mean

    @property
    def declared_kind(self) -> str:
        """The kind to declare for this column elsewhere (``column_types``):
        ``"zero_inflated"`` for a continuous column with a point mass, else ``kind``."""
        return "zero_inflated" if self.atom else self.kind

    @property
    def atom_standardized(self) -> float:
        """The point mass's standardized value as the float32 state rows hold it (the
        model recognises atom rows by equality with it)."""
        return float(np.float32((0.0 - self.mean) / self.sd))

    def values(self, u: np.ndarray) -> np.ndarray:
        """A continuous column's standardized model values -> the float64 values the output
        shows: integer columns on their integers, a zero-inflated column's point mass
        exactly 0 (not 0 up to rounding)."""
        x = self.unstandardize(u)
        if self.integer:
            x = np.clip(np.rint(x), self.vmin, self.vmax)
        elif self.atom:
            x = np.where(np.asarray(u) == np.float32(self.atom_standardized), 0.0, x)
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


def _zero_stands_out(x: np.ndarray) -> bool:
    """Whether 0 is a point mass of a continuous column rather than one value of a grid:
    at least 10 times as frequent as the most frequent other value (grid-valued columns,
    such as a swept angle, repeat every value about equally)."""
    values, counts = np.unique(x, return_counts=True)
    others = counts[values != 0.0]
    return others.size == 0 or int(counts[values == 0.0].sum()) >= 10 * int(others.max())


def infer_column_spec(name: str, s: pd.Series, kind: str | None = None) -> ColumnSpec:
    """Detect a column's kind from its dtype (or take ``kind``) and learn its encoding.

    * bool, pandas ``category`` with 2 levels, integer or float columns with exactly two
      values {0, 1}: binary;
    * ``category`` with 3+ levels: categorical;
    * other numeric columns: continuous (integer columns are rounded back on output); a
      float column with at least ``ZERO_SHARE_DETECT`` (1%) exact zeros, 0 being at least
      10 times as frequent as any other value, is zero-inflated:
      continuous with a point mass at 0 (declare ``"continuous"`` to turn that off, or
      ``"zero_inflated"`` to ask for it);
    * object/string columns: labels, binary with two distinct values, categorical otherwise
      (the same rule as ``assign_ccgm_mechanisms``).
    """
    if kind is not None and kind not in DECLARED_KINDS:
        raise ValueError(f"column_types[{name!r}] must be one of {DECLARED_KINDS}, got "
                         f"{kind!r}")
    declared_atom = kind == "zero_inflated"
    if declared_atom:
        kind = "continuous"
    kind_was_detected = kind is None
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
        x = s.to_numpy(dtype=np.float64)
        sd = float(np.std(x))
        if not np.isfinite(sd) or sd <= 0:
            raise ValueError(f"column {name!r} is constant; a constant column carries no "
                             "causal information: drop it from the graph and the data")
        spec.mean, spec.sd = float(np.mean(x)), sd
        spec.integer = bool(pd.api.types.is_integer_dtype(s.dtype))
        spec.vmin, spec.vmax = float(np.min(x)), float(np.max(x))
        share = float(np.mean(x == 0.0))
        if declared_atom:
            if spec.integer:
                raise ValueError(
                    f"column {name!r} is declared zero_inflated but has an integer dtype: "
                    "integer columns already give every integer, 0 included, its own "
                    "probability; declare it continuous or leave it undeclared")
            if share == 0.0:
                raise ValueError(f"column {name!r} is declared zero_inflated but has no "
                                 "exact zeros")
        spec.atom = bool(declared_atom or (kind_was_detected and not spec.integer
                                           and share >= ZERO_SHARE_DETECT
                                           and _zero_stands_out(x)))
        spec.atom_share = share if spec.atom else 0.0
        return spec
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
        """Discrete codes (n, n_disc) int64."""
        codes = np.empty((len(X), len(self.disc)), dtype=np.int64)
        for k, c in enumerate(self.disc):
            codes[:, k] = self.by_name[c].codes(X[c])
        return codes

    def standardize_into(self, X: pd.DataFrame, out: np.ndarray, columns) -> None:
        """Write the standardized continuous columns of ``X`` into ``out[:, columns[k]]``
        (float32 state rows: no separate array of the values)."""
        for k, c in enumerate(self.cont):
            out[:, columns[k]] = self.by_name[c].standardize(X[c])

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
