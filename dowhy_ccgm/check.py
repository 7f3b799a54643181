"""A model check to read before trusting an answer: generated against observed data.

:func:`model_check` (and :meth:`CCGMGenerator.check`) compares a fitted generator with
observed rows ``X`` (the training data, or better held-out rows) in these ways, each with
a flag where the model misfits beyond the data's own sampling noise:

* **columns**: every column's distribution, generated against observed: the
  Kolmogorov-Smirnov distance of a continuous column, the largest share difference of a
  discrete column's levels, and the share at every point mass (zeros, top-codes);
* **dependence**: the rank correlation of every pair of columns, generated against
  observed;
* **mechanisms within groups**: every node with parents, predicted from each observed
  unit's own parents (the node's mechanism alone, fresh noise), against the observed
  values (their means; a categorical node's share of each level, a continuous node's
  share at each point mass), within the levels of each binary or categorical parent (and
  of a numeric parent with at most ``MAX_LEVELS`` values: a treated group, a protected
  group, a rare condition), within the groups the user names (``groups``), and within
  every crossing of two of those (a rare condition that reverses a treatment's effect
  cancels in each one's own means); a mechanism that is right on average can be wrong
  exactly where a small group lives;
* **calibration** of every continuous node with parents, overall and within the same
  groups: the rank of each unit's observed value among ``CALIBRATION_DRAWS`` draws of the
  node's mechanism at its own parents is uniform when the mechanism is right (a forecast
  rank histogram); a mechanism whose mean is right in a group but whose spread or shape
  is not (a rare treated group's earnings with the controls' long upper tail) is flagged
  by the ranks' KS distance from uniform, and told apart as too wide, too narrow, high
  or low;
* **likelihood** of every node (a ``CCGMGenerator`` with the exact objective; not a
  continuous node with point masses, whose probabilities and densities do not compare, nor
  a formula node): each row's ``-log p(x | parents)`` under the model against a linear
  baseline cross-fitted on the same rows (least squares with a normal residual, or a
  multinomial logistic regression), paired by row; a model significantly worse than the
  baseline is flagged. The node terms add up to ``score``;
* **noise share** of every continuous node with parents: the part of its variance that
  its own noise makes, ``E[Var(x | parents)] / Var(x)`` (near 0: a formula node).

:func:`gcm_model_check` runs the same checks on any fitted ``dowhy.gcm`` causal model
(the CCGM mechanisms or DoWhy's own). DoWhy's ``evaluate_causal_model`` is the anchor for
the first two; the group check is what it lacks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["ModelCheck", "model_check", "gcm_model_check"]

#: numeric parents with at most this many values are checked level by level too
MAX_LEVELS = 10
#: groups with fewer units are not checked (their means are too noisy to flag anything)
MIN_GROUP = 20
#: a difference is flagged when it exceeds this many standard errors ...
Z_FLAG = 4.0
#: ... and this share of the column's sd (means) or this much (shares, correlations)
PRACTICAL = {"mean": 0.1, "share": 0.02, "corr": 0.1, "ks": 0.05, "nll": 0.02}
#: draws of a continuous node's mechanism per observed unit for its calibration (the rank
#: of the observed value among them: uniform when the mechanism is right)
CALIBRATION_DRAWS = 19
#: a calibration's KS distance is flagged beyond this many ``1 / sqrt(n)`` (a tail
#: probability of about 1e-4 per group: hundreds of groups are checked) ...
KS_FLAG = 2.2
#: ... and beyond this distance
CALIBRATION_PRACTICAL = 0.1


@dataclass
class ModelCheck:
    """The tables of :func:`model_check`; ``flags`` lists every misfit in words."""
    columns: pd.DataFrame
    dependence: pd.DataFrame
    groups: pd.DataFrame
    noise_share: pd.Series
    flags: list = field(default_factory=list)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    likelihood: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        return not self.flags

    def __repr__(self) -> str:
        head = (f"ModelCheck: {len(self.flags)} misfit(s) flagged over {len(self.columns)} "
                f"column checks, {len(self.dependence)} pairs, {len(self.groups)} "
                f"group means and {len(self.calibration)} calibrations")
        return "\n".join([head] + [f"  - {f}" for f in self.flags])


def _numeric(spec, values) -> np.ndarray:
    """A column as numbers: continuous values, or a discrete column's level codes."""
    if spec.kind == "continuous":
        return pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
    s = pd.Series(values)
    out = np.full(len(s), np.nan)
    ok = s.notna().to_numpy()
    try:
        codes = pd.Index(spec.categories).get_indexer(s[ok].to_numpy())
    except (TypeError, ValueError):          # pragma: no cover - exotic labels
        codes = np.full(int(ok.sum()), -1)
    out[ok] = codes                  # -1: a value that is none of the observed levels
    return out


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                               - np.searchsorted(b, grid, side="right") / len(b))))


