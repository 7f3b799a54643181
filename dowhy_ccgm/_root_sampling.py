"""How a fitted model draws its root nodes: three small typed classes.

* :class:`IndependentRoots`: every root from its own trained marginal (the net's prior);
* :class:`EmpiricalRoots` (``root_sampling="empirical"``): the roots' abducted noise of one
  stored training row per unit (:func:`root_pool`), so the roots have exactly the data's
  joint law, and a continuous root drawn from a stored row comes back bit for bit;
* :class:`CopulaRoots` (``root_sampling="copula"``): the roots' Gaussian copula
  (:func:`root_copula`); no training row is kept.

Each has ``draw(n, generator)`` (a :class:`RootDraw`: the columns of the net's noise it
sets), ``state_dict()`` (tensors only, the model file's ``root_pool`` field) and
``from_state_dict(state, net)``, which checks every field against the net and raises
:class:`RootStateError` naming what is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .nn import CCGMNet
from .nn._noise import NOISE_KEYS
from .nn._pickling import NumpyPickleMixin

__all__ = ["RootSampling", "IndependentRoots", "EmpiricalRoots", "CopulaRoots", "RootDraw",
           "RootStateError", "ROOT_SAMPLING", "ROOT_POOL_ROWS", "COPULA_EXPORT_ROWS",
           "pooled_root_indices", "root_pool", "root_copula", "fitted_roots",
           "roots_from_state_dict"]

#: the most training rows whose root noise is kept for ``root_sampling="empirical"``
ROOT_POOL_ROWS = 200_000
#: the kinds of root noise a pool keeps: exogenous latents, noise latents, uniforms
_POOL_KEYS = NOISE_KEYS


def pooled_root_indices(net: CCGMNet) -> list:
    """The nodes :func:`root_pool` keeps the noise of: no parents in the mask, and a noise
    of their own."""
    mask = net.mask.detach().cpu().numpy()
    return [i for i in range(net.n)
            if not mask[:, i].any() and net.noise_slot(i) is not None]


@torch.no_grad()
def root_pool(net: CCGMNet, S: torch.Tensor, generator: torch.Generator,
              groups: bool = False) -> dict:
    """The abducted noise of the graph's root nodes (no parents in the mask) for up to
    :data:`ROOT_POOL_ROWS` rows of ``S`` (state rows of the training data; a random subset
    beyond that), for :meth:`FittedCCGM.draw_noise`: the exogenous roots' latents by one
    decoder inversion, the other roots one by one (``CCGMNet.abduct_node``), in row chunks,
    so memory stays a few MB whatever the data. Every entry has ``P`` rows (``(P, 0)`` when
    no root has that kind of noise).

    ``groups=True`` adds ``"groups"``: ``{key: (P, k) long}``, for every column the group
    within which its noise is a random draw (a discrete root's category; 0 at a
    zero-inflated root's point mass) and -1 where the noise is exact (for
    :func:`root_copula`)."""
    roots = [(i, net.noise_slot(i)) for i in pooled_root_indices(net)]   # (i, (key, col))
    cols = [net.offsets[i] for i, _ in roots]
    used = torch.arange(S.shape[0])
    if cols:                       # rows with a missing root are not pooled
        complete = ~torch.isnan(S[:, cols]).any(1)
        if not bool(complete.all()):
            S = S[complete]
            used = used[complete.cpu()]
    if bool(torch.isnan(S).any()):
        # other columns' missing cells: the roots read none of them (their gates are 0,
        # but 0 * NaN is NaN), and the decoders invert every column of a row together
        S = torch.nan_to_num(S, nan=0.0)
    n = S.shape[0]
    keep = None
    if n > ROOT_POOL_ROWS:
        keep = torch.randperm(n, generator=generator, dtype=torch.int32)[
            :ROOT_POOL_ROWS].to(S.device)
        used = used[keep.long().cpu()]
    m = n if keep is None else len(keep)
    out = {f"{key}_idx": [col for _, (k2, col) in roots if k2 == key]
           for key in _POOL_KEYS}
    out["rows"] = used          # (the rows of S pooled: fit_model keeps their raw values)
    parts = {key: [] for key in _POOL_KEYS}
    group_parts = {key: [] for key in _POOL_KEYS}
    latent = [i for i, (key, _) in roots if key == "z"]

    def group_of(i, Sb):
        state = Sb[:, net.block(i)]
        if net.noise_kind(i) == "uniform":
            return net.node_codes(i, state).long()
        if net.atoms[i]:
            return net.atom_index(i, state[:, 0])
        return torch.full((Sb.shape[0],), -1, dtype=torch.long, device=Sb.device)

    for k in range(0, m, 16_384):
        rows = slice(k, min(k + 16_384, m))
        Sb = S[rows] if keep is None else S[keep[rows]]
        if groups:
            for key in _POOL_KEYS:
                cols = [group_of(i, Sb) for i, (k2, _) in roots if k2 == key]
                if cols:
                    group_parts[key].append(torch.stack(cols, -1).cpu())
        if latent:      # an exogenous root's noise is its latent: one inversion for all
            z = net.latent_of_value(Sb[:, net.cont_offset])[:, out["z_idx"]]
            for c, i in enumerate(latent):
                if net.atoms[i]:    # a zero-inflated root's noise (a draw at its atom)
                    z[:, c] = net.abduct_node(i, Sb, Sb[:, net.block(i)],
                                              generator=generator)
            parts["z"].append(z.cpu())
        for key in ("eps", "unif"):
            cols = [net.abduct_node(i, Sb, Sb[:, net.block(i)], generator=generator).float()
                    for i, (k2, _) in roots if k2 == key]
            if cols:
                parts[key].append(torch.stack(cols, -1).cpu())
    for key, v in parts.items():
        out[key] = torch.cat(v) if v else torch.zeros(m, 0)
    if groups:
        out["groups"] = {key: torch.cat(v) if v else torch.zeros(m, 0, dtype=torch.long)
                         for key, v in group_parts.items()}
        # a discrete root's class probabilities (constant: it has no parents)
        S1 = S[:1]
        out["unif_probs"] = [
            torch.softmax(net.disc_logits(i, net.g.forward_node(i, S1, net.G)), -1)[0]
            .double().cpu() for i, (k2, _) in roots if k2 == "unif"]
    return out


#: rows of the roots' copula drawn for ``to_gcm``'s joint root block
COPULA_EXPORT_ROWS = 100_000


@torch.no_grad()
def root_copula(pool: dict) -> dict:
    """The roots' Gaussian copula, from their abducted noise (a :func:`root_pool` with
    ``groups=True``): the correlation of the columns' normal scores (van der Waerden:
    ``Phi^-1(rank / (P + 1))``, so a marginal misfit of the trained maps does not bend it),
    as the Cholesky factor ``"copula"`` (k, k) over the columns of ``z``, ``eps`` and
    ``unif`` in that order. The training rows are *not* kept: ``z``, ``eps`` and ``unif``
    have no rows.

    A discrete root's noise (and a zero-inflated root's at its point mass) is a random draw
    within its category, which attenuates its correlations by the column's reliability
    ``r = 1 - sum_g p_g Var(score | g)`` (the share of the score's variance its group
    explains): for a thresholded Gaussian, ``corr(score_i, score_j) = r_i r_j rho_ij`` to
    first order, so the latent correlation is the scores' divided by ``r_i r_j``. Sampling
    then thresholds the copula's normal draws at the trained category probabilities, which
    reproduces the dependence of such data. A categorical root with more than two levels
    is read in the category order that best lines it up with the other roots (its codes'
    order is arbitrary): ``"unif_perm"`` and ``"unif_probs"`` record that order and the
    trained class probabilities."""
    cols = [pool[key].double() for key in _POOL_KEYS if pool[key].shape[1]]
    out = {key: torch.zeros(0, pool[key].shape[1]) for key in _POOL_KEYS}
    out.update({f"{key}_idx": list(pool[f"{key}_idx"]) for key in _POOL_KEYS})
    k = sum(c.shape[1] for c in cols)
    if k == 0:
        out["copula"] = torch.zeros(0, 0)
        return out
    X = torch.cat(cols, 1)
    P = X.shape[0]
    probs = pool.get("unif_probs")
    if probs:
        # a categorical root with more than two levels: its noise lives in the model's
        # CDF, whose category order (the codes) says nothing about the dependence; the
        # copula reads it in the order that best lines the categories up with the other
        # roots (out["unif_perm"]), and sampling maps back (:meth:`FittedCCGM.draw_noise`)
        first = X.shape[1] - len(probs)
        perms, padded = _category_orders(X, first, pool["groups"]["unif"], probs)
        for c, perm in enumerate(perms):
            if perm != list(range(len(perm))):
                X[:, first + c] = _reorder_uniform(X[:, first + c], probs[c], perm)
        out["unif_perm"], out["unif_probs"] = _padded(perms, -1, torch.long), padded
    scores = _normal_scores(X)
    scores = scores / scores.std(0, unbiased=False).clamp(min=1e-12)
    R = torch.corrcoef(scores.T) if k > 1 else torch.ones(1, 1, dtype=torch.float64)
    R = torch.nan_to_num(R, nan=0.0)
    groups = pool.get("groups")
    if groups is not None:
        G = torch.cat([groups[key] for key in _POOL_KEYS if pool[key].shape[1]], 1)
        r = torch.ones(k, dtype=torch.float64)
        for j in range(k):
            within = 0.0
            for g in torch.unique(G[:, j]).tolist():
                if g >= 0:
                    sel = scores[G[:, j] == g, j]
                    within += sel.numel() / P * float(sel.var(unbiased=False))
            r[j] = max(1.0 - within, 0.05)
        R = (R / r[:, None] / r[None, :]).clamp(-0.999, 0.999)
    R.fill_diagonal_(1.0)
    # the nearest positive definite matrix (a constant or duplicated column is singular)
    w, V = torch.linalg.eigh(R)
    R = (V * w.clamp(min=1e-6)) @ V.T
    d = R.diagonal().sqrt()
    R = R / d[:, None] / d[None, :]
    out["copula"] = torch.linalg.cholesky(R).float()
    return out


def _normal_scores(X: torch.Tensor) -> torch.Tensor:
    """Every column's van der Waerden scores ``Phi^-1(rank / (P + 1))``."""
    ranks = X.argsort(0).argsort(0).double() + 1.0
    return torch.special.ndtri(ranks / (X.shape[0] + 1.0))


