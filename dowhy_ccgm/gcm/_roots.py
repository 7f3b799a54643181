"""Roots drawn jointly in ``dowhy.gcm``: observed root rows resampled together.

DoWhy draws every root from its own ``StochasticModel``, one node at a time
(``gcm.draw_samples`` walks the graph in topological order and asks each root for
``num_samples`` values), so with ``EmpiricalDistribution`` roots correlated confounders come
out independent. :class:`JointEmpiricalDistribution` is a drop-in ``StochasticModel`` for one
root that shares a *block* with the other roots of the graph: the block keeps the roots'
training columns side by side (``gcm.fit`` gives every node the same rows, in the same
order) and hands every root of one sampling pass the values of the same randomly drawn rows.
The roots then have exactly the data's joint law, as ``CCGMGenerator``'s
``root_sampling="empirical"`` has.

How a pass is recognised, without any hook into DoWhy: a block draws new rows when a root
asks that has already been served from the current rows (or asks for another number of
rows); otherwise it serves the current rows. One pass of DoWhy's samplers asks every root
once, so each drawn data set has the joint law whatever the order the roots are asked in.
Two consecutive passes that ask disjoint sets of roots for the same number of rows share
rows (each pass on its own is still exact; only draws of *different* calls are then
dependent).

Which roots are joint: the members of a block fitted together (one ``gcm.fit``: the same
number of rows, each member once). A member refitted alone on other data is drawn on its
own. ``clone()`` (used by ``ProbabilisticCausalModel.clone``, hence DoWhy's bootstrap
``gcm.fit_and_compute``) puts consecutive clones of a block's members into one new block,
so a cloned causal model keeps its roots joint after it is refitted.

Randomness is numpy's global state, as in DoWhy's ``EmpiricalDistribution``
(``gcm.util.general.set_random_seed`` makes draws reproducible).
"""
from __future__ import annotations

import itertools

import numpy as np
from dowhy.gcm.causal_mechanisms import StochasticModel
from dowhy.gcm.util.general import shape_into_2d

__all__ = ["JointEmpiricalDistribution", "joint_empirical_roots"]


class _RootBlock:
    """The shared state of the roots of one graph (see the module docstring)."""

    def __init__(self):
        self._ids = itertools.count()
        self.data = {}        # member id -> (n, 1) training values
        self.round = {}       # member id -> the fit round it was fitted in
        self.current = 0      # the current fit round
        self.rows = None      # the rows of the current pass
        self.served = set()   # members served from ``rows``
        self.clone_block = None
        self.cloned = set()

    def new_id(self) -> int:
        return next(self._ids)

    def record(self, member: int, values: np.ndarray) -> None:
        if self.round.get(member) == self.current:
            self.current += 1          # a member fitted twice: a new fit begins
        self.data[member] = values
        self.round[member] = self.current
        self.rows, self.served = None, set()

    def joint_with(self, member: int) -> bool:
        """Whether ``member`` was fitted with the block's current fit (same round, same
        number of rows as every member of that round)."""
        if self.round.get(member) != self.current:
            return False
        sizes = {self.data[m].shape[0] for m, r in self.round.items() if r == self.current}
        return len(sizes) == 1

    def draw_rows(self, member: int, num_samples: int, n_rows: int) -> np.ndarray:
        if not self.joint_with(member):
            return np.random.choice(n_rows, size=num_samples, replace=True)
        if self.rows is None or member in self.served or self.rows.shape[0] != num_samples:
            self.rows = np.random.choice(n_rows, size=num_samples, replace=True)
            self.served = set()
        self.served.add(member)
        return self.rows

    def clone_target(self, member: int) -> "_RootBlock":
        if self.clone_block is None or member in self.cloned:
            self.clone_block, self.cloned = _RootBlock(), set()
        self.cloned.add(member)
        return self.clone_block