def _column_rows(schema, X, S, flags) -> list:
    rows = []
    for spec in schema.specs:
        c = spec.name
        obs = _numeric(spec, X[c])
        obs = obs[~np.isnan(obs)]
        gen = _numeric(spec, S[c])
        n, m = len(obs), len(gen)
        if spec.kind == "continuous":
            body_o = obs[~np.isin(obs, spec.atoms)]
            body_g = gen[~np.isin(gen, spec.atoms)]
            ks = _ks(body_o, body_g) if len(body_o) and len(body_g) else 0.0
            tol = PRACTICAL["ks"] + 1.63 * np.sqrt(1 / max(len(body_o), 1)
                                                   + 1 / max(len(body_g), 1))
            rows.append({"column": c, "check": "distribution (KS)", "observed": np.nan,
                         "generated": np.nan, "distance": ks, "flag": ks > tol})
            if ks > tol:
                flags.append(f"column {c!r}: generated distribution differs from the "
                             f"observed one (KS distance {ks:.3f})")
            checks = [(f"share at {a:g}", float(np.mean(obs == a)), float(np.mean(gen == a)))
                      for a in spec.atoms]
        else:
            checks = [(f"share of {lvl!r}", float(np.mean(obs == k)), float(np.mean(gen == k)))
                      for k, lvl in enumerate(spec.categories)]
            checks.append(("share outside the observed levels", float(np.mean(obs < 0)),
                           float(np.mean(gen < 0))))
        for name, p, q in checks:
            se = np.sqrt(p * (1 - p) / max(n, 1) + q * (1 - q) / max(m, 1))
            bad = abs(p - q) > max(Z_FLAG * se, PRACTICAL["share"])
            rows.append({"column": c, "check": name, "observed": p, "generated": q,
                         "distance": abs(p - q), "flag": bad})
            if bad:
                flags.append(f"column {c!r}: {name} generated {q:.3f} against observed "
                             f"{p:.3f}")
    return rows


def _dependence_rows(schema, X, S, flags) -> list:
    names = list(schema.nodes)
    obs = pd.DataFrame({c: _numeric(schema.by_name[c], X[c]) for c in names})
    gen = pd.DataFrame({c: _numeric(schema.by_name[c], S[c]) for c in names})
    co, cg = obs.corr(method="spearman"), gen.corr(method="spearman")
    n = len(obs.dropna())
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ro, rg = co.loc[a, b], cg.loc[a, b]
            if np.isnan(ro) or np.isnan(rg):
                continue
            se = 2.0 / np.sqrt(max(n, 4))
            bad = abs(ro - rg) > max(Z_FLAG * se / 2, PRACTICAL["corr"])
            rows.append({"pair": f"{a} ~ {b}", "observed": ro, "generated": rg, "flag": bad})
            if bad:
                flags.append(f"pair {a!r} ~ {b!r}: generated rank correlation {rg:.2f} "
                             f"against observed {ro:.2f}")
    return rows


