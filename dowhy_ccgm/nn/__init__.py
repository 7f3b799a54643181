"""Torch core of CCGM: causal layer, masks, VAE and losses (no pandas, no DoWhy)."""
from ._layers import AugmentedLagrangian, GatedNodeMLP, MonotoneMap, dag_penalty
from ._model import KINDS, VARIANTS, CCGMNet

__all__ = ["AugmentedLagrangian", "GatedNodeMLP", "MonotoneMap", "dag_penalty", "CCGMNet",
           "KINDS", "VARIANTS"]
