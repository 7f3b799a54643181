"""Roots in ``dowhy.gcm``: drawn jointly (``JointEmpiricalDistribution``, the default of
``assign_ccgm_mechanisms``) or independently (DoWhy's ``EmpiricalDistribution``).

On the simulated observational study of ``bench_observational.py``
(:func:`dowhy_ccgm.datasets.simulate_observational`: eight correlated confounders, 2%
treated, a zero-inflated outcome, known ATE), for each seed one
``gcm.InvertibleStructuralCausalModel`` on the graph "every confounder into D and into Y,
D -> Y" is fitted with each mechanism family on the non-roots:

* ``ccgm``: :func:`dowhy_ccgm.gcm.assign_ccgm_mechanisms` (defaults);
* ``dowhy``: ``gcm.auto.assign_causal_mechanisms(quality=GOOD)``;

and then sampled with both root models (the non-root mechanisms are fitted once; only the
roots are swapped). Reported, from ``--draws`` rows of ``gcm.draw_samples`` and of
``gcm.average_causal_effect``:

* the confounders' correlation-matrix error (largest absolute difference from the data's;
  the project's target is at most 0.05);
* the generated treated share and the naive difference of means ``E[Y|D=1] - E[Y|D=0]``
  against the data's (how well the model reproduces the observed confounding);
* the interventional ATE ``E[Y|do(D=1)] - E[Y|do(D=0)]`` against the truth.

Run::

    PYTHONPATH=. python benchmarks/bench_gcm_roots.py [--seeds 0,1,2] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from _common import assign_good, fit_gcm, set_thread_env, set_torch_threads, star_graph
from _metrics import corr_error, write_json

set_thread_env(1, overwrite=False)


def measure(scm, data, draws: int, seed: int) -> dict:
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS
    set_random_seed(seed)
    s = gcm.draw_samples(scm, draws)
    ate = gcm.average_causal_effect(scm, "Y", {"D": lambda d: 1}, {"D": lambda d: 0},
                                    num_samples_to_draw=draws)
    return {"corr_error": corr_error(s, data, OBS_CONFOUNDERS),
            "treated_share": float(s["D"].mean()), "naive": naive_ate(s, "D", "Y"),
            "ate": float(ate)}


def run_seed(seed: int, n: int, draws: int) -> list:
    from dowhy import gcm
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS, simulate_observational
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms, joint_empirical_roots
    set_torch_threads(1)
    data, truth = simulate_observational(n, random_state=seed)
    graph = star_graph(OBS_CONFOUNDERS, "D", "Y")
    rows = []
    for family in ("ccgm", "dowhy"):
        # (a graph of its own: a causal model keeps its mechanisms on the graph's nodes)
        assign = (assign_good if family == "dowhy" else
                  lambda scm, d: assign_ccgm_mechanisms(scm, d, random_state=seed))
        scm, fit_s = fit_gcm(graph, data, assign)
        for roots in ("joint", "independent"):
            if roots == "joint":
                models = joint_empirical_roots(OBS_CONFOUNDERS)
            else:
                models = {c: gcm.EmpiricalDistribution() for c in OBS_CONFOUNDERS}
            for c, m in models.items():
                m.fit(data[c].to_numpy())
                scm.set_causal_mechanism(c, m)
            row = {"seed": seed, "family": family, "roots": roots, "fit_s": fit_s,
                   "data_naive": naive_ate(data, "D", "Y"),
                   "data_treated_share": float(data["D"].mean()),
                   "true_ate": truth["ate"], **measure(scm, data, draws, seed + 1)}
            rows.append(row)
            print(f"seed {seed} {family:<6}{roots:<12} corr error {row['corr_error']:.3f}; "
                  f"treated {row['treated_share']:.4f} (data {row['data_treated_share']:.4f}); "
                  f"naive {row['naive']:.3f} (data {row['data_naive']:.3f}); ATE "
                  f"{row['ate']:.3f} (true {truth['ate']:.3f})", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--draws", type=int, default=100_000)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    from dowhy import gcm
    gcm.config.disable_progress_bars()
    rows = [r for s in args.seeds.split(",") for r in run_seed(int(s), args.n, args.draws)]
    summary = {}
    print(f"\n{'mechanisms':<12}{'roots':<13}{'corr err':>9}{'|naive - data|':>16}"
          f"{'|treated - data|':>18}{'|ATE - true|':>14}")
    for family in ("ccgm", "dowhy"):
        for roots in ("joint", "independent"):
            sel = [r for r in rows if r["family"] == family and r["roots"] == roots]
            s = {"corr_error_max": max(r["corr_error"] for r in sel),
                 "naive_abs_error": float(np.mean([abs(r["naive"] - r["data_naive"])
                                                   for r in sel])),
                 "treated_abs_error": float(np.mean([abs(r["treated_share"]
                                                         - r["data_treated_share"])
                                                     for r in sel])),
                 "ate_abs_error": float(np.mean([abs(r["ate"] - r["true_ate"]) for r in sel])),
                 "fit_s": float(np.mean([r["fit_s"] for r in sel]))}
            summary[f"{family}/{roots}"] = s
            print(f"{family:<12}{roots:<13}{s['corr_error_max']:>9.3f}"
                  f"{s['naive_abs_error']:>16.3f}{s['treated_abs_error']:>18.4f}"
                  f"{s['ate_abs_error']:>14.3f}")
    ok = summary["ccgm/joint"]["corr_error_max"] <= 0.05
    print(f"[{'PASS' if ok else 'MISS'}] joint roots: correlation-matrix error at most 0.05 "
          f"(worst seed {summary['ccgm/joint']['corr_error_max']:.3f}; independent roots "
          f"{summary['ccgm/independent']['corr_error_max']:.3f})")
    write_json(args.json, {"args": vars(args), "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
