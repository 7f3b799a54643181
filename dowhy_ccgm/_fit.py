"""Fitting: validated parameters + a DataFrame -> a :class:`~dowhy_ccgm._fitted.FittedCCGM`.

:func:`fit_model` is what ``CCGMGenerator.fit`` and the per-node ``dowhy.gcm`` mechanisms
run (the mechanisms do not go through the estimator, so the package has no import circle).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import warnings

import networkx as nx
import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning

from ._balance import DEFAULT_POWER, parent_balance
from ._build import NetConfig, build_net
from ._fitted import FittedCCGM
from ._params import resolve_objective, schedule
from ._simple import KINDS, ineligible_reason
from ._formula import AUTO_TOLERANCE, DECLARED_TOLERANCE, find_formula
from ._root_sampling import IndependentRoots, fitted_roots
from ._schema import Schema, formula_declaration, infer_column_spec, parse_declaration
from ._training import train_ccgm, train_encoder, train_exact
from ._utils import resolve_device, seed_from, show_progress, torch_generator, torch_threads
from ._validation import check_frame, check_graph, check_node
from .nn import CCGMNet

__all__ = ["FitResult", "fit_model", "uses_exact_fit", "warn_if_not_converged"]


@dataclass(frozen=True)
class FitResult:
    model: FittedCCGM
    history: dict
    columns: tuple           # the data's node columns, in the data's order
    encoder_fitted: bool
    seed: int
    #: the graph learned with ``learn_structure=True`` (edge scores, confidences), else None
    learned_graph: object = None


def uses_exact_fit(params: dict) -> bool:
    """The fast exact-likelihood fit applies: exact objective, graph given."""
    return (resolve_objective(params["variant"], params["objective"]) == "exact"
            and not params["learn_structure"])


def _exogenous(params: dict, graph: nx.DiGraph) -> list:
    if params["exogenous"] is None:
        return [v for v in graph.nodes if graph.in_degree(v) == 0]
    exo = list(params["exogenous"])
    for e in exo:
        check_node(e, graph.nodes, "exogenous node")
        if graph.in_degree(e) > 0 and not params["learn_structure"]:
            raise ValueError(f"exogenous node {e!r} has parents {list(graph.predecessors(e))} "
                             "in the graph; exogenous nodes must be roots")
    return exo


def _learned_mask(net: CCGMNet, edge_threshold: float) -> None:
    """Keep the learned DAG: edges with ``|G| > edge_threshold``, strongest first, skipping
    those that would close a cycle; the net's mask and order follow."""
    G = net.G.detach().cpu().numpy()
    n = G.shape[0]
    D = nx.DiGraph()
    D.add_nodes_from(range(n))
    edges = sorted(((abs(G[j, i]), j, i) for j in range(n) for i in range(n)
                    if abs(G[j, i]) > edge_threshold), reverse=True)
    for _, j, i in edges:
        if not nx.has_path(D, i, j):
            D.add_edge(j, i)
    mask = torch.zeros(n, n)
    for j, i in D.edges:
        mask[j, i] = 1.0
    net.set_mask(mask)
    net.order = list(nx.topological_sort(D))


