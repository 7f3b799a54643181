"""Benchmark: CCGM mechanisms vs DoWhy's auto-assigned mechanisms in ``dowhy.gcm``.

The nonlinear triangle SCM x1 -> x2 -> x3, x1 -> x3::

    x1 ~ N(0, 1)
    x2 = 2 x1^2 + u2
    x3 = 20 / (1 + exp(-x2^2 + x1)) + u3,      u2, u3 ~ N(0, 1)

Both models are ``gcm.InvertibleStructuralCausalModel`` on the true graph, with an
``EmpiricalDistribution`` root; the non-root mechanisms are CCGM
(``assign_ccgm_mechanisms`` with its defaults) or DoWhy's
(``gcm.auto.assign_causal_mechanisms(quality=GOOD)``). Reported, lower is better:

* fit time (assignment + ``gcm.fit``), seconds;
* observational MMD^2 of ``gcm.draw_samples`` against fresh samples of the true SCM;
* interventional MMD^2 of ``gcm.interventional_samples`` under do(x2 := v) against the
  true interventional distribution, for a few values v (on (x1, x3); x2 is the constant v);
* counterfactual RMSE of x3 under do(x2 := x2 + 1) for held-out units whose noise is known
  (``gcm.counterfactual_samples`` with the units' observed values).

MMD^2 is the unbiased estimate with an RBF kernel on columns scaled by the true sample's
standard deviation, bandwidth by the median heuristic on the pooled sample; the table also
shows the MMD^2 between two independent samples of the truth (the estimator's noise level).

Run::

    python benchmarks/bench_gcm_triangle.py            # n = 5000
    python benchmarks/bench_gcm_triangle.py --quick    # a small smoke run
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
import pandas as pd
from _common import fit_dowhy_good, fit_gcm, set_torch_threads
from _metrics import mmd2, write_json
from dowhy import gcm
from dowhy.gcm.util.general import set_random_seed

from dowhy_ccgm.gcm import assign_ccgm_mechanisms

NODES = ["x1", "x2", "x3"]
EDGES = [("x1", "x2"), ("x2", "x3"), ("x1", "x3")]


# ---------------------------------------------------------------------------- the truth
def f3(x1, x2):
    return 20.0 / (1.0 + np.exp(-(x2 ** 2) + x1))


def simulate(n: int, rng: np.random.Generator, do_x2=None) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    u2 = rng.normal(size=n)
    u3 = rng.normal(size=n)
    x2 = 2 * x1 ** 2 + u2 if do_x2 is None else np.full(n, float(do_x2))
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": f3(x1, x2) + u3})


def true_counterfactual(units: pd.DataFrame, shift: float) -> pd.DataFrame:
    u3 = units["x3"] - f3(units["x1"], units["x2"])
    x2 = units["x2"] + shift
    return pd.DataFrame({"x1": units["x1"], "x2": x2, "x3": f3(units["x1"], x2) + u3})


# ---------------------------------------------------------------------------- methods
def fit_ccgm(data: pd.DataFrame, epochs=None, seed=None):
    """CCGM mechanisms (``epochs``: theirs, else their default); ``(scm, seconds)``."""
    params = {} if epochs is None else {"epochs": epochs}
    return fit_gcm(EDGES, data, lambda scm, d: assign_ccgm_mechanisms(scm, d, **params),
                   seed=seed)


def fit_dowhy(data: pd.DataFrame, epochs=None, seed=None):
    """DoWhy's GOOD auto-assignment (``epochs`` unused); ``(scm, seconds)``."""
    return fit_dowhy_good(EDGES, data, seed)


def evaluate(scm, seed: int, n_eval: int, reps: int, do_values, units: pd.DataFrame,
             shift: float, scale: np.ndarray) -> tuple[dict, dict]:
    """Metrics of one fitted model: MMD^2 averaged over ``reps`` independent pairs of
    evaluation samples (model and truth), with their standard errors."""
    draws = {}
    rng = np.random.default_rng(seed + 100)
    for r in range(reps):
        base = seed + 1000 * (r + 1)
        set_random_seed(base + 1)
        truth = simulate(n_eval, np.random.default_rng(base + 2))
        draws.setdefault("obs MMD^2", []).append(mmd2(
            gcm.draw_samples(scm, n_eval)[NODES].to_numpy(), truth[NODES].to_numpy(), scale, rng))
        for v in do_values:
            set_random_seed(base + 3)
            model = gcm.interventional_samples(scm, {"x2": lambda x, v=v: v},
                                               num_samples_to_draw=n_eval)
            true_do = simulate(n_eval, np.random.default_rng(base + 4), do_x2=v)
            cols = ["x1", "x3"]
            draws.setdefault(f"do(x2={v:g}) MMD^2", []).append(mmd2(
                model[cols].to_numpy(), true_do[cols].to_numpy(), scale[[0, 2]], rng))
    out = {k: float(np.mean(v)) for k, v in draws.items()}
    se = {k: float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
          for k, v in draws.items()}
    set_random_seed(seed + 5)
    cf = gcm.counterfactual_samples(scm, {"x2": lambda x: x + shift}, observed_data=units)
    true_cf = true_counterfactual(units, shift)
    out[f"CF RMSE x3, do(x2:=x2+{shift:g})"] = float(
        np.sqrt(np.mean((cf["x3"].to_numpy() - true_cf["x3"].to_numpy()) ** 2)))
    return out, se