def _groupings(groups, X) -> list:
    """``groups`` -> ``[(name, labels (n,), defining columns or None)]``."""
    if groups is None:
        return []
    items = groups.items() if isinstance(groups, dict) else [(None, groups)]
    out = []
    for name, g in items:
        if isinstance(g, str) or (isinstance(g, (list, tuple)) and g
                                  and all(isinstance(c, str) for c in g)):
            cols = [g] if isinstance(g, str) else list(g)
            unknown = [c for c in cols if c not in X.columns]
            if unknown:
                raise KeyError(f"groups={g!r}: {unknown} is not a column of X")
            labels = X[cols].astype(str).agg(" & ".join, axis=1).to_numpy() \
                if len(cols) > 1 else X[cols[0]].to_numpy()
            out.append((name or " & ".join(cols), labels, cols))
            continue
        labels = np.asarray(g)
        if labels.ndim != 1 or len(labels) != len(X):
            raise ValueError(f"groups {name or ''!r} has {labels.size} labels for {len(X)} "
                             "rows")
        out.append((name or "groups", labels, None))
    return out


class _GeneratorView:
    """What the check needs of a fitted ``CCGMGenerator``."""

    def __init__(self, gen):
        from sklearn.utils.validation import check_is_fitted
        check_is_fitted(gen)
        self.gen = gen
        self.nodes = list(gen.nodes_)
        self.schema = gen.schema_
        self.graph = gen.model_.graph()

    def prepare(self, X) -> None:
        """(the generator knows its columns' kinds already)"""

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        return self.gen.sample(n, random_state=seed)

    def predict(self, node, parents, X, seed: int) -> pd.Series:
        """``node`` drawn from its mechanism at each row's observed parents."""
        values = {p: X[p].to_numpy() for p in parents}
        return self.gen.intervene(values, n_samples=len(X), random_state=seed)[node]

    def logistic_nodes(self) -> set:
        """The discrete nodes whose network ``mechanisms={node: "linear"}`` can make a
        logistic regression (not those already one)."""
        from ._simple import discrete_nodes
        m = self.gen.model_
        return {m.nodes[i] for i in discrete_nodes(m.net) if not m.net.g.linear_output(i)}

    def node_nll(self, X) -> dict | None:
        """``{node: each row's -log p(x_node | parents)}`` under the model (a continuous
        node's on its standardized scale; NaN where a cell it reads is missing), or None
        when the model has no exact likelihood."""
        import torch

        from ._utils import torch_threads
        m = self.gen.model_
        net = m.net
        if net.objective != "exact":
            return None
        u, codes, Xg = m.observed(X, self.gen.extra_columns, missing="allow")
        with torch.no_grad(), torch_threads(self.gen.n_threads):
            terms = net.exact_terms(net.encode_states(u, codes), u, codes,
                                    node_weights=torch.ones(len(Xg), len(m.nodes)),
                                    node_terms=True)["node_terms"].double().numpy()
        return {node: terms[:, i] for i, node in enumerate(m.nodes)}


class _GcmView:
    """What the check needs of a fitted ``dowhy.gcm`` causal model (any mechanisms)."""

    def __init__(self, scm):
        self.scm = scm
        self.graph = nx.DiGraph(scm.graph)
        self.nodes = list(nx.topological_sort(self.graph))
        self.schema = None

    def prepare(self, X) -> None:
        """The columns' kinds and point masses, detected from the observed rows."""
        from ._schema import Schema, infer_column_spec
        specs = []
        for c in self.nodes:
            col = X[c].dropna()
            spec = infer_column_spec(str(c), col)
            spec.name = c
            specs.append(spec)
        self.schema = Schema(specs, self.nodes)

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        from dowhy import gcm
        from dowhy.gcm.util.general import set_random_seed
        set_random_seed(seed)
        return gcm.draw_samples(self.scm, n)

    def node_nll(self, X) -> None:
        """(DoWhy's mechanisms have no common likelihood: not compared)"""
        return None

    def logistic_nodes(self) -> set:
        return set()

    def predict(self, node, parents, X, seed: int) -> pd.Series:
        from dowhy.gcm.util.general import set_random_seed
        from dowhy.graph import get_ordered_predecessors
        set_random_seed(seed)
        ordered = list(get_ordered_predecessors(self.graph, node))
        out = self.scm.causal_mechanism(node).draw_samples(X[ordered].to_numpy())
        return pd.Series(np.asarray(out).reshape(-1), index=X.index)