def _padded(rows: list, fill, dtype) -> torch.Tensor:
    """Rows of different lengths as one (len(rows), longest) tensor, padded with ``fill``."""
    out = torch.full((len(rows), max((len(r) for r in rows), default=0)), fill, dtype=dtype)
    for c, r in enumerate(rows):
        out[c, :len(r)] = torch.as_tensor(r, dtype=dtype)
    return out


def _category_orders(X: torch.Tensor, first: int, codes: torch.Tensor, probs: list):
    """For every discrete root column ``first + c`` of ``X``: the order of its categories
    along the first discriminant direction of the other columns' normal scores (the
    between-category covariance's leading eigenvector; the codes' order for two levels or
    no other column). Returns the orders and the class probabilities padded to one
    (k_u, K_max) tensor."""
    k = X.shape[1]
    others = _normal_scores(X)
    perms = []
    for c, p in enumerate(probs):
        K = len(p)
        j = first + c
        rest = [t for t in range(k) if t != j]
        perm = list(range(K))
        if K > 2 and rest:
            Z = others[:, rest]
            Z = Z - Z.mean(0)
            code = codes[:, c]
            means = torch.zeros(K, len(rest), dtype=torch.float64)
            weight = torch.zeros(K, dtype=torch.float64)
            for g in range(K):
                sel = code == g
                if bool(sel.any()):
                    means[g] = Z[sel].mean(0)
                    weight[g] = float(sel.double().mean())
            B = (means * weight[:, None]).T @ means       # between-category covariance
            _, V = torch.linalg.eigh(B)
            position = means @ V[:, -1]
            perm = [int(g) for g in torch.argsort(position)]
        perms.append(perm)
    return perms, _padded(probs, 0.0, torch.float64)


