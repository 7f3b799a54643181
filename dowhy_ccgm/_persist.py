"""Saving and loading a fitted ``CCGMGenerator``: one file of tensors plus JSON metadata.

Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``) and checks
every metadata field it reads, naming the field at fault. Node and column names are
written as tagged JSON that decodes to an equal value of the same type.
"""
from __future__ import annotations

import dataclasses
import json
import os

import networkx as nx
import numpy as np
import torch

from ._fit import set_formulas, set_value_encoding
from ._fitted import FittedCCGM, RemovedEdge
from ._params import resolve_objective
from ._removal import HOW_MODES
from ._schema import Schema
from ._utils import resolve_device
from .nn import CCGMNet

__all__ = ["save", "load", "object_array"]

FORMAT = "dowhy_ccgm.CCGMGenerator"
#: 2: removed edges store their unit-level reference state
FORMAT_VERSION = 3


def object_array(names) -> np.ndarray:
    """A 1-D object array of names (tuples stay elements; np.asarray would make a 2-D
    array of a list of tuples)."""
    names = list(names)
    out = np.empty(len(names), dtype=object)
    for k, v in enumerate(names):
        out[k] = v
    return out


def enc_name(v, what: str = "node name"):
    """A node or column name as JSON that decodes to an equal value of the same kind:
    strings as themselves, numbers, booleans and tuples tagged. Other types are refused
    (at save time, naming the value), so that nothing is silently turned into a string."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return {"bool": bool(v)}
    if isinstance(v, (int, np.integer)):
        return {"int": int(v)}
    if isinstance(v, (float, np.floating)):
        return {"float": float(v)}
    if isinstance(v, tuple):
        return {"tuple": [enc_name(x, what) for x in v]}
    raise TypeError(f"cannot save a model whose {what} {v!r} is of type {type(v).__name__}: "
                    "model files keep str, int, float, bool and tuple names")


def dec_name(d):
    if isinstance(d, str):
        return d
    if isinstance(d, list):                  # files of 0.1.0 wrote tuples as lists
        return tuple(dec_name(x) for x in d)
    if isinstance(d, dict) and len(d) == 1:
        (kind, v), = d.items()
        if kind == "bool":
            return bool(v)
        if kind == "int":
            return int(v)
        if kind == "float":
            return float(v)
        if kind == "tuple":
            return tuple(dec_name(x) for x in v)
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        return d
    raise ValueError(f"unreadable node name {d!r} in the model file")


# ---------------------------------------------------------------------------- save
def _knowledge_json(kn) -> dict:
    """A :class:`~dowhy_ccgm.structure.Knowledge` (or its dict) as JSON, names encoded."""
    from .structure import Knowledge
    kn = Knowledge.coerce(kn)
    pairs = lambda edges: [[enc_name(a), enc_name(b)] for a, b in edges]  # noqa: E731
    return {"required": pairs(kn.required), "forbidden": pairs(kn.forbidden),
            "tiers": [[enc_name(v) for v in t] for t in kn.tiers],
            "exogenous": [enc_name(v) for v in kn.exogenous],
            "within_tier": bool(kn.within_tier), "given": kn.given}


def _knowledge_of_json(d, path):
    from .structure import Knowledge
    try:
        return Knowledge(required=[(dec_name(a), dec_name(b)) for a, b in d["required"]],
                         forbidden=[(dec_name(a), dec_name(b)) for a, b in d["forbidden"]],
                         tiers=[[dec_name(v) for v in t] for t in d["tiers"]],
                         exogenous=[dec_name(v) for v in d["exogenous"]],
                         within_tier=bool(d["within_tier"]), given=d["given"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, "knowledge", f"is not a Knowledge ({exc})") from None


def _learned_graph(edges, nodes, path) -> nx.DiGraph:
    out = nx.DiGraph()
    out.add_nodes_from(nodes)
    try:
        for a, b, score, conf, req in edges:
            out.add_edge(dec_name(a), dec_name(b), score=score, confidence=conf,
                         required=bool(req))
    except (TypeError, ValueError) as exc:
        raise _damaged(path, "learned_edges", f"are not [parent, child, score, "
                       f"confidence, required] rows ({exc})") from None
    return out


def _meta(gen) -> dict:
    model: FittedCCGM = gen.model_
    params = gen.get_params(deep=False)
    params.pop("graph")
    rs = params.get("random_state")
    params["random_state"] = rs if (rs is None or isinstance(rs, (int, np.integer))) else None
    params = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}
    if params.get("exogenous") is not None:
        params["exogenous"] = [enc_name(e) for e in params["exogenous"]]
    if params.get("column_types") is not None:
        params["column_types"] = {"pairs": [[enc_name(k), v] for k, v in
                                            params["column_types"].items()]}
    if params.get("knowledge") is not None:
        params["knowledge"] = _knowledge_json(params["knowledge"])
    graph = gen.graph
    if graph is None:                  # (learn_structure with no graph: the columns)
        graph = nx.DiGraph()
        graph.add_nodes_from(model.nodes)
    learned = getattr(gen, "learned_graph_", None)
    schema = model.schema.to_json()
    for spec in schema["specs"]:
        spec["name"] = enc_name(spec["name"])
    schema["columns"] = [enc_name(c) for c in schema["columns"]]
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "params": params,
        "graph_nodes": [enc_name(v) for v in graph.nodes],
        "graph_edges": [[enc_name(a), enc_name(b)] for a, b in graph.edges],
        "graph_none": gen.graph is None,
        "learned_edges": None if learned is None else [
            [enc_name(a), enc_name(b), d.get("score"), d.get("confidence"),
             bool(d.get("required"))] for a, b, d in learned.edges(data=True)],
        "nodes": [enc_name(v) for v in model.nodes],
        "exogenous": [enc_name(v) for v in model.exogenous], "order": model.net.order,
        "mask": model.net.mask.cpu().numpy().astype(int).tolist(),
        "schema": schema,
        "feature_names_in": [enc_name(c, "column name") for c in gen.feature_names_in_],
        "edge_overrides": [[enc_name(r.parent), enc_name(r.child), r.mode, r.how]
                           for r in model.removed],
        "n_latent_agg": int(model.net.agg_mu.shape[0]),
        "max_direct_categories": model.net.max_direct_categories,
        "encoder_fitted": bool(gen.encoder_fitted_),
        "history": {k: v for k, v in gen.history_.items() if k != "lagrangian"},
        "lagrangian": gen.history_.get("lagrangian"),
    }


def save(gen, path) -> None:
    """Write the fitted generator ``gen`` to ``path`` (errors are ``OSError`` naming it)."""
    meta = json.dumps(_meta(gen), default=str)
    model = gen.model_
    payload = {
        "meta": meta,
        "state": {k: v.detach().cpu() for k, v in model.net.state_dict().items()},
        "overrides": [r.state.cpu() for r in model.removed],
        "references": [r.reference.cpu() for r in model.removed],
        "root_pool": None if model.root_pool is None else {
            k: (v.cpu() if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=torch.long))
            for k, v in model.root_pool.items()},
        "rng": gen._rng.get_state(),
    }
    try:
        torch.save(payload, path)
    except (OSError, RuntimeError) as exc:
        raise OSError(f"cannot write the model to {path!s}: {exc}") from None


# ---------------------------------------------------------------------------- load
def _check_pool(pool: dict, model, root_sampling: str, path) -> None:
    """Every stored field of a root pool against the model (a truncated, NaN-holding or
    incomplete pool loaded without error and failed later, inside ``sample``)."""
    from ._fitted import pooled_root_indices
    net = model.net
    slots = [net.noise_slot(i) for i in pooled_root_indices(net)]
    rows = None
    for key in ("z", "eps", "unif"):
        want = [col for k2, col in slots if k2 == key]
        idx, t = pool[f"{key}_idx"], pool[key]
        if idx != want:
            raise _damaged(path, "root_pool", f"lists the {key!r} columns {idx}, but the "
                           f"model's roots have {want}")
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[1] != len(idx):
            raise _damaged(path, "root_pool", f"holds {key!r} of shape "
                           f"{tuple(getattr(t, 'shape', ()))} for {len(idx)} root column(s)")
        if not bool(torch.isfinite(t).all()):
            raise _damaged(path, "root_pool", f"holds non-finite {key!r} values")
        if key == "unif" and t.numel() and not bool(((t >= 0) & (t <= 1)).all()):
            raise _damaged(path, "root_pool", "holds uniform noise outside [0, 1]")
        if idx and root_sampling != "copula":
            if rows is not None and t.shape[0] != rows:
                raise _damaged(path, "root_pool", f"holds {t.shape[0]} rows of {key!r} "
                               f"against {rows} of the other roots (truncated)")
            rows = t.shape[0]
    if root_sampling == "copula" and "copula" not in pool:
        raise _damaged(path, "root_pool", "lacks the copula factor that "
                       "root_sampling='copula' draws from")
    if root_sampling == "empirical" and slots and not rows:
        raise _damaged(path, "root_pool", "holds no stored rows to draw the roots from")
    if "values" in pool:
        V, n_rows = pool["values"], max(pool[k].shape[0] for k in ("z", "eps", "unif"))
        if not (isinstance(V, torch.Tensor) and V.dtype == torch.float64
                and tuple(V.shape) == (n_rows, len(pool.get("values_idx", [])))):
            raise _damaged(path, "root_pool", f"has root values of shape "
                           f"{tuple(getattr(V, 'shape', ()))} for {n_rows} stored rows")


def _damaged(path, field, why) -> ValueError:
    return ValueError(f"{path!s}: the model description is damaged: field {field!r} {why}")


def _names(meta, field, path) -> list:
    v = meta.get(field)
    if not isinstance(v, list):
        raise _damaged(path, field, f"must be a list, got {type(v).__name__}")
    try:
        return [dec_name(x) for x in v]
    except (ValueError, TypeError) as exc:
        raise _damaged(path, field, str(exc)) from None


def _rows(meta, field, width: int, what: str, path) -> list:
    """A list of ``width``-long lists (e.g. edges), else the field is damaged."""
    v = meta.get(field)
    if not isinstance(v, list) or not all(isinstance(r, list) and len(r) == width for r in v):
        raise _damaged(path, field, f"must be a list of {what}")
    return v


def _same_names(names, nodes, field, path) -> list:
    if set(map(repr, names)) != set(map(repr, nodes)):
        raise _damaged(path, field, "must hold the same names as 'nodes'")
    return names


def _check_meta(meta: dict, path) -> dict:
    """Every field ``load`` reads, decoded and checked."""
    out = {}
    out["nodes"] = _names(meta, "nodes", path)
    n = len(out["nodes"])
    if n == 0 or len(set(map(repr, out["nodes"]))) != n:
        raise _damaged(path, "nodes", "must be a non-empty list of distinct names")
    out["graph_nodes"] = _same_names(_names(meta, "graph_nodes", path), out["nodes"],
                                     "graph_nodes", path)
    edges = _rows(meta, "graph_edges", 2, "[parent, child] pairs", path)
    try:
        out["graph_edges"] = [(dec_name(a), dec_name(b)) for a, b in edges]
    except (ValueError, TypeError) as exc:
        raise _damaged(path, "graph_edges", str(exc)) from None
    out["exogenous"] = _names(meta, "exogenous", path)
    if any(e not in out["nodes"] for e in out["exogenous"]):
        raise _damaged(path, "exogenous", "names a node that is not in 'nodes'")
    order = meta.get("order")
    if not isinstance(order, list) or sorted(order) != list(range(n)):
        raise _damaged(path, "order", f"must be a permutation of 0..{n - 1}")
    out["order"] = [int(k) for k in order]
    mask = meta.get("mask")
    try:
        m = np.asarray(mask, dtype=float)
    except (TypeError, ValueError):
        m = None
    if m is None or m.shape != (n, n) or not np.isin(m, (0.0, 1.0)).all():
        raise _damaged(path, "mask", f"must be a {n} x {n} matrix of 0 and 1")
    out["mask"] = m
    schema = meta.get("schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("specs"), list) \
            or len(schema["specs"]) != n or not isinstance(schema.get("columns"), list):
        raise _damaged(path, "schema", f"must describe the {n} nodes' columns")
    try:
        for spec in schema["specs"]:
            spec["name"] = dec_name(spec["name"])
        schema["columns"] = [dec_name(c) for c in schema["columns"]]
        out["schema"] = Schema.from_json(schema)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _damaged(path, "schema", f"is unreadable ({exc!r})") from None
    if [s.name for s in out["schema"].specs] != out["nodes"]:
        raise _damaged(path, "schema", "lists other columns than 'nodes'")
    out["feature_names_in"] = _same_names(_names(meta, "feature_names_in", path),
                                          out["nodes"], "feature_names_in", path)
    removed = _rows(meta, "edge_overrides", 4, "[parent, child, mode, how]", path)
    out["edge_overrides"] = []
    for p, c, mode, how in removed:
        try:
            p, c = dec_name(p), dec_name(c)
        except (ValueError, TypeError) as exc:
            raise _damaged(path, "edge_overrides", str(exc)) from None
        if p not in out["nodes"] or c not in out["nodes"] or mode not in ("const", "pool"):
            raise _damaged(path, "edge_overrides", f"has an unknown edge or mode "
                                                   f"{[p, c, mode]!r}")
        if isinstance(how, str) and how in HOW_MODES and (how == "marginal") != (
                mode == "pool"):
            raise _damaged(path, "edge_overrides", f"has how={how!r} with mode {mode!r}")
        out["edge_overrides"].append((p, c, mode, how))
    if not isinstance(meta.get("params"), dict):
        raise _damaged(path, "params", "must be a mapping")
    if not isinstance(meta.get("history", {}), dict):
        raise _damaged(path, "history", "must be a mapping")
    if not isinstance(meta.get("encoder_fitted", True), bool):
        raise _damaged(path, "encoder_fitted", "must be true or false")
    return out


def load(cls, path, device="cpu"):
    """A ``cls`` (``CCGMGenerator``) fitted as the one saved at ``path``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!s}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure of the safe unpickler means: refuse
        raise ValueError(f"{path!s} is not a readable dowhy_ccgm model file (it is corrupt, "
                         f"or holds objects other than tensors and plain data, which are "
                         f"refused for safety): {exc}") from None
    try:
        meta = json.loads(payload["meta"])
        ok = isinstance(meta, dict) and meta.get("format") == FORMAT
    except (TypeError, KeyError, json.JSONDecodeError, AttributeError, IndexError):
        ok = False
    if not ok:
        raise ValueError(f"{path!s} is not a dowhy_ccgm CCGMGenerator model file")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise _damaged(path, "version", f"must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path!s} was written by a newer dowhy_ccgm (format "
                         f"{version}); upgrade to load it")
    m = _check_meta(meta, path)
    graph = nx.DiGraph()
    graph.add_nodes_from(m["graph_nodes"])
    graph.add_edges_from(m["graph_edges"])
    params = dict(meta["params"])
    if params.get("knowledge") is not None:
        params["knowledge"] = _knowledge_of_json(params["knowledge"], path)
    if meta.get("graph_none") is True:
        graph = None
    if params.get("exogenous") is not None:
        params["exogenous"] = [dec_name(e) for e in params["exogenous"]]
    ct = params.get("column_types")
    if isinstance(ct, dict) and set(ct) == {"pairs"}:
        params["column_types"] = {dec_name(k): v for k, v in ct["pairs"]}
    params["device"] = device
    pool = payload.get("root_pool")
    if pool is None:           # files before root_sampling: roots were independent
        params["root_sampling"] = "independent"
    if params.get("variant") == "causalvae" and params.get("objective") == "exact":
        params["objective"] = None   # files of 0.1.0: the objective was switched silently
    try:
        gen = cls(graph, **params)
        gen._check_params()
    except (TypeError, ValueError) as exc:
        raise _damaged(path, "params", f"are not valid parameters ({exc})") from None
    schema, nodes, exo = m["schema"], m["nodes"], m["exogenous"]
    specs = schema.specs
    # format 3 records when many-level categorical nodes read their logits through a
    # low-rank head; earlier files gave every category its own mask output
    mdc = meta.get("max_direct_categories") if version >= 3 else None
    if mdc is not None and (isinstance(mdc, bool) or not isinstance(mdc, int) or mdc < 1):
        raise _damaged(path, "max_direct_categories",
                       f"must be a positive integer or null, got {mdc!r}")
    net = CCGMNet([s.kind for s in specs],
                  [len(s.categories) if s.kind != "continuous" else 0 for s in specs],
                  [c in exo for c in nodes], torch.as_tensor(m["mask"]), m["order"],
                  variant=gen.variant, hidden=gen.hidden, n_layers=gen.n_layers,
                  encoder_hidden=gen.encoder_hidden, prior=gen.prior,
                  objective=resolve_objective(gen.variant, gen.objective),
                  atoms=[len(s.atoms) for s in specs], max_direct_categories=mdc)
    state = payload.get("state")
    if not isinstance(state, dict):
        raise _damaged(path, "state", "is missing")
    for name in ("agg_mu", "agg_sd"):
        if name in state:
            setattr(net, name, torch.zeros_like(state[name]))
    # files before general point masses (or before integer columns were snapped): the
    # value encoding's buffers from the schema, which records the same columns
    if "atom_values" not in state or "lattice" not in state:
        set_value_encoding(net, specs)
        state = {**state, "atom": net.atom.clone(), "atom_values": net.atom_values.clone(),
                 "lattice": state.get("lattice", net.lattice).clone()}
    set_formulas(net, specs, nodes)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path!s}: weights do not match the model description: {exc}") \
            from None
    net.eval()
    net = net.to(resolve_device(device))
    model = FittedCCGM(net, schema, tuple(nodes), tuple(exo), n_threads=gen.n_threads)
    states = payload.get("overrides", [])
    refs = payload.get("references")
    if len(states) != len(m["edge_overrides"]) or (refs is not None
                                                   and len(refs) != len(states)):
        raise _damaged(path, "overrides", "do not match 'edge_overrides'")
    removed = []
    for k, ((p, c, mode, how), t) in enumerate(zip(m["edge_overrides"], states)):
        t = t.to(model.device)
        if refs is not None:
            ref = refs[k].to(model.device)
        elif mode == "pool":      # format 1 did not store it: the pool's reference value
            ref = model._reference_state(nodes.index(p), t)
        else:
            ref = t
        removed.append(RemovedEdge(p, c, how, mode, t, ref))
    if pool is not None:
        try:
            keys = ("z", "eps", "unif", "z_idx", "eps_idx", "unif_idx") + tuple(
                k for k in ("copula", "unif_perm", "unif_probs", "values", "values_idx")
                if k in pool)
            pool = {k: (pool[k] if k in ("z", "eps", "unif", "copula", "unif_perm",
                                         "unif_probs", "values") else
                        [int(i) for i in pool[k].tolist()])
                    for k in keys}
        except (KeyError, TypeError, AttributeError):
            raise _damaged(path, "root_pool", "is not a root sample") from None
        _check_pool(pool, model, gen.root_sampling, path)
        if "copula" in pool:
            k = sum(len(pool[f"{key}_idx"]) for key in ("z", "eps", "unif"))
            L = pool["copula"]
            if not (isinstance(L, torch.Tensor) and tuple(L.shape) == (k, k)
                    and bool(torch.isfinite(L).all())):
                raise _damaged(path, "root_pool", f"has a copula that is not a finite "
                               f"({k}, {k}) factor")
            k_u = len(pool["unif_idx"])
            perm, probs = pool.get("unif_perm"), pool.get("unif_probs")
            if k_u and not (isinstance(perm, torch.Tensor) and isinstance(probs, torch.Tensor)
                            and perm.shape[0] == k_u and probs.shape == perm.shape):
                raise _damaged(path, "root_pool", f"lacks the category orders of its {k_u} "
                               "discrete root(s)")
    model = dataclasses.replace(model, removed=tuple(removed), root_pool=pool)
    history = dict(meta.get("history", {}))
    history["lagrangian"] = meta.get("lagrangian")
    rng = torch.Generator()
    try:
        rng.set_state(payload["rng"])
    except (KeyError, TypeError, RuntimeError):
        raise _damaged(path, "rng", "is not a random generator state") from None
    gen._set_fitted(model, history, m["feature_names_in"],
                    bool(meta.get("encoder_fitted", True)), rng)
    if meta.get("learned_edges") is not None:
        gen.learned_graph_ = _learned_graph(meta["learned_edges"], list(model.nodes), path)
    return gen