def _check_atoms(specs, exo, variant: str, objective: str, column_types: dict) -> list:
    """Columns with point masses need the exact likelihood and a noise of their own.

    A declared point mass the model cannot represent is an error; a detected one is
    dropped with a warning (a deterministic mechanism, ``variant="ccgm"``, makes its point
    masses itself, e.g. ``max(3, f(pa))``). Returns the specs, those columns without
    atoms."""
    atoms = [s.name for s in specs if s.atoms]
    if not atoms:
        return specs
    hint = ("; or declare column_types={name: 'continuous'} to model them as plain "
            "continuous columns")
    if objective != "exact":
        bad = atoms
        why = (f"need objective='exact', got objective={objective!r} with "
               f"variant={variant!r}")
    else:
        bad = [c for c in atoms if c not in exo and variant == "ccgm"]
        why = ("are endogenous, and variant='ccgm' makes endogenous nodes deterministic "
               "functions of their parents: use variant='ccgm_noise'")
    declared = [c for c in bad if parse_declaration(c, column_types.get(c))[1]]
    if declared:
        raise ValueError(f"columns with point masses {declared} (zeros, floors, caps) "
                         f"{why}{hint}")
    if not bad:
        return specs
    warnings.warn(f"columns {bad} have point masses (detected: "
                  + ", ".join(f"{s.name!r} at {s.atoms}" for s in specs if s.name in bad)
                  + f") that this model does not represent: they {why}; they are modelled "
                  "as plain continuous columns (declare column_types={name: 'continuous'} "
                  "to say so and silence this)", UserWarning, stacklevel=4)
    return [dataclasses.replace(s, atoms=[], atom_shares=[], atom=False, atom_share=0.0)
            if s.name in bad else s for s in specs]


def init_atom_logits(net: CCGMNet, specs) -> None:
    """Start each point mass's logit at its share in the data (the mask's last bias), so
    training learns how the parents move the shares rather than the shares themselves
    (from an even split, a large share such as a list price held by 98% of the rows can
    stall far from its value). Fit only: a loaded model has its trained weights."""
    with torch.no_grad():
        bias = net.g.biases[-1]
        for i in net.cont:
            spec = specs[i]
            k = len(spec.atoms)
            if not k or len(spec.atom_shares) != k:
                continue
            shares = np.asarray(spec.atom_shares, dtype=np.float64)
            rest = max(1.0 - float(shares.sum()), 1e-4)
            bias[i, 2:2 + k] = torch.as_tensor(np.log(np.clip(shares, 1e-6, None) / rest),
                                               dtype=bias.dtype)


def init_class_logits(net: CCGMNet, codes: np.ndarray) -> None:
    """Start each discrete node's logits at its classes' shares in the data (the mask's
    last bias; a many-level node's head bias), so training learns how the parents move
    the shares rather than the shares themselves. From an even split, early stopping
    can end before a rare class's intercept has converged: fitted on its own term, a 2%
    treatment kept a treated share 35% too high (0.0265 against the data's 0.0197).
    Fit only: a loaded model has its trained weights."""
    with torch.no_grad():
        bias = net.g.biases[-1]
        for i in net.disc:
            col = codes[:, net.disc_pos[i]]
            col = col[col >= 0]
            K = net.n_categories[i]
            if not col.size or K < 2:
                continue
            counts = np.bincount(col, minlength=K)[:K].astype(np.float64)
            logp = np.log(np.maximum(counts, 0.5) / col.size)
            if net.kinds[i] == "binary":
                bias[i, 0] = float(logp[1] - logp[0])
            elif str(i) in net.cat_head_bias:
                net.cat_head_bias[str(i)].copy_(torch.as_tensor(logp - logp.mean()))
            else:
                bias[i, :K] = torch.as_tensor(logp - logp.mean(), dtype=bias.dtype)


def _numeric_values(spec, values) -> np.ndarray | None:
    """A column's values as float64 numbers for a formula (continuous columns, and binary
    columns whose two labels are numbers or bools), else None."""
    if spec.kind == "continuous":
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    if spec.kind == "binary" and all(isinstance(c, (int, float, bool, np.number, np.bool_))
                                     for c in spec.categories):
        return values.astype("float64").to_numpy(na_value=np.nan)
    return None


