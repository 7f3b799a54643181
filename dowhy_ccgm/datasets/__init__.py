"""Data sets: the Learning Mindsets data (shipped), the UCI Adult data (shipped) and its
causal DAG, a mindset-like SCM with a known ATE, an observational study with correlated
and zero-inflated confounders and a known ATE and ATT, the graph of DoWhy's online-shop
example, and the sun-pendulum scene (renderer and image reader)."""
from ._adult import ADULT_GRAPH_ASSUMPTIONS, ADULT_SHA256, adult_graph, load_adult
from ._mindset import MINDSET_SHA256, load_mindset, simulate_mindset
from ._online_shop import online_shop_graph
from ._observational import (OBS_CONFOUNDERS, OBS_TOP_CODE, observational_nuisances,
                             observational_truth, oracle_estimates, simulate_observational)
from ._pendulum import (LABEL_COLUMNS, pendulum, pendulum_labels, read_pendulum,
                        render_pendulum, shadow_physics)

__all__ = ["load_adult", "adult_graph", "ADULT_SHA256", "ADULT_GRAPH_ASSUMPTIONS",
           "load_mindset", "simulate_mindset", "simulate_observational",
           "observational_truth", "observational_nuisances", "oracle_estimates",
           "OBS_CONFOUNDERS", "OBS_TOP_CODE", "online_shop_graph", "MINDSET_SHA256",
           "pendulum", "pendulum_labels", "render_pendulum", "read_pendulum", "shadow_physics",
           "LABEL_COLUMNS"]
