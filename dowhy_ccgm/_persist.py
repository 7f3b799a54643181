"""Saving and loading a fitted ``CCGMGenerator``: one file of tensors plus JSON metadata.

Loading never unpickles arbitrary objects (``torch.load(weights_only=True)``) and checks
every metadata field it reads, naming the field at fault. Node and column names are
written as tagged JSON that decodes to an equal value of the same type.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch

from ._build import NetConfig
from ._fitted import FittedCCGM, FittedState, ModelStateError, RemovedEdge
from ._removal import HOW_MODES
from ._root_sampling import ROOT_SAMPLING
from ._schema import Schema
from ._utils import resolve_device

__all__ = ["SavedGenerator", "save", "load", "object_array"]

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


@dataclass(frozen=True)
class SavedGenerator:
    """What a model file holds: the estimator's parameters and ``graph`` (None when it was
    learned from the columns), the fitted ``model``, and the fitted attributes beside it
    (``history``, ``feature_names_in``, ``encoder_fitted``, the random stream's state
    ``rng_state``, the ``learned_graph`` of ``learn_structure=True``)."""
    params: dict
    graph: nx.DiGraph | None
    model: FittedCCGM
    history: dict
    feature_names_in: list
    encoder_fitted: bool
    rng_state: torch.Tensor
    learned_graph: nx.DiGraph | None = None


def _meta(saved: SavedGenerator, state: FittedState) -> dict:
    params = dict(saved.params)
    params.pop("graph", None)
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
    graph = saved.graph
    if graph is None:                  # (learn_structure with no graph: the columns)
        graph = nx.DiGraph()
        graph.add_nodes_from(state.nodes)
    learned = saved.learned_graph
    schema = state.schema.to_json()
    for spec in schema["specs"]:
        spec["name"] = enc_name(spec["name"])
    schema["columns"] = [enc_name(c) for c in schema["columns"]]
    history = saved.history
    return {
        "format": FORMAT, "version": FORMAT_VERSION,
        "params": params,
        "graph_nodes": [enc_name(v) for v in graph.nodes],
        "graph_edges": [[enc_name(a), enc_name(b)] for a, b in graph.edges],
        "graph_none": saved.graph is None,
        "learned_edges": None if learned is None else [
            [enc_name(a), enc_name(b), d.get("score"), d.get("confidence"),
             bool(d.get("required"))] for a, b, d in learned.edges(data=True)],
        "nodes": [enc_name(v) for v in state.nodes],
        "exogenous": [enc_name(v) for v in state.exogenous], "order": list(state.order),
        "mask": state.mask.tolist(),
        "schema": schema,
        "net": state.config.to_json(),
        "root_sampling": state.root_sampling,
        "feature_names_in": [enc_name(c, "column name") for c in saved.feature_names_in],
        "edge_overrides": [[enc_name(r.parent), enc_name(r.child), r.mode, r.how]
                           for r in state.removed],
        "n_latent_agg": int(state.weights["agg_mu"].shape[0]),
        "max_direct_categories": state.config.max_direct_categories,
        "encoder_fitted": bool(saved.encoder_fitted),
        "history": {k: v for k, v in history.items() if k != "lagrangian"},
        "lagrangian": history.get("lagrangian"),
    }


def save(saved: SavedGenerator, path) -> None:
    """Write ``saved`` to ``path`` (errors are ``OSError`` naming it)."""
    state = saved.model.to_state()
    meta = json.dumps(_meta(saved, state), default=str)
    payload = {
        "meta": meta,
        "state": state.weights,
        "overrides": [r.state for r in state.removed],
        "references": [r.reference for r in state.removed],
        "root_pool": state.roots,
        "rng": saved.rng_state,
    }
    try:
        torch.save(payload, path)
    except (OSError, RuntimeError) as exc:
        raise OSError(f"cannot write the model to {path!s}: {exc}") from None


# ---------------------------------------------------------------------------- load
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


def load(path, device="cpu", check_params=None) -> SavedGenerator:
    """What the model file at ``path`` holds, every field checked (a ``ValueError`` names
    the field at fault). ``check_params(graph, params)`` (the estimator's) checks the
    stored parameters before the model is built; a ``TypeError`` or ``ValueError`` of it
    reports the ``params`` field as damaged."""
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
    if check_params is not None:
        try:
            check_params(graph, params)
        except (TypeError, ValueError) as exc:
            raise _damaged(path, "params", f"are not valid parameters ({exc})") from None
    state = payload.get("state")
    if not isinstance(state, dict):
        raise _damaged(path, "state", "is missing")
    states = payload.get("overrides", [])
    refs = payload.get("references")
    if len(states) != len(m["edge_overrides"]) or (refs is not None
                                                   and len(refs) != len(states)):
        raise _damaged(path, "overrides", "do not match 'edge_overrides'")
    removed = tuple(RemovedEdge(p, c, how, mode, t, None if refs is None else refs[k])
                    for k, ((p, c, mode, how), t) in enumerate(zip(m["edge_overrides"],
                                                                   states)))
    fitted = FittedState(
        nodes=tuple(m["nodes"]), exogenous=tuple(m["exogenous"]), order=m["order"],
        mask=m["mask"], schema=m["schema"], config=_net_config(meta, version, params, path),
        weights=state, removed=removed,
        root_sampling=_roots_kind(meta, params, path),
        roots=pool, n_threads=params.get("n_threads"))
    try:
        model = FittedCCGM.from_state(fitted, resolve_device(device))
    except ModelStateError as exc:
        if exc.field == "state":
            raise ValueError(f"{path!s}: weights do not match the model description: "
                             f"{exc.why}") from None
        raise _damaged(path, exc.field, exc.why) from None
    history = dict(meta.get("history", {}))
    history["lagrangian"] = meta.get("lagrangian")
    rng = payload.get("rng")
    try:
        torch.Generator().set_state(rng)
    except (KeyError, TypeError, RuntimeError):
        raise _damaged(path, "rng", "is not a random generator state") from None
    learned = None
    if meta.get("learned_edges") is not None:
        learned = _learned_graph(meta["learned_edges"], list(model.nodes), path)
    return SavedGenerator(params, graph, model, history, m["feature_names_in"],
                          bool(meta.get("encoder_fitted", True)), rng, learned)


def _roots_kind(meta: dict, params: dict, path) -> str:
    """How the roots are drawn: the ``root_sampling`` field, or (files before it) the
    parameter."""
    kind = meta.get("root_sampling", params.get("root_sampling", "empirical"))
    if kind not in ROOT_SAMPLING:
        raise _damaged(path, "root_sampling", f"must be one of {ROOT_SAMPLING}, got {kind!r}")
    return kind


def _net_config(meta: dict, version: int, params: dict, path) -> NetConfig:
    """The net's architecture: the ``net`` field, or (files before it) the parameters."""
    # format 3 records when many-level categorical nodes read their logits through a
    # low-rank head; earlier files gave every category its own mask output
    mdc = meta.get("max_direct_categories") if version >= 3 else None
    if mdc is not None and (isinstance(mdc, bool) or not isinstance(mdc, int) or mdc < 1):
        raise _damaged(path, "max_direct_categories",
                       f"must be a positive integer or null, got {mdc!r}")
    if "net" in meta:
        try:
            config = NetConfig.from_json(meta["net"])
        except (TypeError, ValueError) as exc:
            raise _damaged(path, "net", str(exc)) from None
        if config.max_direct_categories != mdc:
            raise _damaged(path, "max_direct_categories", f"is {mdc!r}, but the field "
                           f"'net' says {config.max_direct_categories!r}")
        return config
    defaults = NetConfig()
    try:
        return NetConfig.from_params(
            {"variant": params.get("variant", defaults.variant),
             "hidden": params.get("hidden", defaults.hidden),
             "n_layers": params.get("n_layers", defaults.n_layers),
             "encoder_hidden": params.get("encoder_hidden", defaults.encoder_hidden),
             "prior": params.get("prior", defaults.prior),
             "objective": params.get("objective")}, max_direct_categories=mdc)
    except (TypeError, ValueError) as exc:
        raise _damaged(path, "params", f"do not describe a net ({exc})") from None