def _find_formulas(specs, Xg, graph, exo, params, objective, column_types) -> list:
    """Mark the continuous endogenous nodes that are exact formulas of their parents
    (:mod:`._formula`): detected (``column_types`` may say ``{"formula": False}``) or
    declared (``"formula"``: found within the looser ``DECLARED_TOLERANCE``, or refused
    with the reason). Not with a learned structure (the parents are not known yet)."""
    by_name = {s.name: s for s in specs}
    out = []
    for spec in specs:
        c = spec.name
        decl = formula_declaration(c, column_types.get(c))
        parents = list(graph.predecessors(c))
        if decl is False or spec.kind != "continuous" or (
                (c in exo or not parents) and decl == "auto"):
            out.append(spec)
            continue

        def refuse(why):
            raise ValueError(f"column_types[{c!r}] declares an exact formula of its "
                             f"parents, but {why}")
        if c in exo or not parents:
            refuse("it is a root (exogenous) node")
        if params["learn_structure"] or objective != "exact" or \
                params["variant"] == "causalvae":
            if decl is True:
                refuse("formula nodes need the graph given, objective='exact' and "
                       "variant 'ccgm_noise' or 'ccgm'")
            out.append(spec)
            continue
        values = {p: _numeric_values(by_name[p], Xg[p]) for p in parents}
        bad = [p for p, v in values.items() if v is None]
        if bad:
            if decl is True:
                refuse(f"parents {bad} are not numeric (a formula reads numbers)")
            out.append(spec)
            continue
        y = Xg[c].to_numpy(dtype=np.float64, na_value=np.nan)
        tol = DECLARED_TOLERANCE if decl is True else AUTO_TOLERANCE
        f = find_formula(y, values, tol, step=spec.step)
        if f is None:
            if decl is True:
                refuse(f"no sum of products and ratios of its parents {parents} "
                       f"reproduces it within {DECLARED_TOLERANCE} standard deviations")
            out.append(spec)
            continue
        out.append(dataclasses.replace(spec, formula=f.to_json(), atoms=[], atom_shares=[],
                                       atom=False, atom_share=0.0))
    return out


def _check_missing_supported(Xg, params: dict) -> None:
    """Missing cells are fitted by the exact likelihood of the observed factors (a node's
    ``p(x_i | pa_i)`` where it and its parents are observed); the other fits refuse them,
    naming the columns."""
    cols = [c for c in Xg.columns if Xg[c].isna().any()]
    for c in cols:
        seen = int(Xg[c].notna().sum())
        if seen < 2:
            raise ValueError(f"column {c!r} has {seen} observed values of {len(Xg)}: a "
                             "column needs at least two to be modelled")
    what = None
    if not uses_exact_fit(params):
        what = ("objective='exact' with the graph given (not learn_structure=True, not "
                "the ELBO)")
    elif params["fit_encoder"]:
        what = "fit_encoder=False"
    if what is not None:
        raise ValueError(f"columns {cols} have missing (NaN) values; fitting with missing "
                         f"cells needs {what}: impute or drop those rows, or change the "
                         "parameters")