def _reorder_uniform(u: torch.Tensor, probs: torch.Tensor, perm, inverse: bool = False):
    """A uniform noise in the model's CDF order (the codes) -> its position in the CDF
    taken in the category order ``perm`` (``inverse``: back), keeping its relative place
    within its category's interval."""
    p = probs.to(u.dtype)
    K = len(perm)
    p = p[:K]
    perm_t = torch.as_tensor(perm, dtype=torch.long)
    lo_model = torch.cumsum(p, 0) - p                    # the codes' intervals
    p_perm = p[perm_t]
    lo_perm = torch.empty_like(p)
    lo_perm[perm_t] = torch.cumsum(p_perm, 0) - p_perm   # each code's start in perm order
    src, dst = (lo_perm, lo_model) if inverse else (lo_model, lo_perm)
    edges = torch.sort(src).values
    # the category of each u: the last interval start (in the source order) below it
    order = torch.argsort(src)
    pos = torch.searchsorted(edges, u.contiguous(), right=True).clamp(1, K) - 1
    cat = order[pos]
    rel = ((u - src[cat]) / p[cat].clamp(min=1e-12)).clamp(0.0, 1.0 - 1e-7)
    return dst[cat] + rel * p[cat]


# ---------------------------------------------------------------------------- the classes
#: the ``root_sampling`` values, in the order of the parameter's documentation
ROOT_SAMPLING = ("empirical", "copula", "independent")


