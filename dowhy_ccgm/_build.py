"""Building a CCGM net from a model description: the one function (:func:`build_net`)
that fit and load share, and the description of the net's architecture
(:class:`NetConfig`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ._formula import Formula
from ._params import resolve_objective
from .nn import CCGMNet
from .nn._model import MAX_DIRECT_CATEGORIES

__all__ = ["NetConfig", "build_net", "set_value_encoding", "set_formulas"]


@dataclass(frozen=True)
class NetConfig:
    """The architecture of a net: what :func:`build_net` needs beyond the columns, the
    graph and the node order. ``objective`` is the resolved one (``"exact"`` or
    ``"elbo"``); ``max_direct_categories`` None gives every category of a categorical
    node its own mask output (files before format 3)."""
    variant: str = "ccgm_noise"
    hidden: int = 32
    n_layers: int = 2
    encoder_hidden: int = 64
    prior: str = "standard"
    objective: str = "exact"
    max_direct_categories: int | None = MAX_DIRECT_CATEGORIES

    @classmethod
    def from_params(cls, params: dict, **overrides) -> "NetConfig":
        """From the estimator's (validated) parameters."""
        kw = dict(variant=params["variant"], hidden=int(params["hidden"]),
                  n_layers=int(params["n_layers"]),
                  encoder_hidden=int(params["encoder_hidden"]), prior=params["prior"],
                  objective=resolve_objective(params["variant"], params["objective"]))
        kw.update(overrides)
        return cls(**kw)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "NetConfig":
        """Every field checked (``ValueError`` naming the first that is wrong)."""
        if not isinstance(d, dict) or set(d) != set(cls.__dataclass_fields__):
            raise ValueError(f"must hold the fields {sorted(cls.__dataclass_fields__)}")
        for name in ("hidden", "n_layers", "encoder_hidden"):
            v = d[name]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"has {name}={v!r}, not a positive integer")
        mdc = d["max_direct_categories"]
        if mdc is not None and (isinstance(mdc, bool) or not isinstance(mdc, int) or mdc < 1):
            raise ValueError(f"has max_direct_categories={mdc!r}, not a positive integer "
                             "or null")
        for name in ("variant", "prior", "objective"):
            if not isinstance(d[name], str):
                raise ValueError(f"has {name}={d[name]!r}, not a string")
        return cls(**d)


def build_net(specs, exogenous, mask, order, config: NetConfig, device="cpu") -> CCGMNet:
    """A fresh net for the columns ``specs`` (in the net's node order), with the flags
    ``exogenous`` (one per node), the ``mask`` (n, n) of allowed edges and the
    topological ``order``, its value encoding (lattices, point masses) and exact formula
    nodes set from the specs. Its weights are torch's random initialisation (fit
    trains them, load overwrites them)."""
    net = CCGMNet([s.kind for s in specs],
                  [len(s.categories) if s.kind != "continuous" else 0 for s in specs],
                  [bool(e) for e in exogenous], torch.as_tensor(mask), list(order),
                  variant=config.variant, hidden=config.hidden, n_layers=config.n_layers,
                  encoder_hidden=config.encoder_hidden, prior=config.prior,
                  objective=config.objective, atoms=[len(s.atoms) for s in specs],
                  max_direct_categories=config.max_direct_categories).to(device)
    set_value_encoding(net, specs)
    set_formulas(net, specs, [s.name for s in specs])
    return net


def set_value_encoding(net: CCGMNet, specs) -> None:
    """The columns' lattices and point masses into the net's buffers (``specs`` in the
    net's node order)."""
    cont = [specs[i] for i in net.cont]
    net.set_lattice([(s.step, s.mean, s.sd, *s.generation_bounds()) for s in cont])
    net.set_atoms([s.atoms_standardized() for s in cont], [s.floor for s in cont],
                  [s.cap for s in cont], [0.5 * s.step / s.sd for s in cont])


def set_formulas(net: CCGMNet, specs, nodes) -> None:
    """The schema's exact formula nodes into the net (:meth:`CCGMNet.set_formulas`):
    each parent's value as an affine function of its state (``specs`` and ``nodes`` in the
    net's node order)."""
    idx = {c: k for k, c in enumerate(nodes)}
    formulas = {}
    for i, spec in enumerate(specs):
        f = Formula.from_json(spec.formula)
        if f is None:
            continue
        factors, pos = [], {}
        for p in f.parents:
            j = idx[p]
            sp = specs[j]
            if sp.kind == "continuous":
                a, b = sp.mean, sp.sd
            else:               # a numeric binary parent: state = code - 0.5
                c0, c1 = (float(v) for v in sp.categories)
                a, b = c0 + 0.5 * (c1 - c0), c1 - c0
            pos[p] = len(factors)
            factors.append((net.offsets[j], float(a), float(b)))
        terms = [tuple((pos[p], int(k)) for p, k in t) for t in f.terms]
        formulas[i] = (factors, terms, list(f.coef), float(spec.mean), float(spec.sd),
                       float(spec.step))
    net.set_formulas(formulas)