def fit_model(params: dict, X, groups=None, used=None) -> FitResult:
    """Fit a CCGM with the estimator's (already validated) ``params`` on the frame ``X``.

    ``groups`` (optional, one label per row) keeps rows with equal labels on one side of
    the validation split: :func:`dowhy_ccgm.bootstrap.bootstrap` passes each resampled
    row's original row, so no validation row is a duplicate of a training row.

    ``used`` (optional, node names): the nodes whose mechanisms the caller reads
    (``dowhy.gcm``'s mechanisms read one node of a star ``parents -> node``). Where every
    one of them is an exact formula nothing is trained and no step runs (the online
    shop's formula nodes trained 2,100-3,000 steps of their parents' marginals). The
    other nodes' terms are otherwise trained as in any fit: weighing them 0 (a
    conditional fit of the used nodes alone) made early stopping end sooner and the
    triangle SCM's counterfactuals worse (CF RMSE 0.17 -> 0.25 over 3 seeds,
    ``bench_gcm_triangle.py``).

    With ``learn_structure=True`` the graph is learned first (:func:`_learn_then_fit`)."""
    learn = params["learn_structure"]
    if isinstance(learn, (bool, np.bool_)) and bool(learn):
        if used is not None:
            raise ValueError("used (the nodes a caller reads) needs the graph given")
        return _learn_then_fit(params, X, groups)
    if params["knowledge"] is not None:
        raise ValueError("knowledge is read by the structure learner: pass "
                         "learn_structure=True with it (or drop it)")
    graph = _given_graph(params, X)
    min_rows = 10 if params["validation_fraction"] > 0 else 2
    Xg = check_frame(X, graph, extra_columns=params["extra_columns"], min_rows=min_rows,
                     missing="allow")
    has_missing = bool(Xg.isna().to_numpy().any())
    if has_missing:
        _check_missing_supported(Xg, params)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(Xg),):
            raise ValueError(f"groups must hold one label per row ({len(Xg)}), "
                             f"got shape {groups.shape}")
    column_types = dict(params["column_types"] or {})
    unknown = [c for c in column_types if c not in graph.nodes]
    if unknown:
        raise KeyError(f"column_types names unknown columns {unknown}")
    exo = _exogenous(params, graph)
    order = list(nx.topological_sort(graph))
    specs = [infer_column_spec(c, Xg[c].dropna() if has_missing else Xg[c],
                               column_types.get(c)) for c in order]
    idx = {c: k for k, c in enumerate(order)}
    n = len(order)
    mask = np.zeros((n, n), dtype=bool)
    if params["learn_structure"]:
        for i, c in enumerate(order):
            if c not in exo:
                mask[:, i] = True
                mask[i, i] = False
    else:
        for a, b in graph.edges:
            mask[idx[a], idx[b]] = True
    seed = seed_from(params["random_state"])
    dev = resolve_device(params["device"])
    objective = resolve_objective(params["variant"], params["objective"])
    specs = _check_atoms(specs, exo, params["variant"], objective, column_types)
    specs = _find_formulas(specs, Xg, graph, exo, params, objective, column_types)
    schema = Schema(specs, [c for c in Xg.columns])
    exact_fit = uses_exact_fit(params)
    epochs, latent_weight = int(params["epochs"]), float(params["latent_weight"])
    vf = float(params["validation_fraction"])
    sch = schedule(params, exact_fit, len(Xg))
    with torch_threads(params["n_threads"], int(sch["batch_size"]) * n), \
            torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_net(specs, [c in exo for c in order], mask, range(n),
                        NetConfig.from_params(params), dev)
        init_atom_logits(net, specs)
        codes_np = schema.codes_array(Xg)          # (one pass: the logits' start, the fit)
        init_class_logits(net, codes_np)
        net.fit_missing = has_missing
        gen = torch_generator(seed)
        progress = show_progress(params["progress_bar"])
        if exact_fit:
            # the state rows straight from the frame: the one copy of the data
            S = torch.zeros(len(Xg), net.width)
            schema.standardize_into(Xg, S.numpy(), [net.offsets[i] for i in net.cont])
            codes = torch.as_tensor(codes_np)
            net.encode_states(None, codes, out=S)
            idle = used is not None and _all_formulas(used, order, specs)
            history = train_exact(
                net, S, codes, epochs=0 if idle else epochs,
                pretrain_epochs=0 if idle else int(params["pretrain_epochs"]),
                batch_size=int(sch["batch_size"]), lr=float(sch["learning_rate"]),
                patience=int(sch["patience"]), validation_fraction=vf, generator=gen,
                progress=progress, latent_weight=latent_weight, groups=groups,
                node_weights=None if params["learn_structure"] else balance_weights(
                    net, codes, params), **_mechanism_request(params, net, order))
            if used is not None:
                history["used"] = [str(c) for c in used]
                if idle:               # (nothing to train is a converged fit)
                    history["converged"] = True
            if params["fit_encoder"]:
                history["encoder"] = train_encoder(
                    net, S, codes, epochs=epochs, batch_size=int(sch["batch_size"]),
                    lr=float(sch["learning_rate"]), generator=gen, groups=groups)
        else:
            u, codes = (torch.as_tensor(a) for a in schema.to_arrays(Xg))
            train_kw = dict(
                batch_size=int(sch["batch_size"]), lr=float(sch["learning_rate"]),
                kl_weight=float(params["kl_weight"]), label_weight=float(params["label_weight"]),
                latent_weight=latent_weight, patience=int(sch["patience"]),
                validation_fraction=vf, generator=gen, progress=progress, groups=groups)
            history = train_ccgm(net, u, codes, epochs=epochs,
                                 pretrain_epochs=int(params["pretrain_epochs"]), **train_kw)
        if params["learn_structure"]:
            # keep the learned DAG, then refit the masks on exactly that structure
            _learned_mask(net, float(params["edge_threshold"]))
            if not bool(net.mask.any()):
                why = (f"every node is exogenous ({len(exo)} of {n}: the default exogenous "
                       "nodes are the given graph's roots, and an exogenous node has no "
                       "parents), so no edge could be learned: pass exogenous=[...] naming "
                       "only the true root nodes" if len(exo) == n else
                       f"no learned weight exceeded edge_threshold="
                       f"{params['edge_threshold']}: lower it, or train longer")
                warnings.warn(f"learn_structure='paper' learned an empty graph: {why}",
                              UserWarning, stacklevel=3)
            if objective == "exact":
                refit = schedule(params, True, len(Xg))
                history["refit"] = train_exact(
                    net, net.encode_states(u.to(dev), codes.to(dev)), codes,
                    epochs=epochs, pretrain_epochs=0, batch_size=int(refit["batch_size"]),
                    lr=float(refit["learning_rate"]), patience=int(refit["patience"]),
                    validation_fraction=vf, generator=gen, progress=progress,
                    latent_weight=latent_weight, desc="CCGM refit on learned DAG",
                    groups=groups, node_weights=balance_weights(net, codes, params),
                    **_mechanism_request(params, net, order))
            else:
                history["refit"] = train_ccgm(
                    net, u, codes, epochs=epochs, pretrain_epochs=0,
                    desc="CCGM refit on learned DAG", **train_kw)
    net.fit_missing = False
    net.eval()
    for part in (history, history.get("refit", {})):
        if "mechanisms" in part:     # (records naming the node: history is JSON)
            part["mechanisms"] = [
                {"node": str(order[i]), **v, **({"modifier": str(order[v["modifier"]])}
                                                if "modifier" in v else {})}
                for i, v in part["mechanisms"].items()]
    roots = IndependentRoots()
    if params["root_sampling"] in ("empirical", "copula"):
        with torch_threads(params["n_threads"], min(len(Xg), 16_384) * n):
            S_all = S if exact_fit else net.encode_states(u.to(dev), codes.to(dev))
            roots = fitted_roots(params["root_sampling"], net, S_all.to(dev), gen,
                                 lambda i: Xg[order[i]].to_numpy(dtype=np.float64,
                                                                 na_value=np.nan))
    model = FittedCCGM(net, schema, tuple(order), tuple(c for c in order if c in exo),
                       n_threads=params["n_threads"], roots=roots)
    return FitResult(model, history, tuple(Xg.columns),
                     bool(objective == "elbo" or not exact_fit or params["fit_encoder"]),
                     seed)