class RootStateError(ValueError):
    """A stored root sampling that does not fit the model (the message says why)."""


@dataclass(frozen=True)
class RootDraw:
    """The roots' noise of ``n`` units: ``columns`` ``{key: (column indices, (n, k))}`` of
    the net's :class:`~dowhy_ccgm.nn._noise.Noise`, and ``values`` (n, k) float64, the
    pooled continuous roots' own training values (None unless they come from stored
    rows)."""
    columns: dict
    values: torch.Tensor | None = None

    def into(self, noise):
        """Write the roots' columns into ``noise`` (in place); returns it."""
        for key, (idx, part) in self.columns.items():
            noise.part(key)[:, idx] = part
        if self.values is not None:
            noise.root_values = self.values
        return noise


class RootSampling(NumpyPickleMixin):
    """How a fitted model draws its roots (see the module docstring); pickled with its
    tensors as numpy arrays (DoWhy's parallel workers load it once per task)."""
    kind = ""
    #: whether the roots' noise is stored (their dependence kept)
    pools = False

    def draw(self, n: int, generator: torch.Generator, device="cpu",
             rows: torch.Tensor | None = None) -> RootDraw | None:
        """The roots' noise of ``n`` new units (None: from their own priors)."""
        return None

    def state_dict(self) -> dict | None:
        return None


@dataclass(frozen=True)
class IndependentRoots(RootSampling):
    """Every root from its own trained marginal (the net's prior noise)."""
    kind = "independent"


def _as_index(v, what: str) -> list:
    try:
        return [int(i) for i in (v.tolist() if isinstance(v, torch.Tensor) else v)]
    except (TypeError, ValueError, AttributeError):
        raise RootStateError(f"has {what} that are not column indices") from None


def _slots(net: CCGMNet) -> dict:
    """``{key: [column, ...]}``: the noise columns of the net's pooled roots."""
    slots = [net.noise_slot(i) for i in pooled_root_indices(net)]
    return {key: [col for k2, col in slots if k2 == key] for key in _POOL_KEYS}


def _check_columns(state: dict, net: CCGMNet, stored_rows: bool) -> dict:
    """Every key's column list and block against the net's roots; returns the lists."""
    want = _slots(net)
    out, rows = {}, None
    for key in _POOL_KEYS:
        if key not in state or f"{key}_idx" not in state:
            raise RootStateError(f"lacks {key!r}")
        idx, t = _as_index(state[f"{key}_idx"], f"{key!r} columns"), state[key]
        if idx != want[key]:
            raise RootStateError(f"lists the {key!r} columns {idx}, but the model's roots "
                                 f"have {want[key]}")
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[1] != len(idx):
            raise RootStateError(f"holds {key!r} of shape {tuple(getattr(t, 'shape', ()))} "
                                 f"for {len(idx)} root column(s)")
        if not bool(torch.isfinite(t).all()):
            raise RootStateError(f"holds non-finite {key!r} values")
        if key == "unif" and t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
            raise RootStateError("holds uniform noise outside [0, 1]")
        if idx and stored_rows:
            if rows is not None and t.shape[0] != rows:
                raise RootStateError(f"holds {t.shape[0]} rows of {key!r} against {rows} of "
                                     "the other roots (truncated)")
            rows = t.shape[0]
        out[key] = idx
    if stored_rows and any(want.values()) and not rows:
        raise RootStateError("holds no stored rows to draw the roots from")
    return out


