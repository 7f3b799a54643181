"""Quickstart: fit CCGM on a nonlinear SCM with known equations, then sample, intervene,
compute counterfactuals and remove an edge -- and check each against the truth.

    python examples/quickstart.py            # about a minute on 2 cores
"""
import os

import numpy as np

from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm

QUICK = bool(os.environ.get("CCGM_EXAMPLES_QUICK"))
data = toy_scm(1000 if QUICK else 5000, random_state=0)
gen = CCGMGenerator(TOY_GRAPH, epochs=15 if QUICK else 200, random_state=0).fit(data)

# 1. observational samples keep the training columns and dtypes
print(gen.sample(5, random_state=0))

# 2. population-level intervention against the truth
est = gen.intervene({"x3": 2.0}, n_samples=50_000, random_state=1)["x4"].mean()
print(f"E[x4 | do(x3=2)]: ccgm {est:.3f}, truth {0.8 * 2.0:.3f}")

# 3. unit-level counterfactual: x4 would have been 0.8 higher had x3 been 1 higher
units = data.head(5)
cf = gen.counterfactual(units, {"x3": lambda v: v + 1.0})
print("counterfactual x4 - observed x4:", np.round((cf["x4"] - units["x4"]).to_numpy(), 2))

# 4. remove an edge without retraining: x3 stops responding to x1, x4 still does
cut = gen.remove_edge("x1", "x3", how="mean")
for name, model in [("before", gen), ("after", cut)]:
    hi = model.intervene({"x1": 1.0}, n_samples=50_000, random_state=2).mean()
    lo = model.intervene({"x1": -1.0}, n_samples=50_000, random_state=2).mean()
    print(f"{name} remove_edge(x1, x3): effect of x1 on x3 {hi.x3 - lo.x3:+.3f}, "
          f"on x4 {hi.x4 - lo.x4:+.3f}")
