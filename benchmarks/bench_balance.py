"""The parent balance's power (``CCGMGenerator(parent_balance=...)``), measured where rare
parent values decide the answer, with the same seeds for every power:

* ``eyes``: DoWhy's dry-eyes notebook (its generator, ``bench_notebooks.eyes_patients``):
  10,000 patients, a condition of 1% that reverses the treatments' effects; counterfactual
  RMSE under the treatments not taken, for patients drawn like the data and for
  rare-condition patients (DoWhy's auto-assignment on the same data: 0.0012-0.0021 and
  0.008-0.014, ``results/notebooks.json``);
* ``lalonde``: LaLonde's NSW-CPS sample (185 treated among 16,177, real data): the
  generated naive difference against the data's and the treated units' counterfactual ATT
  against the experiment's (``bench_real.load_lalonde``);
* ``obs``: the simulated observational study (2% treated, a binary and a categorical
  confounder, zero-inflated outcome; ``bench_observational``): de-biased ATE and ATT
  errors against the truth and the treated share;
* ``mindset``: the Learning Mindsets data (real; categorical school and student
  covariates): the de-biased ATE against the AIPW interval (``bench_mindset_seeds``).

Power 0 is the plain likelihood (the fit before the balance existed); the default is 0.5.

Run::

    PYTHONPATH=. python benchmarks/bench_balance.py [--powers 0,0.25,0.5,1] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from _common import set_torch_threads, star_graph
from _metrics import write_json


def run_eyes(power: float, seeds, args) -> dict:
    import networkx as nx
    from bench_notebooks import EYES_SHIFT, eyes_patients
    from dowhy_ccgm import CCGMGenerator
    out = {"rare": [], "patients": [], "fit_s": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        data, _ = eyes_patients(rng, 10_000)
        patients, n_p = eyes_patients(rng, 1000)
        rare, n_r = eyes_patients(rng, 300, condition=1)
        t = time.perf_counter()
        gen = CCGMGenerator(nx.DiGraph([("Treatment", "Vision"), ("Condition", "Vision")]),
                            column_types={"Treatment": "categorical", "Condition": "binary"},
                            parent_balance=power, random_state=seed,
                            progress_bar=False).fit(data)
        out["fit_s"].append(time.perf_counter() - t)
        for key, frame, noise in (("patients", patients, n_p), ("rare", rare, n_r)):
            sq = []
            for tr in range(3):
                cf = gen.counterfactual(frame, {"Treatment": tr})["Vision"].to_numpy(float)
                true = noise + EYES_SHIFT[tr, frame["Condition"].to_numpy()]
                sq.append(((cf - true) ** 2)[frame["Treatment"].to_numpy() != tr])
            out[key].append(float(np.sqrt(np.concatenate(sq).mean())))
    return {k: float(np.mean(v)) for k, v in out.items()} | {"by_seed": out}


def run_lalonde(power: float, seeds, args) -> dict:
    from bench_real import LALONDE_COVARIATES, load_lalonde
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.effects import effect_on_treated
    data, exp_att, exp_se = load_lalonde()
    g = star_graph(LALONDE_COVARIATES, "treat", "re78")
    naive_data = naive_ate(data, "treat", "re78")
    rows = []
    for seed in seeds:
        t = time.perf_counter()
        gen = CCGMGenerator(g, parent_balance=power, random_state=seed,
                            progress_bar=False).fit(data)
        fit_s = time.perf_counter() - t
        s = gen.sample(args.population, random_state=seed + 1)
        rows.append({"naive": naive_ate(s, "treat", "re78"), "fit_s": fit_s,
                     "att": effect_on_treated(gen, data, "treat", "re78", random_state=seed),
                     "treated_share": float(s.treat.mean())})
    return {"naive_rel_error": float(np.mean([abs(r["naive"] / naive_data - 1) for r in rows])),
            "att_abs_error": float(np.mean([abs(r["att"] - exp_att) for r in rows])),
            "experiment_se": exp_se, "fit_s": float(np.mean([r["fit_s"] for r in rows])),
            "by_seed": rows}


def run_obs(power: float, seeds, args) -> dict:
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.datasets import OBS_CONFOUNDERS, simulate_observational
    from bench_observational import ccgm_row
    rows = []
    for seed in seeds:
        data, truth, _ = simulate_observational(args.obs_n, treated_share=0.02,
                                                random_state=seed, return_effects=True)
        t = time.perf_counter()
        gen = CCGMGenerator(star_graph(OBS_CONFOUNDERS, "D", "Y"),
                            column_types={"x6": "binary", "x7": "categorical", "D": "binary"},
                            parent_balance=power, random_state=seed,
                            progress_bar=False).fit(data)
        fit_s = time.perf_counter() - t
        r = ccgm_row(gen, data, args.population, seed)
        rows.append({"ate_error": abs(r["debiased_ate"] - truth["ate"]),
                     "att_error": abs(r["att"] - truth["att"]),
                     "share_error": abs(r["treated_share"][0] - r["treated_share"][1]),
                     "fit_s": fit_s})
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"by_seed": rows}


#: the real-data AIPW 95% interval of the mindset ATE (bench_mindset_seeds)
MINDSET_AIPW = (0.378, 0.441)


def run_mindset(power: float, seeds, args) -> dict:
    from dowhy_ccgm.ate import naive_ate
    from dowhy_ccgm.datasets import load_mindset
    from dowhy_ccgm.experiments import mindset as M
    data = load_mindset()
    vals = []
    for seed in seeds:
        gen = M.fit_improved_model(data, random_state=seed, progress_bar=False,
                                   parent_balance=power)
        fair = M.debias_treatment(gen, "marginal", random_state=seed)
        vals.append(naive_ate(fair.sample(args.population, random_state=seed + 10), M.D, M.Y))
    return {"debiased": float(np.mean(vals)), "by_seed": vals,
            "inside_aipw_interval": sum(MINDSET_AIPW[0] <= v <= MINDSET_AIPW[1]
                                        for v in vals)}


PARTS = {"eyes": run_eyes, "lalonde": run_lalonde, "obs": run_obs, "mindset": run_mindset}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--powers", default="0,0.25,0.5,1")
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--seeds", default="0,1,2", help="data and model seeds of every part")
    p.add_argument("--lalonde-seeds", default="0,1")
    p.add_argument("--population", type=int, default=200_000)
    p.add_argument("--obs-n", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    set_torch_threads(args.threads)
    warnings.filterwarnings("ignore")
    powers = [float(x) for x in args.powers.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    out = {"args": vars(args), "parts": {}}
    for part in args.parts.split(","):
        out["parts"][part] = {}
        for power in powers:
            s = [int(x) for x in args.lalonde_seeds.split(",")] if part == "lalonde" else seeds
            res = PARTS[part](power, s, args)
            out["parts"][part][str(power)] = res
            print(f"{part} power {power}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in res.items() if isinstance(v, (int, float))),
                file=sys.stderr)
    out["wall_s"] = time.perf_counter() - t0
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