def _given_graph(params: dict, X) -> nx.DiGraph:
    """The ``graph`` parameter, checked; when the structure is learned and no graph is
    given, the edgeless graph on ``X``'s columns (in their order)."""
    graph = params["graph"]
    if graph is None and params["learn_structure"] and isinstance(X, pd.DataFrame):
        graph = nx.DiGraph()
        graph.add_nodes_from(X.columns)
    return check_graph(graph)


def _learn_then_fit(params: dict, X, groups) -> FitResult:
    """``learn_structure=True``: learn the graph under the knowledge
    (:func:`dowhy_ccgm.structure.learn_graph`; ``exogenous`` nodes get no parents), then
    the exact fit on it."""
    from .structure import Knowledge, learn_graph
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame whose columns are the nodes, got "
                        f"{type(X).__name__}")
    given = _given_graph(params, X)
    Xg = check_frame(X, given, extra_columns=params["extra_columns"], min_rows=10,
                     missing="allow")
    kn = Knowledge.coerce(params["knowledge"])
    if params["exogenous"] is not None:
        exo = list(params["exogenous"])
        for e in exo:
            check_node(e, given.nodes, "exogenous node")
        kn = dataclasses.replace(kn, exogenous=tuple(dict.fromkeys(kn.exogenous + tuple(exo))))
    learned = learn_graph(Xg, kn, graph=given if given.number_of_edges() else None,
                          column_types=params["column_types"],
                          n_bootstrap=int(params["structure_bootstrap"]),
                          random_state=seed_from(params["random_state"]))
    res = fit_model(dict(params, graph=learned, learn_structure=False, knowledge=None,
                         exogenous=None), Xg, groups)
    res.history["structure"] = {"edges": learned.number_of_edges()}
    return dataclasses.replace(res, learned_graph=learned)