def model_check(gen, X: pd.DataFrame, groups=None, *, n_samples: int | None = None,
                random_state=0) -> ModelCheck:
    """Check a fitted generator against observed rows ``X`` (see the module docstring).

    Parameters
    ----------
    gen : fitted CCGMGenerator
    X : pandas.DataFrame
        Observed rows with every node (training rows, or held-out rows for an honest
        check). Rows with a missing cell are left out of the checks that need it.
    groups : str, list of str, array-like or dict, optional
        Groups whose mechanisms to check: a column name of ``X`` or a list of them (their
        combinations), one label per row, or a dict ``{name: any of those}`` of several
        groupings. A grouping given by columns is not used for the nodes it is defined by
        or their ancestors (it would select on their values); labels given directly are
        used for every node, so they must not depend on the nodes checked. The levels of
        every binary or categorical parent are checked in any case, and every crossing of
        two groupings.
    n_samples : int, optional
        Generated rows for the column and dependence checks (default: ``max(len(X),
        50_000)``).
    random_state : int, default 0

    Returns
    -------
    ModelCheck
        ``columns``, ``dependence``, ``groups`` (per node, grouping, group and ``level``
        (a categorical node's level, ``"at <value>"`` for a point mass, None for the
        mean): ``n``, the observed and predicted means or shares,
        their standard error, ``z`` and ``flag``), ``noise_share``, ``flags`` (every
        misfit, in words; empty when none) and ``calibration`` (per continuous node,
        grouping and group: ``n``, the ranks' ``ks`` distance from uniform, their
        ``middle_half`` share and ``mean_rank``, ``flag``) and ``likelihood`` (per node:
        ``n``, ``model_nll`` and ``baseline_nll`` in nats per row on the node's
        standardized scale, the model's ``gain``, its ``se``, ``z`` and ``flag``).
    """
    return _run(_GeneratorView(gen), X, groups, n_samples, random_state)


def gcm_model_check(causal_model, X: pd.DataFrame, groups=None, *,
                    n_samples: int | None = None, random_state=0) -> ModelCheck:
    """:func:`model_check` for a fitted ``dowhy.gcm`` causal model, whatever its mechanisms
    (the CCGM mechanisms or DoWhy's own): the same tables and flags, the columns' kinds
    and point masses detected from ``X``. Mechanisms are evaluated through DoWhy's
    ``draw_samples`` at each row's observed parents."""
    return _run(_GcmView(causal_model), X, groups, n_samples, random_state)


