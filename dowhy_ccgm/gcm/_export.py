"""Export a trained :class:`~dowhy_ccgm.CCGMGenerator` as a fitted ``dowhy.gcm`` model.

Every node's mechanism wraps the generator's own trained net (a copy shared by all nodes of
the exported model), evaluated node by node with the generator's mask, so no refit happens:

* the trained graph's roots, when the generator keeps their joint law
  (``root_sampling="empirical"``, the default), get one block of
  :class:`~dowhy_ccgm.gcm.JointEmpiricalDistribution` over the generator's stored root rows,
  so ``gcm.draw_samples`` draws them jointly as ``CCGMGenerator.sample`` does; with
  ``root_sampling="independent"`` (and for a node that became a root by an edge removal) a
  root gets a :class:`~dowhy_ccgm.gcm.CCGMRootModel` that samples its trained marginal;
* a non-root node gets a :class:`~dowhy_ccgm.gcm.CCGMMechanism` (a
  :class:`~dowhy_ccgm.gcm.CCGMDiscreteMechanism` for a discrete node) with the node's own
  scalar noise: ``eps`` for ``variant="ccgm_noise"`` and ``"causalvae"``, the inverse-CDF
  uniform of a discrete node. With ``variant="ccgm"`` an endogenous continuous node has no
  noise (the paper's deterministic mechanism): its noise is 0 and ignored, as in
  ``CCGMGenerator.counterfactual``.

Edges removed with ``CCGMGenerator.remove_edge`` are absent from the exported graph; the
child's net is fed what the generator feeds it (a constant, or, for ``how="marginal"``, a
random draw from the stored pool of the parent when sampling). At unit level
(``estimate_noise``/``evaluate``, hence ``gcm.counterfactual_samples``) it is fed the removed
parent's reference value, as in ``CCGMGenerator.counterfactual`` (the package's one
edge-removal policy, :mod:`dowhy_ccgm._removal`), so both give the same counterfactuals.

The exported mechanisms share the generator's net (it is never trained again; a CUDA net
is copied to the CPU).

``clone()`` of an exported mechanism is an unfitted per-node CCGM with the generator's
settings (what ``gcm.evaluate_causal_model`` refits); ``fit`` on an exported mechanism trains
such a per-node CCGM in place of the generator's net.
"""
from __future__ import annotations

import copy

import networkx as nx
from dowhy.gcm.causal_models import PARENTS_DURING_FIT, InvertibleStructuralCausalModel
from dowhy.graph import get_ordered_predecessors

from .._removal import Insertion
from .._utils import torch_generator
from .._validation import check_fitted_generator
from ._mechanism import ALLOWED_PARAMS, CCGMMechanism, CCGMRootModel
from ._node import NodeModel
from ._roots import joint_empirical_roots

__all__ = ["to_gcm"]


def _mechanism_params(generator) -> dict:
    params = generator.get_params(deep=False)
    rs = params.get("random_state")
    out = {k: params[k] for k in ALLOWED_PARAMS if k in params}
    out.update(hidden=params["hidden"], epochs=params["epochs"],
               progress_bar=params["progress_bar"],
               random_state=rs if rs is None or isinstance(rs, int) else None)
    out["device"] = "cpu"
    return out


def to_gcm(generator) -> InvertibleStructuralCausalModel:
    """A fitted ``gcm.InvertibleStructuralCausalModel`` made of a trained generator's net.

    Parameters
    ----------
    generator : CCGMGenerator
        A fitted generator (possibly with removed edges, which the exported graph lacks).

    Returns
    -------
    dowhy.gcm.InvertibleStructuralCausalModel
        Fitted: ``gcm.draw_samples``, ``gcm.interventional_samples``,
        ``gcm.counterfactual_samples``, ``gcm.arrow_strength``, ``gcm.evaluate_causal_model``
        and friends run on it directly. The generator is not modified, and refitting it
        later does not reach the exported model (a fit makes a new net).

    Examples
    --------
    >>> import networkx as nx, numpy as np, pandas as pd
    >>> from dowhy import gcm
    >>> from dowhy_ccgm import CCGMGenerator
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=300)
    >>> df = pd.DataFrame({"x": x, "y": np.tanh(x) + 0.1 * rng.normal(size=300)})
    >>> gen = CCGMGenerator(nx.DiGraph([("x", "y")]), epochs=3, random_state=0,
    ...                     progress_bar=False).fit(df)
    >>> scm = gen.to_gcm()
    >>> gcm.interventional_samples(scm, {"x": lambda v: 1.0}, num_samples_to_draw=5).shape
    (5, 2)
    """
    check_fitted_generator(generator, "to_gcm")
    model = generator.model_
    net = model.net
    if net.mask.device.type != "cpu":     # (DoWhy works in numpy: a CPU copy)
        net = copy.deepcopy(net).cpu()
    nodes = list(model.nodes)
    idx = {c: k for k, c in enumerate(nodes)}
    specs = model.schema.by_name
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(model.edges())
    fixed = {}
    for r in model.removed:
        fixed.setdefault(r.child, {})[idx[r.parent]] = Insertion(
            r.mode, r.state.cpu(), r.reference.cpu())
    params = _mechanism_params(generator)
    scm = InvertibleStructuralCausalModel(graph)
    joint = {}
    pooled = model.pooled_roots()
    if pooled:      # the generator's own root rows, drawn jointly
        rows = model.pooled_root_rows(torch_generator(0))
        joint = joint_empirical_roots(pooled)
        for node, root in joint.items():
            root.fit(rows[node].to_numpy())
    for node in nodes:
        if node in joint:
            scm.set_causal_mechanism(node, joint[node])
            scm.graph.nodes[node][PARENTS_DURING_FIT] = []
            continue
        parents = get_ordered_predecessors(graph, node)
        node_model = NodeModel(net, idx[node], specs[node],
                               [(idx[p], specs[p]) for p in parents],
                               fixed=fixed.get(node), n_threads=generator.n_threads)
        cls = CCGMMechanism if parents else CCGMRootModel
        scm.set_causal_mechanism(node, cls._from_model(node_model, params))
        scm.graph.nodes[node][PARENTS_DURING_FIT] = parents
    return scm