@dataclass(frozen=True)
class EmpiricalRoots(RootSampling):
    """The roots' abducted noise of stored training rows (``z``, ``eps``, ``unif``: (P, k)
    each, their columns in ``z_idx``, ``eps_idx``, ``unif_idx``), one row drawn per new
    unit; ``values`` (P, k) float64 the continuous roots' own training values (columns:
    the nodes ``values_idx``), or None."""
    z: torch.Tensor
    eps: torch.Tensor
    unif: torch.Tensor
    z_idx: list
    eps_idx: list
    unif_idx: list
    values: torch.Tensor | None = None
    values_idx: list = field(default_factory=list)
    kind = "empirical"
    pools = True

    @property
    def n_rows(self) -> int:
        return max(getattr(self, key).shape[0] for key in _POOL_KEYS)

    def draw(self, n, generator, device="cpu", rows=None):
        if not n:
            return None
        if rows is None:
            rows = torch.randint(self.n_rows, (n,), generator=generator)
        rows = rows.to(device)
        cols = {key: (getattr(self, f"{key}_idx"), getattr(self, key).to(device)[rows])
                for key in _POOL_KEYS if getattr(self, f"{key}_idx")}
        values = self.values[rows.cpu()] if self.values_idx else None
        return RootDraw(cols, values)

    def state_dict(self) -> dict:
        out = {key: getattr(self, key).cpu() for key in _POOL_KEYS}
        out.update({f"{key}_idx": torch.as_tensor(getattr(self, f"{key}_idx"),
                                                  dtype=torch.long) for key in _POOL_KEYS})
        if self.values is not None:
            out["values"] = self.values.cpu()
            out["values_idx"] = torch.as_tensor(self.values_idx, dtype=torch.long)
        return out

    @classmethod
    def from_pool(cls, pool: dict, values=None, values_idx=()) -> "EmpiricalRoots":
        """From a :func:`root_pool` (and the pooled rows' continuous root values)."""
        return cls(pool["z"], pool["eps"], pool["unif"], list(pool["z_idx"]),
                   list(pool["eps_idx"]), list(pool["unif_idx"]), values, list(values_idx))

    @classmethod
    def from_state_dict(cls, state: dict, net: CCGMNet) -> "EmpiricalRoots":
        idx = _check_columns(state, net, stored_rows=True)
        values, values_idx = None, []
        if "values" in state:
            values = state["values"]
            values_idx = _as_index(state.get("values_idx", []), "root value columns")
            n_rows = max(state[k].shape[0] for k in _POOL_KEYS)
            if not (isinstance(values, torch.Tensor) and values.dtype == torch.float64
                    and tuple(values.shape) == (n_rows, len(values_idx))):
                raise RootStateError(f"has root values of shape "
                                     f"{tuple(getattr(values, 'shape', ()))} for {n_rows} "
                                     "stored rows")
        return cls(state["z"], state["eps"], state["unif"], idx["z"], idx["eps"],
                   idx["unif"], values, values_idx)