def noise_floor(seed: int, n_eval: int, reps: int, do_values, scale: np.ndarray) -> dict:
    """MMD^2 between two independent samples of the truth (what a perfect model scores)."""
    rng = np.random.default_rng(seed + 100)
    draws = {}
    for r in range(reps):
        base = seed + 1000 * (r + 1)
        a = simulate(n_eval, np.random.default_rng(base + 7))[NODES].to_numpy()
        b = simulate(n_eval, np.random.default_rng(base + 2))[NODES].to_numpy()
        draws.setdefault("obs MMD^2", []).append(mmd2(a, b, scale, rng))
        for v in do_values:
            a = simulate(n_eval, np.random.default_rng(base + 8), do_x2=v)[["x1", "x3"]]
            b = simulate(n_eval, np.random.default_rng(base + 4), do_x2=v)[["x1", "x3"]]
            draws.setdefault(f"do(x2={v:g}) MMD^2", []).append(
                mmd2(a.to_numpy(), b.to_numpy(), scale[[0, 2]], rng))
    return {k: float(np.mean(v)) for k, v in draws.items()}


# ---------------------------------------------------------------------------- main
def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="training rows (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=5,
                        help="evaluation repetitions averaged for each MMD^2 (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (checks the script, not a measurement): n=800, 20 CCGM "
                             "epochs, 500 evaluation samples, 2 reps")
    parser.add_argument("--json", metavar="PATH", help="write the table as JSON")
    args = parser.parse_args(argv)
    set_torch_threads(1)
    warnings.filterwarnings("ignore")
    gcm.config.disable_progress_bars()
    n = 800 if args.quick else args.n
    n_eval = 500 if args.quick else 2000
    reps = 2 if args.quick else args.reps
    epochs = 20 if args.quick else None
    do_values = (0.0, 1.0)
    shift = 1.0
    data = simulate(n, np.random.default_rng(args.seed))
    units = simulate(500 if args.quick else 1000, np.random.default_rng(args.seed + 9))
    scale = data[NODES].std().to_numpy()

    rows, errors = {}, {}
    for name, fit in (("CCGM", fit_ccgm), ("DoWhy GOOD", fit_dowhy)):
        scm, fit_time = fit(data, epochs, seed=args.seed)
        res, se = evaluate(scm, args.seed, n_eval, reps, do_values, units, shift, scale)
        res["fit time (s)"] = fit_time
        rows[name], errors[name] = res, se
        print(f"{name}: fitted in {fit_time:.1f} s", file=sys.stderr)
    table = pd.DataFrame(rows)
    table["CCGM / DoWhy"] = table["CCGM"] / table["DoWhy GOOD"]
    table["truth vs truth"] = pd.Series(noise_floor(args.seed, n_eval, reps, do_values, scale))
    print(f"\nTriangle SCM, n={n}, seed={args.seed}; lower is better. MMD^2: unbiased "
          f"estimate (a perfect model scores about the 'truth vs truth' value, it can be "
          f"negative), mean of {reps} evaluations of {n_eval} samples.\n")
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 120):
        print(table)
        print("\nstandard errors of the MMD^2 means:")
        se = pd.DataFrame(errors).dropna(how="all")
        print(se)
    # a ratio of two MMD^2 that are both within noise of a perfect model means nothing
    at_floor = [m for m in se.index
                if all(abs(table.loc[m, c] - table.loc[m, "truth vs truth"]) <= 2 * se.loc[m, c]
                       for c in ("CCGM", "DoWhy GOOD"))]
    if at_floor:
        print(f"\nat the noise level (both within 2 s.e. of truth vs truth; the ratio is "
              f"meaningless there): {', '.join(at_floor)}")
    write_json(args.json, {"n": n, "seed": args.seed, "table": table.to_dict(),
                           "at_noise_floor": at_floor})
    return table


if __name__ == "__main__":
    main()