class JointEmpiricalDistribution(StochasticModel):
    """A root's observed values, resampled jointly with the other roots of its block.

    Like DoWhy's ``EmpiricalDistribution`` (it returns training values, never unseen ones),
    except that every root of the block gets the values of the *same* drawn rows in a
    sampling pass, so correlated roots (confounders) keep their joint law in
    ``gcm.draw_samples``, ``gcm.interventional_samples``, ``gcm.average_causal_effect``,
    ``gcm.arrow_strength`` and every other DoWhy function that samples the graph.
    An intervention on one root replaces its values after the draw, so the other roots
    keep their joint law; counterfactuals use the observed roots, as with any DoWhy root.

    Parameters
    ----------
    joint_with : JointEmpiricalDistribution, optional
        Join this model's block; without it the model starts a block of its own.
        :func:`joint_empirical_roots` makes a block for several nodes at once, and
        ``assign_ccgm_mechanisms`` (``root_model="joint"``, the default) makes one for all
        roots of the graph.

    Examples
    --------
    >>> import networkx as nx, numpy as np, pandas as pd
    >>> from dowhy import gcm
    >>> from dowhy_ccgm.gcm import joint_empirical_roots
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=2_000)
    >>> df = pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=2_000)})
    >>> df["y"] = df.a - df.b + 0.1 * rng.normal(size=2_000)
    >>> scm = gcm.StructuralCausalModel(nx.DiGraph([("a", "y"), ("b", "y")]))
    >>> for node, mech in joint_empirical_roots(["a", "b"]).items():
    ...     scm.set_causal_mechanism(node, mech)
    >>> scm.set_causal_mechanism("y", gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor()))
    >>> gcm.fit(scm, df)
    >>> s = gcm.draw_samples(scm, 20_000)
    >>> bool(abs(s.a.corr(s.b) - df.a.corr(df.b)) < 0.02)
    True
    """

    def __init__(self, joint_with: "JointEmpiricalDistribution | None" = None) -> None:
        if joint_with is not None and not isinstance(joint_with, JointEmpiricalDistribution):
            raise TypeError("joint_with must be a JointEmpiricalDistribution, got "
                            f"{type(joint_with).__name__}")
        self._block = _RootBlock() if joint_with is None else joint_with._block
        self._id = self._block.new_id()
        self.node_name_ = None      # (named in errors; set by assign_ccgm_mechanisms)

    @property
    def data(self) -> np.ndarray | None:
        """The training values, (n, 1), or None before ``fit``."""
        return self._block.data.get(self._id)

    def shares_block_with(self, other: "JointEmpiricalDistribution") -> bool:
        """Whether ``other`` belongs to the same block (is drawn jointly with this one)."""
        return isinstance(other, JointEmpiricalDistribution) and other._block is self._block

    def fit(self, X: np.ndarray) -> None:
        """Keep the root's training values ``X`` (n,) or (n, 1); the rows must be those of
        the other roots of the block (``gcm.fit`` passes every node the same rows)."""
        values = shape_into_2d(np.array(X, copy=True))      # (a copy: never the caller's)
        if values.ndim != 2 or values.shape[1] != 1 or values.shape[0] < 1:
            what = "" if self.node_name_ is None else f" of root {self.node_name_!r}"
            raise ValueError(f"the training values{what} must be one column with at least "
                             f"one row, got shape {np.shape(X)}")
        self._block.record(self._id, values)

    def draw_samples(self, num_samples: int) -> np.ndarray:
        """(num_samples, 1) training values of the rows drawn for this sampling pass."""
        if (isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer))
                or num_samples < 0):
            raise ValueError(f"num_samples must be a non-negative integer, got {num_samples!r}")
        values = self.data
        if values is None:
            what = "" if self.node_name_ is None else f" (root {self.node_name_!r})"
            raise RuntimeError(f"JointEmpiricalDistribution{what} has not been fitted: call "
                               "gcm.fit first")
        rows = self._block.draw_rows(self._id, int(num_samples), values.shape[0])
        return values[rows]

    def clone(self) -> "JointEmpiricalDistribution":
        """An unfitted copy; consecutive clones of one block's members share a new block."""
        out = JointEmpiricalDistribution.__new__(JointEmpiricalDistribution)
        out._block = self._block.clone_target(self._id)
        out._id = out._block.new_id()
        out.node_name_ = self.node_name_
        return out

    def __repr__(self) -> str:
        name = "" if self.node_name_ is None else f"{self.node_name_!r}"
        return f"JointEmpiricalDistribution({name})"

    def __str__(self) -> str:
        return "Joint Empirical Distribution"


def joint_empirical_roots(nodes) -> dict:
    """``{node: JointEmpiricalDistribution}`` for ``nodes``, all in one block (drawn
    jointly); assign them with ``causal_model.set_causal_mechanism(node, model)``."""
    if isinstance(nodes, str):
        raise TypeError(f"nodes must be a list of node names, got the string {nodes!r}")
    nodes = list(nodes)
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"joint_empirical_roots got repeated nodes: {nodes}")
    out, first = {}, None
    for node in nodes:
        model = JointEmpiricalDistribution(joint_with=first)
        model.node_name_ = node
        if first is None:
            first = model
        out[node] = model
    return out