def _run(view, X, groups, n_samples, random_state) -> ModelCheck:
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame of observed rows, got "
                        f"{type(X).__name__}")
    missing = [c for c in view.nodes if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks the node columns {missing}")
    X = X[view.nodes].reset_index(drop=True)
    view.prepare(X)
    groupings = _groupings(groups, X)
    schema, graph = view.schema, view.graph
    rng = np.random.default_rng(random_state)
    n_gen = int(n_samples) if n_samples is not None else max(len(X), 50_000)
    S = view.sample(n_gen, int(rng.integers(0, 2**31 - 1)))
    flags = []
    columns = pd.DataFrame(_column_rows(schema, X, S, flags))
    dependence = pd.DataFrame(_dependence_rows(schema, X, S, flags))
    rows, share, cal_rows = [], {}, []
    cal_rng = np.random.default_rng([random_state, 1])      # (the other draws stay as they were)
    for node in view.nodes:
        parents = sorted(graph.predecessors(node), key=str)
        spec = schema.by_name[node]
        if not parents:
            continue
        complete = X[parents + [node]].notna().all(axis=1).to_numpy()
        Xc = X[complete]
        if len(Xc) < MIN_GROUP:
            continue
        s1, s2 = (int(v) for v in rng.integers(0, 2**31 - 1, 2))
        p1 = _numeric(spec, view.predict(node, parents, Xc, s1))
        p2 = _numeric(spec, view.predict(node, parents, Xc, s2))
        pred = 0.5 * (p1 + p2)
        obs = _numeric(spec, Xc[node])
        sd = float(np.std(obs)) or 1.0
        if spec.kind == "continuous":
            share[node] = float(0.5 * np.mean((p1 - p2) ** 2) / sd ** 2)
        # what is compared within a group: the mean, or a categorical node's share of each
        # level (a mechanism whose level mix is wrong in a group, though its codes' mean
        # is right, carries the group into the unit's abducted noise)
        if spec.kind == "categorical":
            targets = [(lvl, (obs == k).astype(float),
                        0.5 * ((p1 == k).astype(float) + (p2 == k).astype(float)),
                        PRACTICAL["share"]) for k, lvl in enumerate(spec.categories)]
        else:
            targets = [(None, obs, pred, PRACTICAL["mean"] * sd)]
            # a continuous node's point masses: the share at each (a zero whose share the
            # mechanism gets wrong in a group, the mean compensated by the rest)
            targets += [(f"at {a:g}", (obs == a).astype(float),
                         0.5 * ((p1 == a).astype(float) + (p2 == a).astype(float)),
                         PRACTICAL["share"]) for a in (spec.atoms or [])]
        # the levels of discrete parents (and of numeric parents with a few values: a
        # treatment coded 0/1/2)
        levels = {f"{p} (parent)": Xc[p].to_numpy() for p in parents
                  if schema.by_name[p].kind != "continuous"
                  or Xc[p].nunique(dropna=True) <= MAX_LEVELS}
        # a grouping defined by the node itself or by its descendants selects on the
        # node's value: it says nothing of its mechanism
        below = {node} | set(nx.descendants(graph, node))
        named = {name: labels[complete] for name, labels, cols in groupings
                 if (cols is None or not below & set(cols))
                 and not (cols and len(cols) == 1 and f"{cols[0]} (parent)" in levels)}
        # and their crossings: an effect that a rare group reverses cancels in each
        # grouping's own means (a condition that swaps which treatment helps)
        crossed = {}
        keys = list(levels) + list(named)
        both = {**levels, **named}
        for a_i, a in enumerate(keys):
            for b in keys[a_i + 1:]:
                crossed[f"{a} & {b}"] = (pd.Series(both[a]).astype(str) + " & "
                                         + pd.Series(both[b]).astype(str)).to_numpy()
        levels.update(named)
        levels.update(crossed)
        groups = _groups(levels)               # (the same groups for both checks below)
        if spec.kind == "continuous":
            pit = _calibration(view, node, parents, Xc, obs, spec, cal_rng)
            _calibration_rows(node, pit, _groups({"all rows": np.zeros(len(Xc))}) + groups,
                              cal_rows, flags)
        for grouping, g, idx in groups:
            for level, t_obs, t_pred, practical in targets:
                o, q = t_obs[idx], t_pred[idx]
                se = float(np.sqrt(np.var(o - q) / len(idx)))
                diff = float(np.mean(o) - np.mean(q))
                z = diff / se if se > 0 else 0.0
                bad = abs(z) > Z_FLAG and abs(diff) > practical
                rows.append({"node": node, "grouping": grouping, "group": g,
                             "level": level, "n": len(idx),
                             "observed": float(np.mean(o)),
                             "predicted": float(np.mean(q)), "se": se, "z": z,
                             "flag": bad})
                if bad:
                    what = ("mean" if level is None else f"share {level}"
                            if spec.kind == "continuous" else f"share of {level!r}")
                    flags.append(f"node {node!r} within {grouping} = {g!r} (n = "
                                 f"{len(idx)}): observed {what} {np.mean(o):.3f}, its "
                                 f"mechanism predicts {np.mean(q):.3f} ({z:+.1f} "
                                 "standard errors)")
    likelihood = _likelihood_rows(view, X, schema, graph, random_state, flags)
    return ModelCheck(columns, dependence, pd.DataFrame(rows),
                      pd.Series(share, name="noise share", dtype=float), flags,
                      calibration=pd.DataFrame(cal_rows), likelihood=likelihood)


def _features(X: pd.DataFrame, parents, schema) -> np.ndarray:
    """The parents as regressors: numbers as they are, discrete parents one-hot, and an
    intercept."""
    cols = [np.ones(len(X))]
    for p in parents:
        spec = schema.by_name[p]
        if spec.kind == "continuous":
            v = X[p].to_numpy(dtype=np.float64)
            cols.append((v - spec.mean) / (spec.sd or 1.0))
        else:
            codes = _numeric(spec, X[p])
            cols += [(codes == k).astype(np.float64) for k in range(1, len(spec.categories))]
    return np.column_stack(cols)


def _baseline_nll(F: np.ndarray, y: np.ndarray, spec, fold: np.ndarray) -> np.ndarray:
    """Each row's ``-log p`` under a linear baseline fitted on the other fold: least
    squares with a normal residual (a continuous node, standardized) or a multinomial
    logistic regression (a discrete node)."""
    out = np.empty(len(y))
    for k in (0, 1):
        tr, te = fold != k, fold == k
        if spec.kind == "continuous":
            beta = np.linalg.lstsq(F[tr], y[tr], rcond=None)[0]
            var = max(float(np.mean((y[tr] - F[tr] @ beta) ** 2)), 1e-12)
            r = y[te] - F[te] @ beta
            out[te] = 0.5 * r * r / var + 0.5 * np.log(2 * np.pi * var)
        else:
            from sklearn.linear_model import LogisticRegression
            labels, counts = np.unique(y[tr], return_counts=True)
            if len(labels) < 2 or F.shape[1] == 1:       # (no parent: the class shares)
                share = dict(zip(labels.tolist(), (counts / counts.sum()).tolist()))
                p = np.array([share.get(c, 0.0) for c in y[te].tolist()])
            else:
                clf = LogisticRegression(max_iter=500).fit(F[tr][:, 1:], y[tr])
                proba = clf.predict_proba(F[te][:, 1:])
                col = {c: j for j, c in enumerate(clf.classes_)}
                p = np.array([proba[r, col[c]] if c in col else 0.0
                              for r, c in enumerate(y[te])])
            out[te] = -np.log(np.clip(p, 1e-6, 1.0))
    return out


def _likelihood_rows(view, X, schema, graph, random_state, flags) -> pd.DataFrame:
    """Each node's mean ``-log p(x | parents)`` on the rows under the model and under a
    linear baseline cross-fitted on the same rows (two folds), paired by row; a model
    significantly worse than the baseline is flagged. Continuous nodes with point masses
    (a probability against a density) and formula nodes are left out; so is every node
    of a ``dowhy.gcm`` model."""
    nll = view.node_nll(X)
    if nll is None:
        return pd.DataFrame()
    fold = np.random.default_rng([random_state, 2]).integers(0, 2, len(X))
    rows = []
    for node in view.nodes:
        spec = schema.by_name[node]
        if spec.kind == "continuous" and (spec.atoms or spec.formula is not None):
            continue
        parents = sorted(graph.predecessors(node), key=str)
        ok = X[parents + [node]].notna().all(axis=1).to_numpy() & np.isfinite(nll[node])
        if ok.sum() < 2 * MIN_GROUP:
            continue
        Xo = X[ok]
        y = _numeric(spec, Xo[node])
        if spec.kind == "continuous":
            y = (y - spec.mean) / (spec.sd or 1.0)
        base = _baseline_nll(_features(Xo, parents, schema), y, spec, fold[ok])
        d = base - nll[node][ok]                          # > 0: the model is better
        se = float(np.std(d) / np.sqrt(len(d))) or 1e-12
        diff = float(np.mean(d))
        z = diff / se
        bad = z < -Z_FLAG and diff < -PRACTICAL["nll"]
        rows.append({"node": node, "n": int(ok.sum()),
                     "model_nll": float(np.mean(nll[node][ok])),
                     "baseline_nll": float(np.mean(base)), "gain": diff, "se": se, "z": z,
                     "flag": bad})
        if bad:
            hint = (f"; mechanisms={{{node!r}: 'linear'}} makes it that logistic "
                    "regression" if node in view.logistic_nodes() else "")
            flags.append(f"node {node!r}: held-out log-likelihood {-diff:.3f} nats per row "
                         f"below a linear baseline's ({z:+.1f} standard errors){hint}")
    return pd.DataFrame(rows)


def _calibration(view, node, parents, Xc, obs, spec, rng) -> np.ndarray:
    """Each unit's randomised rank of its observed value among ``CALIBRATION_DRAWS``
    draws of the node's mechanism at its own parents, scaled to [0, 1): uniform when the
    mechanism is right (ties, e.g. at a point mass, are broken at random), whatever the
    node's distribution."""
    R = CALIBRATION_DRAWS
    rep = pd.concat([Xc] * R, ignore_index=True)
    draws = _numeric(spec, view.predict(node, parents, rep,
                                        int(rng.integers(0, 2**31 - 1))))
    draws = draws.reshape(R, len(Xc)).T
    below = (draws < obs[:, None]).sum(1)
    ties = (draws == obs[:, None]).sum(1)
    return (below + rng.random(len(Xc)) * (ties + 1)) / (R + 1)


def _groups(levels: dict) -> list:
    """``[(grouping, group, row positions)]`` of every group of at least ``MIN_GROUP``
    rows in ``levels`` (``{grouping: one label per row}``)."""
    out = []
    for grouping, labels in levels.items():
        lab = pd.Series(labels)
        for g, idx in lab.groupby(lab, dropna=True).groups.items():
            if len(idx) >= MIN_GROUP:
                out.append((grouping, g, np.asarray(idx)))
    return out


def _calibration_rows(node, pit, groups: list, rows: list, flags: list) -> None:
    """The calibration of ``node`` overall and within every group: the KS distance of the
    ranks from uniform, the share of ranks in the middle half (0.5 when right; above: the
    mechanism spreads wider than the data, below: narrower) and the mean rank (0.5 when
    right; below: the mechanism's values run high). ``groups``: :func:`_groups`'s."""
    for grouping, g, idx in groups:
        n = len(idx)
        u = np.sort(pit[idx])
        grid = np.arange(1, n + 1) / n
        ks = float(max(np.max(grid - u), np.max(u - (grid - 1.0 / n))))
        middle = float(np.mean((u > 0.25) & (u < 0.75)))
        mean = float(np.mean(u))
        bad = ks > max(KS_FLAG / np.sqrt(n), CALIBRATION_PRACTICAL)
        rows.append({"node": node, "grouping": grouping,
                     "group": None if grouping == "all rows" else g, "n": n,
                     "ks": ks, "middle_half": middle, "mean_rank": mean, "flag": bad})
        if bad:
            where = "over all rows" if grouping == "all rows" else \
                f"within {grouping} = {g!r}"
            if abs(middle - 0.5) >= abs(mean - 0.5):
                how = "spreads wider than the data" if middle > 0.5 else \
                    "is narrower than the data"
            else:
                how = "runs high" if mean < 0.5 else "runs low"
            flags.append(f"node {node!r} {where} (n = {n}): the observed values are "
                         f"not distributed as its mechanism's draws (calibration KS "
                         f"{ks:.3f}; the mechanism {how}: {middle:.0%} of the observed "
                         f"values in the middle half of its draws, mean rank "
                         f"{mean:.2f})")
