"""Simple mechanisms chosen by validation (``mechanisms="auto"``, the default) against the
network on every node (``mechanisms="network"``, the model before the choice existed), with
DoWhy's GOOD auto-assignment in the same run.

Two simulated studies that copy the mindset data's quirks, each with its true
counterfactuals (the noise of every unit is known):

* ``ordinal``: a school-level score SM, an ordinal success expectation SE in 1..7 with the
  real data's marginal (a thresholded latent), a confounded binary treatment D (~30%
  treated), and an outcome *linear* in its parents: ``Y = 0.3 (SE - 4.8) - 0.08 SM + 0.4 D
  + 0.85 eps``. The issue's probe: the outcome's counterfactual under the other treatment.
* ``convex``: the same with the mindset simulation's convex outcome (``0.5 softplus(1.5 (SE
  - 4.8)) - 0.08 SM - 0.03 SM^2``), additive but not linear.

Reported per seed and as means: the outcome's counterfactual RMSE (in the outcome's sd)
of every unit's ``do(D = 1 - D)``, the ATE error (interventional means, 200k draws), the
fit time, and which mechanism ``"auto"`` chose for Y (DoWhy's: its model class).

And one real data set, ``adult`` (``--adult-seeds``; UCI Adult, ``ccgm fairness``'s graph:
binary and categorical nodes beside a 41-level country parent): fitted on a random 80% of
the rows with ``"network"``, with ``"auto"`` (the default: a discrete node's network
blended with a logistic regression where held-out rows prefer it) and with ``"auto"``
plus every binary and categorical node named ``"linear"`` (a multinomial logistic
regression), each node's mean held-out NLL (the model check's
likelihood table, ``gen.check(held_out).likelihood``, beside its cross-fitted linear or
logistic baseline), the check's flags, the held-out ``score``, the fit time, and the
utility of its synthetic data: the AUROC on the held-out rows of ``ccgm fairness``'s
downstream classifier (gradient boosting) trained on as many generated rows as the
training rows, against the same classifier trained on the training rows.

    PYTHONPATH=. python benchmarks/bench_mechanisms.py [--seeds 0,1,2] [--n 10000]
        [--studies ordinal,convex,adult] [--adult-seeds 0,1]
        [--json benchmarks/results/mechanisms.json]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from _common import fit_dowhy_good, pin_threads
from _metrics import write_json


def simulate(n: int, seed: int, outcome: str):
    """``(data, truth)``: the study's rows, and the noise-level truth (``y_flip`` every
    unit's outcome under the other treatment, ``ate``)."""
    from scipy.stats import norm
    from dowhy_ccgm.datasets import load_mindset
    rng = np.random.default_rng(seed)
    se_real = load_mindset()["success_expect"].to_numpy()
    cum = np.cumsum([np.mean(se_real == k) for k in range(1, 7)])
    cuts = norm.ppf(cum)
    sm = rng.normal(size=n)
    lat = -0.06 * sm + np.sqrt(1 - 0.06 ** 2) * rng.normal(size=n)
    se = 1 + (lat[:, None] > cuts[None, :]).sum(1)
    e = 1 / (1 + np.exp(-(-0.95 + 0.12 * (se - 5) + 0.10 * (se >= 6) - 0.20 * np.tanh(sm))))
    d = (rng.random(n) < e).astype(np.int64)
    eps = rng.normal(size=n)
    if outcome == "ordinal":
        base = 0.3 * (se - 4.8) - 0.08 * sm
    else:
        base = 0.5 * np.logaddexp(0.0, 1.5 * (se - 4.8)) - 0.08 * sm - 0.03 * sm ** 2
    y = base + 0.4 * d + 0.85 * eps
    df = pd.DataFrame({"school_mindset": sm, "success_expect": se.astype(np.int64),
                       "intervention": d, "achievement_score": y})
    return df, {"y_flip": y + 0.4 * (1 - 2 * d), "ate": 0.4}


GRAPH = [("school_mindset", "success_expect"), ("school_mindset", "intervention"),
         ("success_expect", "intervention"), ("school_mindset", "achievement_score"),
         ("success_expect", "achievement_score"), ("intervention", "achievement_score")]


def ccgm_metrics(df, truth, seed, mode):
    import networkx as nx
    from dowhy_ccgm import CCGMGenerator
    t = time.perf_counter()
    gen = CCGMGenerator(nx.DiGraph(GRAPH), random_state=seed, progress_bar=False,
                        mechanisms=mode).fit(df)
    fit_s = time.perf_counter() - t
    cf = gen.counterfactual(df, {"intervention": 1 - df["intervention"]})
    arms = [gen.intervene({"intervention": a}, n_samples=200_000,
                          random_state=seed)["achievement_score"].mean() for a in (1, 0)]
    sd = float(df["achievement_score"].std())
    rmse = float(np.sqrt(np.mean((cf["achievement_score"].to_numpy()
                                  - truth["y_flip"]) ** 2)) / sd)
    return {"cf_rmse_sd": rmse, "ate_error": float(arms[0] - arms[1] - truth["ate"]),
            "fit_s": fit_s, "y_kind": gen.mechanisms_["achievement_score"]}


def dowhy_metrics(df, truth, seed):
    from dowhy import gcm
    scm, fit_s = fit_dowhy_good(GRAPH, df, seed)
    cf = gcm.counterfactual_samples(
        scm, {"intervention": lambda v: 1 - v}, observed_data=df)
    arms = [gcm.interventional_samples(scm, {"intervention": lambda v, a=a: np.full_like(v, a)},
                                       num_samples_to_draw=200_000)["achievement_score"].mean()
            for a in (1, 0)]
    sd = float(df["achievement_score"].std())
    rmse = float(np.sqrt(np.mean((cf["achievement_score"].to_numpy()
                                  - truth["y_flip"]) ** 2)) / sd)
    return {"cf_rmse_sd": rmse, "ate_error": float(arms[0] - arms[1] - truth["ate"]),
            "fit_s": fit_s,
            "mechanism": _model_name(scm.causal_mechanism("achievement_score"))}