@dataclass(frozen=True)
class CopulaRoots(RootSampling):
    """The roots' Gaussian copula: ``factor`` (k, k) the Cholesky factor of the
    correlation of their noise's normal scores, columns ``z_idx``, ``eps_idx`` and
    ``unif_idx`` in that order; a discrete root's categories read in the order
    ``unif_perm`` (k_u, K_max; -1 padded) with the trained class probabilities
    ``unif_probs`` (:func:`root_copula`)."""
    z_idx: list
    eps_idx: list
    unif_idx: list
    factor: torch.Tensor
    unif_perm: torch.Tensor | None = None
    unif_probs: torch.Tensor | None = None
    kind = "copula"
    pools = True

    def draw(self, n, generator, device="cpu", rows=None):
        L = self.factor
        if not n or not L.shape[0]:
            return None
        g = (torch.randn(n, L.shape[0], generator=generator) @ L.T).to(device)
        cols, k = {}, 0
        for key in _POOL_KEYS:
            idx = getattr(self, f"{key}_idx")
            if not idx:
                continue
            part = g[:, k:k + len(idx)]
            if key == "unif":
                part = torch.special.ndtr(part)
                perms = self.unif_perm
                for c in range(part.shape[1] if perms is not None else 0):
                    perm = [int(v) for v in perms[c] if v >= 0]
                    if perm != list(range(len(perm))):
                        part[:, c] = _reorder_uniform(part[:, c], self.unif_probs[c], perm,
                                                      inverse=True).to(part.dtype)
            cols[key] = (idx, part)
            k += len(idx)
        return RootDraw(cols)

    def state_dict(self) -> dict:
        out = {key: torch.zeros(0, len(getattr(self, f"{key}_idx"))) for key in _POOL_KEYS}
        out.update({f"{key}_idx": torch.as_tensor(getattr(self, f"{key}_idx"),
                                                  dtype=torch.long) for key in _POOL_KEYS})
        out["copula"] = self.factor.cpu()
        if self.unif_perm is not None:
            out["unif_perm"], out["unif_probs"] = self.unif_perm, self.unif_probs
        return out

    @classmethod
    def from_copula(cls, cop: dict) -> "CopulaRoots":
        """From a :func:`root_copula`."""
        return cls(list(cop["z_idx"]), list(cop["eps_idx"]), list(cop["unif_idx"]),
                   cop["copula"], cop.get("unif_perm"), cop.get("unif_probs"))

    @classmethod
    def from_state_dict(cls, state: dict, net: CCGMNet) -> "CopulaRoots":
        idx = _check_columns(state, net, stored_rows=False)
        if "copula" not in state:
            raise RootStateError("lacks the copula factor that root_sampling='copula' draws "
                                 "from")
        k = sum(len(v) for v in idx.values())
        L = state["copula"]
        if not (isinstance(L, torch.Tensor) and tuple(L.shape) == (k, k)
                and bool(torch.isfinite(L).all())):
            raise RootStateError(f"has a copula that is not a finite ({k}, {k}) factor")
        k_u = len(idx["unif"])
        perm, probs = state.get("unif_perm"), state.get("unif_probs")
        if k_u and not (isinstance(perm, torch.Tensor) and isinstance(probs, torch.Tensor)
                        and perm.shape[0] == k_u and probs.shape == perm.shape):
            raise RootStateError(f"lacks the category orders of its {k_u} discrete root(s)")
        return cls(idx["z"], idx["eps"], idx["unif"], L, perm, probs)


def roots_from_state_dict(kind: str, state: dict | None, net: CCGMNet) -> RootSampling:
    """The root sampling ``kind`` (``root_sampling``) of a model file's stored state
    (None: independent roots, as in files before root sampling)."""
    if state is None or kind == "independent":
        return IndependentRoots()
    if not isinstance(state, dict):
        raise RootStateError("is not a root sample")
    if kind == "copula":
        return CopulaRoots.from_state_dict(state, net)
    return EmpiricalRoots.from_state_dict(state, net)


def fitted_roots(kind: str, net: CCGMNet, S: torch.Tensor, generator: torch.Generator,
                 values_of=None) -> RootSampling:
    """The root sampling ``kind`` of a trained net, from the state rows ``S`` of its
    training data; ``values_of(i)`` (optional) gives node ``i``'s training values
    (float64), kept for the pooled continuous roots so that a root drawn from a stored
    row comes back bit for bit."""
    if kind == "independent":
        return IndependentRoots()
    pool = root_pool(net, S, generator, groups=kind == "copula")
    rows = pool.pop("rows").numpy()
    if kind == "copula":
        return CopulaRoots.from_copula(root_copula(pool))
    idx = [i for i in pooled_root_indices(net) if net.kinds[i] == "continuous"]
    if not idx or values_of is None:
        return EmpiricalRoots.from_pool(pool)
    values = torch.as_tensor(np.stack([values_of(i)[rows] for i in idx], 1))
    return EmpiricalRoots.from_pool(pool, values, idx)