def _mechanism_request(params: dict, net: CCGMNet, order) -> dict:
    """``mechanisms`` as :func:`train_exact` takes it: a mode and ``{node index: kind}``
    for the nodes a dict names (each checked: a node of the graph whose mechanism can be
    the kind asked, else an error naming it and why)."""
    value = params.get("mechanisms", "auto")
    if isinstance(value, str):
        return {"mechanisms": value, "forced_mechanisms": None}
    forced = {}
    for name, kind in value.items():
        check_node(name, order, "node in mechanisms")
        if kind not in KINDS:
            raise ValueError(f"mechanisms[{name!r}] must be one of {list(KINDS)}, got "
                             f"{kind!r}")
        i = list(order).index(name)
        why = ineligible_reason(net, i, kind)
        if kind != "network" and why is not None:
            raise ValueError(f"mechanisms[{name!r}] = {kind!r}, but that node's mechanism "
                             f"cannot be {kind}: {why}")
        forced[i] = kind
    return {"mechanisms": "auto", "forced_mechanisms": forced}


def _all_formulas(used, order, specs) -> bool:
    """Whether every node in ``used`` (``fit_model``'s, each checked) is an exact formula
    node, so that a fit has nothing its caller reads to train."""
    used = list(used)
    for name in used:
        check_node(name, order, "used node")
    return all(specs[order.index(c)].formula is not None for c in used)


def balance_weights(net, codes: torch.Tensor, params: dict) -> torch.Tensor | None:
    """The exact fit's node weights of the parent balance (:mod:`._balance`) on the
    network's allowed edges, (n_rows, n_nodes), or None (no node with a discrete parent,
    or ``parent_balance=0``)."""
    w = parent_balance(net.mask.cpu().numpy(), net.disc, codes.cpu().numpy(),
                       float(params.get("parent_balance", DEFAULT_POWER)))
    return None if w is None else torch.from_numpy(w)


def warn_if_not_converged(history: dict, params: dict, caller: str, stacklevel: int = 3):
    """A ``ConvergenceWarning`` when training ended on the epoch limit (with early stopping
    on, ``patience > 0``) before the validation objective stopped improving."""
    if history.get("converged") is False and int(params["epochs"]) > 0:
        if int(schedule(params, uses_exact_fit(params), 0)["patience"]) > 0:
            warnings.warn(
                f"{caller}: training ended on the epoch limit (epochs={params['epochs']}) "
                f"before its validation objective stopped improving; raise epochs for a "
                f"converged model", ConvergenceWarning, stacklevel=stacklevel + 1)