def adult_metrics(seed: int) -> dict:
    """Adult fitted on a random 80% with ``"network"``, ``"auto"`` and ``"auto"`` with
    every discrete node logistic: per node the held-out NLL of each and of the check's
    baseline; the check's flags; score; fit time."""
    from sklearn.metrics import roc_auc_score
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.datasets import adult_graph, load_adult
    from dowhy_ccgm.experiments.fairness import make_classifier
    df = load_adult()
    features = [c for c in df.columns if c != "income"]
    levels = {c: sorted(df[c].unique()) for c in features
              if not pd.api.types.is_numeric_dtype(df[c])}

    def auroc(frame):
        clf = make_classifier(features, levels, "hgb", random_state=seed)
        clf.fit(frame[features], frame["income"].astype(int))
        return float(roc_auc_score(held["income"].astype(int),
                                   clf.predict_proba(held[features])[:, 1]))
    idx = np.random.default_rng(seed).permutation(len(df))
    cut = int(0.8 * len(df))
    train, held = df.iloc[idx[:cut]], df.iloc[idx[cut:]]
    out = {"seed": seed}
    discrete = None
    out["real_auroc"] = auroc(train)
    for mode in ("network", "auto", "logistic"):
        t = time.perf_counter()
        gen = CCGMGenerator(adult_graph(), random_state=seed, progress_bar=False,
                            mechanisms={d: "linear" for d in discrete}
                            if mode == "logistic" else mode).fit(train)
        fit_s = time.perf_counter() - t
        synthetic = gen.sample(len(train), random_state=seed + 1)
        rep = gen.check(held, random_state=seed)
        lik = rep.likelihood.set_index("node")
        out[mode] = {"fit_s": fit_s, "score": float(gen.score(held)),
                     "auroc": auroc(synthetic),
                     "n_flags": len(rep.flags), "mechanisms": gen.mechanisms_,
                     "atom_mechanisms": gen.atom_mechanisms_,
                     "nll": lik["model_nll"].to_dict(),
                     # (every continuous column's KS distance, generated against held
                     # out; a column with point masses: of its values off them)
                     "column_ks": {r.column: float(r.distance)
                                   for r in rep.columns.itertuples()
                                   if r.check == "distribution (KS)"},
                     "baseline_nll": lik["baseline_nll"].to_dict(),
                     "likelihood_flags": [k for k, v in lik["flag"].items() if v]}
        if discrete is None:               # (the binary and categorical endogenous nodes)
            net = gen.model_.net
            discrete = [gen.model_.nodes[i] for i in net.disc
                        if not net.exogenous[i] and i not in net.wide]
    return out


def _model_name(mechanism) -> str:
    """DoWhy's chosen model: the mechanism's class and its regressor's (a pipeline's steps)."""
    model = getattr(mechanism, "prediction_model", None)
    inner = getattr(model, "sklearn_model", model)
    steps = getattr(inner, "steps", None)
    name = "+".join(type(s).__name__ for _, s in steps) if steps else type(inner).__name__
    return f"{type(mechanism).__name__}({name})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--studies", default="ordinal,convex,adult")
    p.add_argument("--adult-seeds", default="0,1")
    p.add_argument("--json", default=None)
    p.add_argument("--update", action="store_true",
                   help="keep the studies of the --json file that this run does not redo")
    args = p.parse_args(argv)
    pin_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = {"n": args.n, "seeds": seeds}
    if args.update and args.json:
        import json
        with open(args.json) as f:
            out = {**json.load(f), **out}
    for study in args.studies.split(","):
        if study == "adult":
            rows = [adult_metrics(int(s)) for s in args.adult_seeds.split(",")]
            for r in rows:
                print(f"adult seed {r['seed']}: " + "; ".join(
                    f"{m} fit {r[m]['fit_s']:.1f} s, held-out score {r[m]['score']:.4f}, "
                    f"AUROC {r[m]['auroc']:.4f} (real {r['real_auroc']:.4f}), "
                    f"{r[m]['n_flags']} flags, likelihood flags {r[m]['likelihood_flags']}"
                    for m in ("network", "auto", "logistic")), file=sys.stderr)
            out["adult"] = {"rows": rows}
            continue
        rows = []
        for seed in seeds:
            df, truth = simulate(args.n, seed, study)
            row = {"seed": seed, "network": ccgm_metrics(df, truth, seed, "network"),
                   "auto": ccgm_metrics(df, truth, seed, "auto"),
                   "dowhy": dowhy_metrics(df, truth, seed)}
            rows.append(row)
            print(f"{study} seed {seed}: " + "; ".join(
                f"{k} CF {v['cf_rmse_sd']:.4f} ATE err {v['ate_error']:+.4f}"
                for k, v in row.items() if isinstance(v, dict))
                + f"; auto chose {row['auto']['y_kind']} for Y", file=sys.stderr)
        summary = {k: {m: float(np.mean([abs(r[k][m]) for r in rows]))
                       for m in ("cf_rmse_sd", "ate_error", "fit_s")}
                   for k in ("network", "auto", "dowhy")}
        summary["auto"]["y_kinds"] = [r["auto"]["y_kind"] for r in rows]
        out[study] = {"rows": rows, "summary": summary}
        print(f"{study} means: " + "; ".join(
            f"{k} CF {v['cf_rmse_sd']:.4f} |ATE err| {v['ate_error']:.4f} fit {v['fit_s']:.1f} s"
            for k, v in summary.items()), file=sys.stderr)
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
