"""Render ``benchmarks/RESULTS.md`` from the JSON the benchmark scripts wrote into
``benchmarks/results/`` (numbers are never typed by hand: rerun a benchmark with ``--json
benchmarks/results/NAME.json``, then this script).

Files read (each section is skipped when its file is absent; ``*_before.json`` are the same
benchmark run on the code before the fast fit, commit 27b3d86):

* ``core.json`` / ``core_before.json``: ``bench_core.py``;
* ``core_threads2.json``: ``bench_core.py --threads 2 --dowhy-jobs 2``;
* ``scale.json``: ``bench_scale.py``; ``scale_big.json``: ``bench_scale.py --nodes 100,200``;
* ``gcm_calls.json`` / ``gcm_calls_before.json``: ``bench_gcm_calls.py``;
* ``triangle.json`` / ``triangle_before.json``: ``bench_gcm_triangle.py``;
* ``mindset_seeds.json`` / ``mindset_seeds_before.json``: ``bench_mindset_seeds.py``;
* ``mechanisms.json`` / ``mechanisms_adult_before.json``: ``bench_mechanisms.py`` (the
  latter its Adult study before the latest change of the mechanisms, which its
  ``"change"`` names);
* ``mindset_run.json`` / ``mindset_run_before.json``: ``{"wall_s": ...}`` of a full
  ``ccgm mindset`` from a fresh process;
* ``root_sampling.json``: ``bench_root_sampling.py``;
* ``bootstrap.json``: ``bench_bootstrap.py`` (also rewrites the table of
  docs/bootstrap.md);
* ``parquet.json``: ``bench_parquet.py``;
* ``dowhy_intervals.json``: ``bench_dowhy_intervals.py`` (also rewrites its table in
  docs/bootstrap.md);
* ``real.json``: ``bench_real.py`` (also rewrites the tables of docs/real-data.md);
* ``notebooks.json``: ``bench_notebooks.py`` (also rewrites the tables of
  docs/dowhy-examples.md);
* ``fairness.json``: ``ccgm fairness --json`` (Adult; also rewrites its table in
  docs/fairness.md);
* ``fairness_truth.json``: ``bench_fairness.py`` (also rewrites its tables in
  docs/fairness.md);
* ``balance.json``: ``bench_balance.py`` (also rewrites its table in docs/real-data.md);
* ``mechanisms.json``: ``bench_mechanisms.py`` (also rewrites its table in
  docs/real-data.md);
* ``structure.json``: ``bench_structure.py`` (also rewrites its table in
  docs/structure.md).

Run::

    python benchmarks/report.py            # writes benchmarks/RESULTS.md
    python benchmarks/report.py --mindset-json mindset.json   # and docs/mindset.md's table
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def _load(name):
    path = os.path.join(RESULTS, name)
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def _f(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1e5:
        return f"{v / 1e6:.2f}M"
    return f"{v:.{digits}f}"


def core_section(out):
    new, old = _load("core.json"), _load("core_before.json")
    if not new:
        return
    pick = [("fit time, warm [s]", 2), ("fit time, 1st in fresh process [s]", 2),
            ("cold end-to-end: start+import+fit+sample [s]", 2),
            ("sampling 1,000,000 rows, warm [rows/s]", 0),
            ("fit: peak RSS - RSS before fit [MB]", 0), ("data frame [MB]", 1),
            ("max |err| of the 3 queries", 4)]

    def rows(d):
        return {(r["n"], r["metric"]): r for r in d["table"]} if d else {}
    rn, ro = rows(new), rows(old)
    out.append("## Default fit, 4-node nonlinear SCM (`bench_core.py`)\n")
    out.append(f"Code {new.get('git')} (before: {old.get('git') if old else '-'}); 1 thread "
               "each; DoWhy = GOOD auto-assignment + `gcm.fit`, measured in the same run.\n")
    out.append("| n | metric | CCGM before | CCGM now | DoWhy | now / DoWhy |")
    out.append("|---|---|---|---|---|---|")
    sizes = sorted({n for n, _ in rn})
    for n in sizes:
        for metric, digits in pick:
            r = rn.get((n, metric))
            if r is None:
                continue
            b = ro.get((n, metric), {}).get("ccgm")
            ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
            label = metric.replace("|", "\\|")
            out.append(f"| {n:,} | {label} | {_f(b, digits)} | {_f(r['ccgm'], digits)} | "
                       f"{_f(r['dowhy'], digits)} | {ratio} |")
    out.append("")
    for t in new.get("targets", []):
        flag = {True: "PASS", False: "MISS", None: "n/a"}[t["pass"]]
        out.append(f"- [{flag}] {t['target']}: {t['detail']}")
    out.append("")


def core_threads_section(out):
    """``core_threads2.json``: bench_core at 2 threads each (``--threads 2 --dowhy-jobs
    2``), where CCGM's automatic thread choice may use both cores."""
    d = _load("core_threads2.json")
    if not d:
        return
    pick = [("fit time, warm [s]", 2), ("fit time, 1st in fresh process [s]", 2),
            ("cold end-to-end: start+import+fit+sample [s]", 2),
            ("max |err| of the 3 queries", 4)]
    rn = {(r["n"], r["metric"]): r for r in d["table"]}
    out.append("## Default fit at two threads each (`bench_core.py --threads 2`)\n")
    out.append(f"Code {d.get('git')}; 2 threads each (CCGM chooses 1 or 2 per step by its "
               "size, DoWhy's models use both); load average at the end "
               f"{d.get('load_avg_end')}.\n")
    out.append("| n | metric | CCGM | DoWhy | CCGM / DoWhy |")
    out.append("|---|---|---|---|---|")
    for n in sorted({n for n, _ in rn}):
        for metric, digits in pick:
            r = rn.get((n, metric))
            if r is None:
                continue
            ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
            label = metric.replace("|", "\\|")
            out.append(f"| {n:,} | {label} | {_f(r['ccgm'], digits)} | "
                       f"{_f(r['dowhy'], digits)} | {ratio} |")
    out.append("")


def _scale_rows(out, d):
    out.append("| nodes | edges | system | fit [s] | whole process [s] | peak RSS after fit "
               "[MB] | do-effect error [sd] | counterfactual RMSE [sd] |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in d:
        if "error" in r:
            out.append(f"| {r['nodes']} | | {r['system']} | error: {r['error'][:60]} | | | | |")
            continue
        cf = "fails (no estimate_noise)" if r["cf_rmse"] is None else f"{r['cf_rmse']:.3f}"
        out.append(f"| {r['nodes']} | {r['edges']} | {r['system']} | {r['fit_s']:.1f} | "
                   f"{r['process_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['do_err']:.3f} | {cf} |")
    out.append("")


def scale_section(out):
    d = _load("scale.json")
    if d:
        out.append("## Scale in nodes, 10k rows, mixed kinds (`bench_scale.py`)\n")
        _scale_rows(out, d)
    big = _load("scale_big.json")
    if big:
        threads = sorted({r.get("threads") for r in big if r.get("threads")})
        out.append("## Big graphs, 10k rows, mixed kinds (`bench_scale.py --nodes 100,200 "
                   f"--threads {threads[0] if threads else '?'}`)\n")
        out.append(f"{threads[0] if threads else '?'} threads each (CCGM chooses per step); "
                   "the same sparse random DAG generator as above.\n")
        _scale_rows(out, big)


def calls_section(out):
    new, old = _load("gcm_calls.json"), _load("gcm_calls_before.json")
    if not new:
        return
    by = {r["system"]: r for r in new}
    before = {r["system"]: r for r in old} if old else {}
    out.append("## The DoWhy path, 4-node SCM, 10k rows (`bench_gcm_calls.py`)\n")
    out.append("| call | CCGM before | CCGM now | DoWhy | now / DoWhy |")
    out.append("|---|---|---|---|---|")
    for key, label, digits in [("fit_s", "assign + `gcm.fit` [s]", 2),
                               ("evaluate_s", "`evaluate_causal_model` [s]", 2),
                               ("arrow_strength_s", "`arrow_strength(x4, n_jobs=1)` [s]", 2),
                               ("max_do_err", "max interventional error", 4)]:
        c, d = by.get("ccgm", {}).get(key), by.get("dowhy", {}).get(key)
        b = before.get("ccgm", {}).get(key)
        ratio = f"{c / d:.2f}" if c is not None and d else "-"
        out.append(f"| {label} | {_f(b, digits)} | {_f(c, digits)} | {_f(d, digits)} | "
                   f"{ratio} |")
    out.append("")


def triangle_section(out):
    new, old = _load("triangle.json"), _load("triangle_before.json")
    if not new:
        return
    t, o = new["table"], (old or {}).get("table", {})
    out.append(f"## Triangle SCM in `dowhy.gcm`, n = {new['n']} (`bench_gcm_triangle.py`)\n")
    out.append("| metric | CCGM before | CCGM now | DoWhy GOOD | truth vs truth |")
    out.append("|---|---|---|---|---|")
    for metric in t["CCGM"]:
        b = o.get("CCGM", {}).get(metric)
        tv = t.get("truth vs truth", {}).get(metric)
        fmt = (lambda v: "-" if v is None or v != v else f"{v:.3g}")
        out.append(f"| {metric} | {fmt(b)} | {fmt(t['CCGM'][metric])} | "
                   f"{fmt(t['DoWhy GOOD'][metric])} | {fmt(tv)} |")
    if new.get("at_noise_floor"):
        out.append(f"\nAt the noise level (both models within 2 s.e. of truth vs truth): "
                   f"{', '.join(new['at_noise_floor'])}.")
    # the counterfactual RMSE over data seeds (triangle.json is seed 0)
    seeds = [(new["seed"], new, old)]
    for k in (1, 2, 3, 4):
        n_k = _load(f"triangle_seed{k}.json")
        if n_k:
            seeds.append((k, n_k, _load(f"triangle_seed{k}_before.json")))
    if len(seeds) > 1:
        key = next(m for m in t["CCGM"] if m.startswith("CF RMSE"))
        out.append(f"\n{key} by data seed:\n")
        out.append("| seed | CCGM before | CCGM now | DoWhy GOOD |")
        out.append("|---|---|---|---|")
        cols = {"before": [], "now": [], "dowhy": []}
        for k, n_k, o_k in seeds:
            b = (o_k or {}).get("table", {}).get("CCGM", {}).get(key)
            c = n_k["table"]["CCGM"][key]
            d = n_k["table"]["DoWhy GOOD"][key]
            for name, v in (("before", b), ("now", c), ("dowhy", d)):
                if v is not None:
                    cols[name].append(v)
            out.append(f"| {k} | {_f(b, 4)} | {c:.4f} | {d:.4f} |")
        mean = {k: (sum(v) / len(v) if len(v) == len(seeds) else None) for k, v in cols.items()}
        out.append(f"| mean | {_f(mean['before'], 4)} | {_f(mean['now'], 4)} | "
                   f"{_f(mean['dowhy'], 4)} |")
    out.append("")


def mindset_section(out):
    new, old = _load("mindset_seeds.json"), _load("mindset_seeds_before.json")
    if new:
        out.append("## Learning Mindsets, improved CCGM over model seeds "
                   "(`bench_mindset_seeds.py`)\n")
        out.append("Data's naive ATE 0.471; real-data AIPW 0.407 [0.378, 0.441].\n")
        out.append("| seed | fit before [s] | fit now [s] | naive before | naive now | "
                   "de-biased before | de-biased now |")
        out.append("|---|---|---|---|---|---|---|")
        ob = {r["seed"]: r for r in old} if old else {}
        for r in new:
            b = ob.get(r["seed"], {})
            out.append(f"| {r['seed']} | {_f(b.get('fit_s'), 1)} | {r['fit_s']:.1f} | "
                       f"{_f(b.get('naive'), 3)} | {r['naive']:.3f} | "
                       f"{_f(b.get('debiased'), 3)} | {r['debiased']:.3f} |")
        inside = sum(r["inside_aipw_interval"] for r in new)
        inside_b = sum(r["inside_aipw_interval"] for r in old) if old else None
        out.append(f"\nDe-biased inside the AIPW interval: now {inside} of {len(new)}"
                   + (f", before {inside_b} of {len(old)}." if old else "."))
        out.append("")
    alls = _load("mindset_all_seeds.json")
    if alls:
        out.append("All ten covariates (`bench_mindset_seeds.py --covariates all`; the "
                   "all-covariate AIPW interval of `ccgm mindset --covariates all` is "
                   "[0.357, 0.420]):\n")
        out.append("| seed | fit [s] | passes | de-biased ATE | g-formula ATE | ATT |")
        out.append("|---|---|---|---|---|---|")
        for r in alls:
            out.append(f"| {r['seed']} | {r['fit_s']:.1f} | {r['passes']:.0f} | "
                       f"{r['de-biased']:.3f} | {r['g-formula']:.3f} | {r['ATT']:.3f} |")
        out.append(f"\nDe-biased inside the all-covariate AIPW interval: "
                   f"{sum(r['inside_aipw_interval'] for r in alls)} of {len(alls)}.\n")
    run, run_b = _load("mindset_run.json"), _load("mindset_run_before.json")
    if run:
        runs = run.get("runs_s")
        out.append(f"Full `ccgm mindset` (fits, ground-truth validation, 100-resample table), "
                   f"fresh process, 2 cores: {run['wall_s']:.1f} s"
                   + (f" (median of {len(runs)} runs: "
                      + ", ".join(f"{v:.1f}" for v in runs) + " s)" if runs else "")
                   + (f" (before: {run_b['wall_s']:.1f} s)." if run_b else ".") + "\n")
        if run.get("refit_bootstrap_100_n_jobs_2_s"):
            out.append(f"With `--refit-bootstrap 100 --n-jobs 2`: "
                       f"{run['refit_bootstrap_100_n_jobs_2_s']:.0f} s"
                       + (f" (measured on {run['refit_bootstrap_code']})"
                          if run.get("refit_bootstrap_code") else "") + ".\n")


def _f3(v) -> str:
    """Three decimals for the docs' tables, blank for None, no negative zeros."""
    return "" if v is None else f"{0.0 if abs(v) < 5e-4 else v:.3f}"


def mindset_table_markdown(rows) -> list:
    """The rows of ``ccgm mindset --json`` as the markdown table of docs/mindset.md."""
    f = _f3
    out = ["| method | data | mean | sd | 2.5% | 97.5% | paper mean | paper sd | paper 2.5% "
           "| paper 97.5% |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mean = f(r["mean"])
        if r["method"] == "improved: de-bias D (marginal)":
            mean = f"**{mean}**"
        out.append(f"| {r['method']} | {r['source']} | {mean} | {f(r['sd'])} | "
                   f"{f(r['q025'])} | {f(r['q975'])} | {f(r['paper_mean'])} | "
                   f"{f(r['paper_sd'])} | {f(r['paper_q025'])} | {f(r['paper_q975'])} |")
    return out


def refit_table_markdown(rows) -> list:
    """The improved rows' refit-bootstrap intervals (``ccgm mindset --refit-bootstrap B``)
    next to their one-model intervals."""
    f = _f3
    out = ["| method | refit estimate | refit sd | refit 2.5% | refit 97.5% | one-model sd | "
           "one-model 2.5% | one-model 97.5% |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("refit_sd") is None:
            continue
        out.append(f"| {r['method']} | {f(r['refit_estimate'])} | {f(r['refit_sd'])} | "
                   f"{f(r['refit_q025'])} | {f(r['refit_q975'])} | {f(r['sd'])} | "
                   f"{f(r['q025'])} | {f(r['q975'])} |")
    return out


#: the rows of docs/pendulum.md's table (``ccgm pendulum``'s JSON holds more)
PENDULUM_METRICS = [
    "do(theta): theta set error", "do(theta): x_shadow MAE", "do(theta): w_shadow MAE",
    "do(theta): x_sun change", "do(theta): x_shadow slope",
    "cut theta->x_shadow, do(theta): x_shadow slope ratio",
    "cut theta->x_shadow, do(theta): w_shadow slope ratio",
    "do(x_sun): x_sun set error", "do(x_sun): x_shadow MAE", "do(x_sun): w_shadow MAE",
    "do(x_sun): theta change", "do(x_sun): x_shadow slope",
    "cut x_sun->x_shadow, do(x_sun): x_shadow slope ratio",
    "cut x_sun->x_shadow, do(x_sun): w_shadow slope ratio",
    "do(x_shadow): x_shadow set error", "do(x_shadow): theta change",
    "do(x_shadow): x_sun change"]


def pendulum_table_markdown(rows) -> list:
    """``ccgm pendulum``'s metrics.json as docs/pendulum.md's table (models as columns; the
    label-to-image CCGM's slope ratios after edge removal in bold)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    val = {(r["model"], r["metric"]): r["value"] for r in rows}
    out = ["| metric | " + " | ".join(models) + " |",
           "|---|" + "---:|" * len(models)]
    for metric in PENDULUM_METRICS:
        cells = []
        for m in models:
            text = _f3(val.get((m, metric)))
            if m == "ccgm_l2i" and "x_shadow slope ratio" in metric and text:
                text = f"**{text}**"
            cells.append(text)
        label = metric.replace(", do(theta)", "").replace(", do(x_sun)", "")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out


def rewrite_between(path, start, end, lines):
    """Replace the lines between the ``start`` and ``end`` marker lines of ``path``."""
    with open(path) as fh:
        text = fh.read().splitlines()
    i, j = text.index(start), text.index(end)
    text[i + 1:j] = lines
    with open(path, "w") as fh:
        fh.write("\n".join(text) + "\n")


def _table_section(name: str, title: str, lines_of, intro: str | None = None):
    """A RESULTS.md section: ``title``, ``intro`` and ``lines_of(results)`` for the results
    file ``name`` (nothing when it is absent)."""
    def section(out):
        r = _load(name)
        if not r:
            return
        out.append(f"## {title}\n")
        if intro:
            out.append(intro + "\n")
        out.extend(lines_of(r))
        out.append("")
    return section


def roots_markdown(r) -> list:
    """``bench_root_sampling.py``: the three ``root_sampling`` modes."""
    mixed = "mixed" in r
    out = ["Correlated roots: 4 roots with correlations up to 0.7, 10k rows"
           + ("; mixed: the same with one skewed, one binary and one zero-inflated root "
              "(rank-correlation error of the roots; share of generated root rows that "
              "repeat a training row)" if mixed else "")
           + "; toy: bench_core's SCM (independent roots), 10k rows, worst error of its 3 "
           f"queries, mean of {len(r['toy']['empirical']['max_err_by_seed'])} seeds.", "",
           "| root_sampling | correlation matrix error | do(a=1) error | "
           + ("mixed: rank-correlation error | mixed: repeated training rows | "
              if mixed else "") + "toy worst error |",
           "|---|---|---|" + ("---|---|" if mixed else "") + "---|"]
    for mode in ("independent", "empirical", "copula"):
        if mode not in r["correlated"]:
            continue
        c, t = r["correlated"][mode], r["toy"][mode]
        cells = [mode, f"{c['corr_err']:.3f}", f"{c['do_err']:.3f}"]
        if mixed:
            m = r["mixed"][mode]
            cells += [f"{m['rank_corr_err']:.3f}", f"{m['repeated_rows']:.0%}"]
        cells.append(f"{t['mean']:.4f}")
        out.append("| " + " | ".join(cells) + " |")
    return out


def bootstrap_table_markdown(r) -> list:
    """``bench_bootstrap.py``'s coverage table (docs/bootstrap.md and RESULTS.md)."""
    from bench_bootstrap import clopper_pearson
    true = r["true_ate"]
    recs = r["records"]
    cov = dict(r["coverage"])
    # the basic (reflected percentile) interval, from the same replicates' quantiles
    k = sum(2 * x["refit"]["estimate"] - x["refit"]["high"] <= true
            <= 2 * x["refit"]["estimate"] - x["refit"]["low"] for x in recs)
    cov["refit (basic)"] = {**cov["refit"], "covered": k, "coverage": k / len(recs),
                            "coverage_ci": clopper_pearson(k, len(recs))}
    order = [("one-model", "(a) one-model bootstrap (today's table)"),
             ("refit", "(b) refit bootstrap, percentile"),
             ("refit (basic)", "(b) refit bootstrap, basic"),
             ("refit (normal)", "(b) refit bootstrap, normal"),
             ("AIPW", "(c) AIPW bootstrap on the data")]
    band = r["binomial_band"]
    s = r["settings"]
    out = [f"R = {s['R']} data sets, B = {s['B']}; a calibrated 95% interval covers "
           f"{band[0]:.0%} to {band[1]:.0%} of them (95% binomial band).", "",
           "| interval | covered | coverage [95% CI] | mean width | mean bootstrap sd | "
           "sd of the estimate over data sets | mean error of the estimate |",
           "|---|---|---|---|---|---|---|"]
    for key, label in order:
        c = cov.get(key)
        if c is None:
            continue
        lo, hi = c["coverage_ci"]
        out.append(f"| {label} | {c['covered']}/{c['R']} | {c['coverage']:.2f} "
                   f"[{lo:.2f}, {hi:.2f}] | {c['mean_width']:.3f} | {c['mean_sd']:.4f} | "
                   f"{c['sd_of_estimates']:.4f} | {c['mean_error']:+.4f} |")
    t = r.get("timing")
    if t:
        out += ["", f"Wall time of one refit bootstrap (B = {t['B']}, the mindset model, "
                f"10,391 rows): {t['wall_s_1']:.1f} s with 1 worker, {t['wall_s_2']:.1f} s "
                f"with 2 (x{t['speedup']:.2f}); identical replicates: {t['identical']}."]
    return out


def dowhy_intervals_markdown(r) -> list:
    """``bench_dowhy_intervals.py``: DoWhy's default interval against a full-size bootstrap."""
    s = r["settings"]
    band = r["binomial_band"]
    out = [f"R = {s['R']} data sets of n = {s['n']} rows (true ATE {r['true_ate']}), "
           f"{s['B']} resamples each; a calibrated 95% interval covers {band[0]:.0%} to "
           f"{band[1]:.0%} of them; the estimate's sd over the data sets is "
           f"{r['sd_of_estimates']:.4f}.", "",
           "| interval | covered | coverage [95% CI] | mean width |", "|---|---|---|---|"]
    for key, label in (("dowhy_default", "DoWhy default: 75% subsets without replacement, "
                                         "its '95%' percentiles (the 5% and 95% ones)"),
                       ("full_bootstrap", "full-size resamples with replacement, DoWhy's "
                                          "percentiles (5%, 95%)"),
                       ("full_bootstrap_95", "full-size resamples with replacement, 2.5% and "
                                             "97.5% percentiles")):
        c = r.get(key)
        if c is None:
            continue
        lo, hi = c["coverage_ci"]
        out.append(f"| {label} | {c['covered']}/{s['R']} | {c['coverage']:.2f} "
                   f"[{lo:.2f}, {hi:.2f}] | {c['mean_width']:.3f} |")
    return out


def bootstrap_section(out):
    r = _load("bootstrap.json")
    if not r:
        return
    out.append("## Interval calibration on ground truth (`bench_bootstrap.py`)\n")
    out.append("`simulate_mindset` data sets (10,391 rows, true ATE 0.40); the de-biased ATE "
               "of the improved mindset CCGM; nominal 95% intervals.\n")
    out.extend(bootstrap_table_markdown(r))
    out.append("")
    d = _load("dowhy_intervals.json")
    if d:
        out.append("DoWhy's `confidence_intervals(fit_and_compute(...))` on a linear SCM with "
                   "correctly specified mechanisms (`bench_dowhy_intervals.py`):\n")
        out.extend(dowhy_intervals_markdown(d))
        out.append("")


def parquet_section(out):
    r = _load("parquet.json")
    if not r:
        return
    out.append("## Parquet generation beyond memory (`bench_parquet.py`)\n")
    out.append(f"The mindset CCGM, de-biased, {r['rows']:,} rows to local disk; fresh "
               "processes; baselines in the same run.\n")
    out.append("| workers | wall [s] | M rows/s | M rows/s per worker | peak RSS main [MB] | "
               "peak RSS workers [MB] |")
    out.append("|---|---|---|---|---|---|")
    for j in (1, 2):
        w = r[f"workers_{j}"]
        out.append(f"| {j} | {w['wall_s']:.1f} | {w['rows_per_s'] / 1e6:.2f} | "
                   f"{w['rows_per_s_per_worker'] / 1e6:.2f} | {w['peak_rss_mb']:.0f} | "
                   f"{w['children_peak_rss_mb']:.0f} |")
    out.append("")
    out.append(f"In-memory `sample`: {r['sample_rows_per_s'] / 1e6:.2f} M rows/s; pandas "
               f"`to_parquet` of an in-memory frame: "
               f"{r['pandas_to_parquet_rows_per_s'] / 1e6:.2f} M rows/s; identical files "
               f"with 1 and 2 workers: {r['identical']}; {r['bytes_per_row']:.1f} bytes/row; "
               f"peak RSS of one worker writing a tenth of the rows: "
               f"{r.get('peak_rss_mb_tenth_of_the_rows', float('nan')):.0f} MB (flat memory). "
               f"Target >= 1M rows/s per core: "
               f"{'PASS' if r['target_1M_rows_per_s_per_core'] else 'MISS'}.")
    out.append("")


def mindset_all_table_markdown(doc: dict) -> list:
    """``ccgm mindset --covariates all``'s table.json: every row with its interval."""
    s = doc["settings"]
    out = [f"`ccgm mindset --covariates all` (seed {s['random_state']}, "
           f"{s['n_bootstrap']} bootstrap resamples for naive/IPW/AIPW, EconML's own intervals, "
           f"CCGM " + (f"refit bootstrap B = {s['refit_bootstrap']}" if s["refit_bootstrap"]
                       else "point estimates") + f"; {doc['timings']['total']:.0f} s on 2 cores):",
           "", "| method | estimand | estimate | 95% interval |", "|---|---|---|---|"]
    for r in doc["rows"]:
        iv = "" if r.get("q025") is None or r["q025"] != r["q025"] else \
            f"[{_f3(r['q025'])}, {_f3(r['q975'])}]"
        method = r["method"].replace("|", "\\|")       # (E[Y|do(D=1)]: a table cell)
        out.append(f"| {method} | {r['estimand']} | {_f3(r['estimate'])} | {iv} |")
    return out


def observational_markdown(r) -> list:
    """``bench_observational.py``: the 5-seed simulated study."""
    sm, fl, tr = r["summary"], r["summary"]["floor"], r["summary"]["truth"]
    a = r["args"]
    rows = r["rows"]
    eff = "ate_eff_sd" in fl        # (runs before the efficiency floor lack it)
    head = (f"{len(rows)} data sets of {a['n']:,} rows, {a['share']:.0%} treated; true ATE "
            f"{tr['ate']:.3f}, ATT {tr['att']:.3f}. Floors (sd over {a['floor_reps']} data "
            f"sets of this size): sample floor (the true SCM's own values) ATE "
            f"{fl['ate_sd']:.3f}, ATT {fl['att_sd']:.3f}")
    head += (f"; efficiency floor (the oracle estimates, true nuisances) ATE "
             f"{fl['ate_eff_sd']:.3f}, ATT {fl['att_eff_sd']:.3f}." if eff else ".")
    out = [head, "",
           f"The data sets' own sample ATE and ATT (their units' true effects) average "
           f"{sm['sample_ate_mean']:.3f} and {sm['sample_att_mean']:.3f}.", "",
           "| estimate | mean | mean abs. error | error / sample floor | "
           + ("error / efficiency floor | mean abs. difference from the oracle estimate of "
              "the same data set | " if eff else "")
           + "mean abs. error vs the data set's own sample value |",
           "|---|---|---|---|" + ("---|---|" if eff else "") + "---|"]
    labels = {"debiased_ate": "CCGM de-biased ATE (edges into D removed)",
              "gformula_ate": "CCGM g-formula ATE", "att": "CCGM counterfactual ATT",
              "aipw_ate": "AIPW ATE (logistic/linear)",
              "forest_ate": "EconML causal forest ATE",
              "forest_att": "EconML causal forest ATT (mean CATE of the treated)",
              "oracle_ate": "oracle ATE (true nuisances)",
              "oracle_att": "oracle ATT (true nuisances)"}
    for key, label in labels.items():
        if key in sm:
            target = "att" if key.endswith("att") else "ate"
            x = sm[key]
            cells = [label, f"{x['mean']:.3f}", f"{x['mean_abs_error']:.3f}",
                     f"{x['mean_abs_error'] / fl[target + '_sd']:.2f}"]
            if eff:
                cells += [f"{x['mean_abs_error'] / fl[target + '_eff_sd']:.2f}",
                          f"{x['mean_abs_error_vs_oracle']:.3f}"]
            cells.append(f"{x['mean_abs_error_vs_sample']:.3f}")
            out.append("| " + " | ".join(cells) + " |")
    zx = np.mean([x["zeros_x8"][0] for x in rows]), np.mean([x["zeros_x8"][1] for x in rows])
    zy = np.mean([x["zeros_y"][0] for x in rows]), np.mean([x["zeros_y"][1] for x in rows])
    tr_g = np.mean([x["treated_share"][0] for x in rows])
    tr_d = np.mean([x["treated_share"][1] for x in rows])
    out += ["", f"Generated against data (means over the seeds): share of zeros in x8 "
            f"{zx[0]:.3f} vs {zx[1]:.3f}, in Y {zy[0]:.3f} vs {zy[1]:.3f}; treated share "
            f"{tr_g:.4f} vs {tr_d:.4f}; worst correlation-matrix error of the eight "
            f"confounders {sm['corr_error_max']:.3f} (target 0.05); CCGM fit "
            f"{np.mean([x['fit_s'] for x in rows]):.1f} s per data set."]
    return out


def real_markdown(r) -> list:
    """``bench_real.py``: NHEFS, IHDP A/B, the quirky simulated study and LaLonde."""
    out = []
    nh = r.get("nhefs")
    if nh:
        ref = nh["reference"]
        out.append(f"NHEFS: effect of quitting smoking on weight gain (kg), {nh['n']} "
                   f"smokers, {nh['n_missing_outcome']} without an outcome. References "
                   f"(Hernan and Robins, ch. 12-13): IP weighting {ref['ip_weighting'][0]} "
                   f"({ref['ip_weighting'][1]}-{ref['ip_weighting'][2]}), standardization "
                   f"{ref['standardization'][0]} ({ref['standardization'][1]}-"
                   f"{ref['standardization'][2]}).\n")
        out.append("| estimator | rows used | ATE [kg] | 95% interval | inside both references "
                   "| fit [s] |")
        out.append("|---|---|---|---|---|---|")
        names = {"ccgm_all_rows": ("CCGM", "all (missing outcomes kept)"),
                 "ccgm_complete_cases": ("CCGM", "complete cases"),
                 "ipw": ("IPW (DoWhy)", "complete cases"),
                 "aipw": ("AIPW (EconML)", "complete cases"),
                 "dr_learner": ("DR learner (EconML)", "complete cases"),
                 "dowhy": ("DoWhy GCM, auto-assigned", "complete cases")}
        for key, (name, rows) in names.items():
            e = nh.get(key)
            if not e:
                continue
            ci = f"{e['ci'][0]:.2f}-{e['ci'][1]:.2f}" if "ci" in e else "-"
            inside = "yes" if all(e["inside"].values()) else "no"
            out.append(f"| {name} | {rows} | {e['ate']:.2f} | {ci} | {inside} | "
                       f"{_f(e.get('fit_s'), 1)} |")
        out.append("")
    ih = r.get("ihdp")
    if ih:
        reps = len(next(iter(ih.values()))["rows"]) if isinstance(ih.get("A"), dict) else 0
        out.append(f"IHDP response surfaces (Hill 2011; `econml.data.dgps`), {reps} "
                   "replications each: mean |error| against each replication's true sample "
                   "ATE and ATT.\n")
        out.append("| surface | estimator | mean abs. ATE error | CCGM's minus this one's "
                   "[se, paired by replication] | mean abs. ATT error | 95% interval "
                   "coverage (mean width) |")
        out.append("|---|---|---|---|---|---|")
        for surface in ("A", "B"):
            sm = ih.get(surface, {}).get("summary")
            if not sm:
                continue
            for key, name in (("ccgm", "CCGM"), ("ipw", "IPW"), ("aipw", "AIPW"),
                              ("dr_learner", "DR learner"), ("dowhy", "DoWhy GCM")):
                if key in sm:
                    v = sm[key]
                    cov = (f"{v['ci_coverage']:.0%} ({v['ci_width_mean']:.2f})"
                           if "ci_coverage" in v else "-")
                    diff = (f"{v['ccgm_minus_this']:+.3f} [{v['ccgm_minus_this_se']:.3f}]"
                            if v.get("ccgm_minus_this_se") is not None else "-")
                    out.append(f"| {surface} | {name} | {v['ate_mean_abs_error']:.3f} | "
                               f"{diff} | {_f(v.get('att_mean_abs_error'), 3)} | {cov} |")
            kinds = [r.get("outcome_mechanism") for r in ih[surface]["rows"]]
            if all(kinds):
                counts = {k: kinds.count(k) for k in sorted(set(kinds))}
                out.append(f"| {surface} | CCGM's outcome mechanism | " + ", ".join(
                    f"{k} {c}" for k, c in counts.items()) + " | - | - | - |")
        out.append("")
    sim = r.get("sim")
    if sim:
        sm, a = sim["summary"], r["args"]
        out.append(f"Simulated study with real data's quirks (`simulate_observational(quirks="
                   f"True)`, {a['sim_n']} rows, {a['sim_share']:.0%} treated, seeds "
                   f"{a['sim_seeds']}): a rounded column, a count with structural zeros, "
                   "earnings in cents with zeros and a top-code, a zero-inflated outcome.\n")
        out.append("| measure | value | target | met |")
        out.append("|---|---|---|---|")
        t = sm["targets"]
        out.append(f"| worst point-mass share error | {sm['worst_share_error']:.4f} | <= 0.01 | "
                   f"{'yes' if t['shares_within_0.01'] else 'no'} |")
        out.append(f"| generated share beyond the top-code | {sm['beyond_cap_max']:.4f} | 0 | "
                   f"{'yes' if t['nothing_beyond_cap'] else 'no'} |")
        out.append(f"| generated naive difference, worst relative error | "
                   f"{sm['naive_rel_error_max']:.3f} | <= 0.10 | "
                   f"{'yes' if t['naive_within_10pct'] else 'no'} |")
        out.append(f"| ATT mean abs. error (efficiency floor sd "
                   f"{sm['att_efficiency_floor_sd']:.3f}) | {sm['att_mean_abs_error']:.3f} | "
                   f"<= floor | {'yes' if t['att_within_floor'] else 'no'} |")
        out.append("")
    la = r.get("lalonde")
    if la:
        sm, rows = la["summary"], la["rows"]
        seeds = ", ".join(str(x["seed"]) for x in rows)
        out.append(f"LaLonde (Dehejia-Wahba NSW treated + CPS controls, "
                   f"{rows[0]['treated_share'][1]:.2%} treated; seeds {seeds}): the NSW "
                   f"experiment's ATT {sm['experiment_att']:.0f} (se "
                   f"{sm['experiment_se']:.0f}) is the truth.\n")

        def mean(f):
            return float(np.mean([f(x) for x in rows]))
        out.append("| measure | CCGM | data / truth | DoWhy GCM | DR learner (EconML) |")
        out.append("|---|---|---|---|---|")
        out.append(f"| generated share of treated | {mean(lambda x: x['treated_share'][0]):.4f} "
                   f"| {rows[0]['treated_share'][1]:.4f} | - | - |")
        out.append(f"| generated naive difference | {mean(lambda x: x['naive'][0]):.0f} | "
                   f"{rows[0]['naive'][1]:.0f} | - | - |")
        key = "re75=0,black,treat=1"
        out.append(f"| E[re78 \\| treated, unemployed in 1975, black] | "
                   f"{mean(lambda x: x['strata']['generated']['mean_re78'][key]):.0f} | "
                   f"{rows[0]['strata']['data']['mean_re78'][key]:.0f} | - | - |")
        if all("mechanism_mean_re78" in x["strata"] for x in rows):
            def mech(arm, who):
                return mean(lambda x: x["strata"]["mechanism_mean_re78"][arm][who])
            for arm, name in (("treated", "treated"), ("control", "controls")):
                out.append(f"| {name}: mean re78 drawn from the outcome's mechanism at "
                           f"their own covariates | {mech(arm, 'generated'):.0f} | "
                           f"{mech(arm, 'data'):.0f} | - | - |")
        if all("treated_re78" in x["strata"] for x in rows):
            def tr(who, f):
                return mean(lambda x: f(x["strata"]["treated_re78"][who]))
            out.append("| treated: share of re78 at 0 | "
                       f"{tr('generated', lambda v: v['zero']):.3f} | "
                       f"{tr('data', lambda v: v['zero']):.3f} | - | - |")
            out.append("| treated: share of re78 at the CPS top-code | "
                       f"{tr('generated', lambda v: v['at_top_code']):.4f} | "
                       f"{tr('data', lambda v: v['at_top_code']):.4f} | - | - |")
            for k, q in enumerate(("25%", "50%", "75%")):
                out.append(f"| treated: {q} quantile of positive re78 | "
                           f"{tr('generated', lambda v: v['positive_quartiles'][k]):.0f} | "
                           f"{tr('data', lambda v: v['positive_quartiles'][k]):.0f} | - | - |")
            kinds = ", ".join(x.get("atom_mechanism") or "-" for x in rows)
            out.append(f"| re78's atom probabilities (per seed) | {kinds} | - | - | - |")
        dw = sm.get("dowhy_att_mean_abs_error")
        out.append(f"| ATT mean abs. error | {sm['att_mean_abs_error']:.0f} | 0 | "
                   f"{_f(dw, 0)} | {sm['dr_att_mean_abs_error']:.3g} |")
        out.append("")
    ll = r.get("lalonde_linear")
    if la and ll:
        out.append("The same with the outcome's mechanism named linear "
                   "(`mechanisms={\"re78\": \"linear\"}`), seeds "
                   + ", ".join(str(x["seed"]) for x in ll["rows"]) + ":\n")
        out.append("| measure | CCGM's own choice | re78 linear | data / truth |")
        out.append("|---|---|---|---|")

        def both(f):
            return " | ".join(f"{np.mean([f(x) for x in part['rows']]):.0f}"
                              for part in (la, ll))
        out.append("| generated naive difference | " + both(lambda x: x["naive"][0])
                   + f" | {la['rows'][0]['naive'][1]:.0f} |")
        out.append("| naive difference, largest rel. error over the seeds | "
                   f"{la['summary']['naive_rel_error_max']:.3f} | "
                   f"{ll['summary']['naive_rel_error_max']:.3f} | 0 |")
        out.append("| treated: mean re78 drawn from the outcome's mechanism | "
                   + both(lambda x: x["strata"]["mechanism_mean_re78"]["treated"]["generated"])
                   + f" | {la['rows'][0]['strata']['mechanism_mean_re78']['treated']['data']:.0f}"
                   " |")
        out.append("| controls: mean re78 drawn from the outcome's mechanism | "
                   + both(lambda x: x["strata"]["mechanism_mean_re78"]["control"]["generated"])
                   + f" | {la['rows'][0]['strata']['mechanism_mean_re78']['control']['data']:.0f}"
                   " |")
        out.append("| ATT | " + both(lambda x: x["att"])
                   + f" | {la['summary']['experiment_att']:.0f} |")
        out.append(f"| ATT mean abs. error | {la['summary']['att_mean_abs_error']:.0f} | "
                   f"{ll['summary']['att_mean_abs_error']:.0f} | "
                   f"se {la['summary']['experiment_se']:.0f} |")
        out.append("")
    return out


def gcm_roots_markdown(r) -> list:
    """``bench_gcm_roots.py``: joint against independent roots in ``dowhy.gcm``."""
    a, sm = r["args"], r["summary"]
    seeds = a["seeds"].split(",")
    out = [f"Simulated study of `bench_observational.py` ({len(seeds)} data sets of "
           f"{a['n']:,} rows, 2% treated), {int(a['draws']):,} draws per query; means over "
           "the seeds (the correlation error: the worst seed).", "",
           "| non-root mechanisms | roots | correlation-matrix error | naive difference, abs. "
           "error vs data | treated share, abs. error vs data | interventional ATE, abs. "
           "error vs truth |", "|---|---|---|---|---|---|"]
    names = {"ccgm": "CCGM (`assign_ccgm_mechanisms`)", "dowhy": "DoWhy GOOD auto-assignment"}
    roots = {"joint": "joint (`JointEmpiricalDistribution`)",
             "independent": "independent (`EmpiricalDistribution`)"}
    for key, x in sm.items():
        family, kind = key.split("/")
        out.append(f"| {names[family]} | {roots[kind]} | {x['corr_error_max']:.3f} | "
                   f"{x['naive_abs_error']:.3f} | {x['treated_abs_error']:.4f} | "
                   f"{x['ate_abs_error']:.3f} |")
    return out


def _g(v) -> str:
    """A number of the notebooks' tables: three significant digits, tiny ones in e-notation,
    "-" for none."""
    if v is None:
        return "-"
    if v != 0 and abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.3g}" if abs(v) < 1e3 else f"{v:,.0f}"


def _counts(v) -> str:
    """Top-ranked names (or errors) counted over the seeds: "Page Views (2), Unit Price (1)"."""
    if not isinstance(v, dict):
        return _g(v)
    return ", ".join(f"{k} ({n:g})" for k, n in sorted(v.items(), key=lambda kv: -kv[1]))


def notebooks_markdown(r) -> list:
    """``bench_notebooks.py``: DoWhy's gcm example notebooks with DoWhy's auto-assigned and
    with CCGM mechanisms, against each generator's truth (means over the seeds)."""
    a, sm, truth = r["args"], r["summary"], r["truth"]
    methods = ("auto", "ccgm")

    def get(d, *path):
        for k in path:
            d = d.get(k) if isinstance(d, dict) else None
        return d

    failures = {}

    def cells(nb, *path, fmt=_g):
        """One cell per method; an analysis that failed says so (its error is listed under
        the notebook's tables)."""
        out = []
        for m in methods:
            v = get(sm[nb][m], *path)
            err = get(sm[nb][m], path[0], "error") if v is None else None
            if err:
                failures[(nb, m, path[0])] = err
            out.append("fails (below)" if err else fmt(v))
        return out

    def failed(nb):
        """The errors of the notebook's failed analyses, seeds counted."""
        name = {"auto": "DoWhy auto-assignment", "ccgm": "CCGM"}
        return [f"- `{what}` with {name[m]} fails on {n:g} of {a['seeds']} seed(s): {msg}"
                for (b, m, what), errs in failures.items() if b == nb
                for msg, n in errs.items()]

    def row(label, values, t="-"):
        return f"| {label} | " + " | ".join(values) + f" | {t} |"

    head = ["| measure | DoWhy auto-assignment (GOOD) | CCGM | truth |", "|---|---|---|---|"]
    pct = (lambda v: "-" if v is None else f"{100 * v:.2f}%")
    out = [f"Means over {a['seeds']} seed(s) (0 to {a['seeds'] - 1}: a new data set and "
           f"new fits each); code {r.get('git', '?')}; the whole run {r['wall_s'] / 60:.0f} "
           "min on 2 cores. Times: assignment plus `gcm.fit`.", ""]
    if "online_shop" in sm:
        t = truth["online_shop"]
        out += [f"**Online shop** ({t['days']} days of `sales_dataset`; in 2022 the price "
                f"x {t['2022']['change_of_price']} and the visitors x "
                f"{t['2022']['page_visitor_factor']}). Mechanisms: normalized MSE (MSE / "
                "variance) of the conditional mean against the data, and the noise effect (the "
                "spread of the mechanism over noise draws at the observed parents, in sds of "
                "the node); the truth is the generator's own mechanism (Revenue and Profit "
                "are exact formulas).", "",
                "| node | NMSE auto | NMSE CCGM | NMSE truth | noise effect auto | "
                "noise effect CCGM | noise effect truth |", "|---|---|---|---|---|---|---|"]
        for v, x in t["mechanisms"].items():
            out.append(f"| {v} | " + " | ".join(
                cells("online_shop", "fit", v, "nmse") + [_g(x["nmse"])]
                + cells("online_shop", "fit", v, "noise_effect") + [_g(x["noise_effect"])])
                + " |")
        out += ["", f"Intrinsic causal influence on Profit (`gcm.intrinsic_causal_influence`, "
                f"{a['icc_baseline']} baseline x {a['icc_randomization']} randomization "
                f"samples, a model trained on {a['icc_training']:,} draws), as shares of "
                f"Var(Profit); the truth by nested Monte Carlo on the generator's equations "
                f"({a['truth_outer']:,} x {a['truth_inner']} draws).", ""] + head
        for v, share in t["icc_share"].items():
            out.append(row(v, cells("online_shop", "icc", "share", v, fmt=pct), pct(share)))
        out.append(row("noise share of Revenue + Profit",
                       cells("online_shop", "icc", "formula_share", fmt=pct), pct(0.0)))
        out.append(row("L1 distance of the shares to the truth",
                       cells("online_shop", "icc", "l1_error", fmt=pct), pct(0.0)))
        out += ["", "Root cause of the 2022 profit drop: `gcm.attribute_anomalies` on the "
                f"first day of 2022 ({a['anomaly_samples']:,} distribution samples; the "
                "top-ranked node, seeds counted) and `gcm.distribution_change` of mean Profit "
                f"from the first quarter of 2021 to that of 2022 ({a['change_samples']:,} "
                "samples) [$]; the truth by Shapley values over the generator's two changed "
                "mechanisms.", ""] + head
        out.append(row("anomaly attribution, top-ranked node",
                       cells("online_shop", "anomaly", "top", fmt=_counts), t["anomaly_top"]))
        for v in ("Page Views", "Unit Price", "Shopping Event?", "Sold Units"):
            out.append(row(f"Q1 change attributed to {v} [$]",
                           cells("online_shop", "q1_change", "attribution", v),
                           _g(t["q1_change"][v])))
        out.append(row("Q1 change, most negative node",
                       cells("online_shop", "q1_change", "top_negative", fmt=_counts),
                       min(t["q1_change"], key=t["q1_change"].get)))
        out.append(row("Q1 change, L1 error over all nodes [$]",
                       cells("online_shop", "q1_change", "l1_error"), "0"))
        out.append(row("fit [s]", cells("online_shop", "fit_s")))
        for part, label in (("icc", "`intrinsic_causal_influence`"),
                            ("anomaly", "`attribute_anomalies`"),
                            ("q1_change", "`distribution_change`")):
            out.append(row(f"{label} call [s]", cells("online_shop", part, "wall_s")))
        if get(sm["online_shop"]["ccgm"], "q1_change", "in_process_s") is not None:
            out.append(row("`distribution_change` call, DoWhy's worker processes off "
                           "(`gcm.config.default_n_jobs = 1`) [s]",
                           cells("online_shop", "q1_change", "in_process_s")))
        out += [""] + failed("online_shop") + [""] * bool(failed("online_shop"))
    if "supply_chain" in sm:
        t = truth["supply_chain"]
        out += [f"**Supply chain** (two weeks of {t['rows_per_week']:,} rounded purchase "
                "orders): "
                f"`gcm.distribution_change` of mean `received` per node ({a['change_samples']:,} "
                "samples); the truth by Shapley values over the generator's mechanisms "
                f"({a['truth_n']:,} draws each).", ""]
        out += head
        for v, x in t["change"].items():
            out.append(row(f"change attributed to {v}",
                           cells("supply_chain", "change", "attribution", v), _g(x)))
        out.append(row("L1 error over the nodes", cells("supply_chain", "change", "l1_error"),
                       "0"))
        out.append(row("top two nodes", cells("supply_chain", "change", "top2", fmt=_counts),
                       " + ".join(t["top2"])))
        out.append(row("fit on week 1 [s]", cells("supply_chain", "fit_s")))
        out.append(row("`distribution_change` call [s]",
                       cells("supply_chain", "change", "wall_s")))
        out += [""] + failed("supply_chain") + [""] * bool(failed("supply_chain"))
    if "dry_eyes" in sm:
        setup, t = truth["dry_eyes"], truth["dry_eyes"]["effects"]
        names = {"1": "option 1", "2": "option 2", "0": "no treatment"}
        out += [f"**Dry eyes** ({setup['patients']:,} patients, a condition in "
                f"{setup['condition_share']:.0%}): counterfactual vision of "
                f"{a['cf_patients']:,} new patients drawn like the data and of {a['cf_rare']:,} "
                "new patients with the condition, under each treatment they did not take; "
                "effects are means of counterfactual differences per group.", ""] + head
        out.append(row("counterfactual RMSE, patients like the data",
                       cells("dry_eyes", "cf_rmse_patients"), "0"))
        out.append(row("counterfactual RMSE, patients with the condition",
                       cells("dry_eyes", "cf_rmse_rare"), "0"))
        for key, x in t.items():
            pair, cond = key.split("|")
            a_, b_ = pair.split("-")
            who = "with the condition" if cond == "1" else "without it"
            out.append(row(f"effect {names[a_]} - {names[b_]}, {who}",
                           cells("dry_eyes", "effects", key), _g(x)))
        out.append(row("effect signs right", cells("dry_eyes", "signs_right"), str(len(t))))
        if a.get("evaluate"):
            for key, label in (("nmse", "NMSE (DoWhy's: RMSE / sd)"), ("crps", "CRPS"),
                               ("invertibility_p", "invertibility test p-value"),
                               ("overall_kl", "overall KL divergence")):
                out.append(row(f"`evaluate_causal_model`: Vision {label}",
                               cells("dry_eyes", "evaluation", key)))
        out.append(row("fit [s]", cells("dry_eyes", "fit_s")))
        out += [""] + failed("dry_eyes") + [""] * bool(failed("dry_eyes"))
    return out


def many_levels_section(out):
    r = _load("many_levels.json")
    if not r:
        return
    a = r["args"]
    out.append("## Many-level categoricals (`bench_many_levels.py`)\n")
    out.append(f"A {a['levels']}-level root parent of a chain of {a['depth']} continuous "
               f"nodes, {a['n']:,} rows; the compact layout against one mask input and output "
               "per level, in the same run.\n")
    out.append("| layout | state width | mask outputs | fit [s] | steps | do-error mean | "
               "do-error max |")
    out.append("|---|---|---|---|---|---|---|")
    for name, x in r["rows"].items():
        out.append(f"| {name} | {x['state_width']} | {x['mask_outputs']} | {x['fit_s']:.1f} | "
                   f"{x['steps']} | {x['do_error_mean']:.3f} | {x['do_error_max']:.3f} |")
    out.append(f"\nFit time, one per level / compact: {r['speedup']:.2f}.\n")


def adult_markdown(r) -> list:
    """``ccgm fairness``: DECAF's protocol on Adult (a downstream classifier trained on each
    data set, tested on held-out real rows)."""
    out = [f"{r['title']}.\n",
           "| training data | precision | recall | AUROC | AUROC cost | demographic parity "
           "| FTU | CF unfairness | income gap in the data |",
           "|---|---|---|---|---|---|---|---|---|"]

    def pm(row, k, d=3):
        sd = row.get(f"{k}_sd")
        return f"{row[k]:.{d}f}" + (f" ± {sd:.{d}f}" if sd is not None else "")
    for row in r["table"]:
        out.append(f"| {row['method']} | {pm(row, 'precision')} | {pm(row, 'recall')} | "
                   f"{pm(row, 'auroc')} | {pm(row, 'auroc_cost')} | {pm(row, 'dp')} | "
                   f"{pm(row, 'ftu')} | {pm(row, 'cf_unfairness')} | {pm(row, 'data_dp')} |")
    t = r.get("target") or {}
    if t:
        out.append(f"\nTarget: demographic parity at most {t['dp_max']} for {t['row']!r}: "
                   f"{t['dp']:.3f}, {'met' if t['met'] else 'not met'}.")
        w = t.get("fair_world")
        if w:
            out.append(f"The same bound for {w['row']!r} (the fair pipeline: fair data, "
                       f"fair-world test inputs): {w['dp']:.3f}, "
                       f"{'met' if w['met'] else 'not met'}.")
    out.append("\n" + r.get("decaf_published_note", "") + "\n")
    return out


def fairness_truth_markdown(r) -> list:
    """``bench_fairness.py``: fair features, the audit's speed and path-specific effects
    against ground truth."""
    out = []
    fe = r.get("features")
    if fe:
        rows = fe["rows"]
        a = r["args"]
        out.append(f"Fair features on the law-school-like world ({a['n']} training rows, "
                   f"{a['seeds']} seeds; the grade rounded to 0.1, a Poisson test score, the "
                   "protected group 10%): true counterfactual unfairness (mean |change of the "
                   "prediction| when only the protected attribute is flipped, in sd of the "
                   "outcome) and test R^2.\n")
        worlds = sorted({x.get("world", "rounded") for x in rows}, reverse=True)
        out.append("| world | predictor | features | true CF unfairness | R^2 |")
        out.append("|---|---|---|---|---|")
        order = ["raw", "true mechanisms (floor)", "true form, estimated", "ccgm",
                 "Kusner level 3"]
        for world in worlds:
            for pred in ("linear", "gradient boosting"):
                for feat in order:
                    sel = [x for x in rows if x["predictor"] == pred and x["features"] == feat
                           and x.get("world", "rounded") == world]
                    if sel:
                        u = np.mean([x["unfairness_sd"] for x in sel])
                        r2 = np.mean([x["r2"] for x in sel])
                        out.append(f"| {world} | {pred} | {feat} | {u:.4f} | {r2:.3f} |")
        if "continuous" in worlds:
            out.append("\nWorld `rounded` is the one above; `continuous` is the same world with "
                       "the grade not rounded and the test score its rate plus a normal noise "
                       "(sd 5), where the true mechanisms' features are exactly invariant "
                       "(floor 0).")
        out.append("")
    au = r.get("audit")
    if au:
        out.append(f"Audit of {au['units']} units: {au['audit_s']:.2f} s vectorised; DoWhy's "
                   f"per-row loop {au['loop_s_per_unit'] * 1e3:.1f} ms per unit "
                   f"({au['loop_s_all_units']:.0f} s for all): {au['speedup']:.0f}x faster; "
                   + (f"the mean change of the prediction over the looped units "
                      f"{au['loop_mean']:.4f} (loop) against {au['audit_mean']:.4f} "
                      f"(vectorised), a gap of {au['mean_gap']:.4f} (se "
                      f"{au['mean_gap_se']:.4f}: the rounded grade's and the count's "
                      "counterfactuals are posterior draws, made independently by the two; "
                      f"largest unit-level gap {au['max_difference']:.2g}).\n"
                      if "mean_gap" in au else
                      f"largest difference between the two {au['max_difference']:.2g}.\n"))
    pa = r.get("paths")
    if pa:
        sm = pa["summary"]
        a = r["args"]
        out.append(f"Natural direct and indirect effects with two mediators ({a['datasets']} "
                   f"data sets of {a['paths_n']} rows, {a['boot']} refits each). The "
                   "reference is least squares on the true linear model, bootstrapped on the "
                   "same resamples in the same run: it shows what the design (the number of "
                   "data sets and of refits) allows a right model.\n")
        out.append("| effect | truth | estimator | mean abs. error [se] | bootstrap se / "
                   "spread of the estimates | 95% coverage: percentile | basic | normal | "
                   "binomial band |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        truth = {"direct": 2.0, "indirect": 1.8}
        for k, t in truth.items():
            for name, key in (("CCGM", k), ("least squares (reference)", f"ols {k}")):
                v = sm.get(key)
                if v is None:
                    continue
                lo, hi = v["binomial_band"]
                ratio = (f"{v['se_mean'] / v['spread']:.2f}" if "spread" in v else "-")

                def pct(name_):
                    return f"{v[name_]:.0%}" if name_ in v else "-"
                out.append(f"| {k} | {t} | {name} | {v['mean_abs_error_se']:.2f} | {ratio} | "
                           f"{pct('coverage')} | {pct('basic_coverage')} | "
                           f"{pct('normal_coverage')} | {lo:.0%}-{hi:.0%} |")
        out.append("")
    rp = r.get("replicates")
    if rp:
        lo, hi = rp["binomial_band"]
        out.append(f"How many replicates a 95% interval needs: least squares on the same "
                   f"mediation model ({rp['datasets']} data sets of {rp['rows']} rows, no "
                   f"fit), each bootstrapped with B resamples; coverage of the truth "
                   f"(binomial band {lo:.0%}-{hi:.0%}). `bootstrap` warns below "
                   f"50 replicates for a 95% percentile interval.\n")
        out.append("| B | direct: percentile | direct: normal | indirect: percentile | "
                   "indirect: normal |")
        out.append("|---:|---|---|---|---|")
        for b, cov in rp["coverage"].items():
            out.append(f"| {b} | {cov['direct']['percentile']:.1%} | "
                       f"{cov['direct']['normal']:.1%} | {cov['indirect']['percentile']:.1%}"
                       f" | {cov['indirect']['normal']:.1%} |")
        out.append("")
    return out


roots_section = _table_section("root_sampling.json", "Root sampling (`bench_root_sampling.py`)",
                               roots_markdown)
gcm_roots_section = _table_section("gcm_roots.json", "Roots in `dowhy.gcm` (`bench_gcm_roots.py`)",
                                   gcm_roots_markdown)
real_section = _table_section("real.json", "Real data and real data's quirks (`bench_real.py`)",
                              real_markdown)
observational_section = _table_section(
    "observational.json", "Simulated observational study (`bench_observational.py`)",
    observational_markdown,
    "Eight correlated confounders (latent correlations 0.7^|i-j|), one of them "
    "zero-inflated, a rare treatment and a zero-inflated outcome "
    "(`datasets.simulate_observational`).")


adult_section = _table_section(
    "fairness.json", "Fair data on Adult (`ccgm fairness`)", adult_markdown)
fairness_truth_section = _table_section(
    "fairness_truth.json", "Fairness against ground truth (`bench_fairness.py`)",
    fairness_truth_markdown)
notebooks_section = _table_section(
    "notebooks.json", "DoWhy's own example notebooks (`bench_notebooks.py`)",
    notebooks_markdown)


def balance_markdown(r) -> list:
    """``bench_balance.py``: every measure at every power of the parent balance."""
    parts = r["parts"]
    powers = sorted({p for part in parts.values() for p in part}, key=float)
    cols = [("eyes", "rare", "dry eyes: CF RMSE, rare condition", _g),
            ("eyes", "patients", "dry eyes: CF RMSE, patients", _g),
            ("lalonde", "att_abs_error", "LaLonde: ATT abs. error (experiment se "
             f"{parts.get('lalonde', {}).get(powers[0], {}).get('experiment_se', 0):,.0f})",
             lambda v: f"{v:,.0f}"),
            ("lalonde", "naive_rel_error", "LaLonde: naive difference, rel. error",
             lambda v: f"{v:.3f}"),
            ("obs", "ate_error", "2% treated sim.: de-biased ATE abs. error",
             lambda v: f"{v:.3f}"),
            ("obs", "att_error", "2% treated sim.: ATT abs. error", lambda v: f"{v:.3f}"),
            ("mindset", "debiased", "mindset: de-biased ATE (AIPW 0.378-0.441)",
             lambda v: f"{v:.3f}")]
    cols = [c for c in cols if c[0] in parts]
    seeds = r["args"]["seeds"]
    out = [f"Means over seeds {seeds} (LaLonde: {r['args']['lalonde_seeds']}); power 0 is "
           "the plain likelihood, 0.5 the default.", "",
           "| measure | " + " | ".join(f"power {float(p):g}" for p in powers) + " |",
           "|---|" + "---:|" * len(powers)]
    for part, key, label, fmt in cols:
        out.append(f"| {label} | " + " | ".join(
            fmt(parts[part][p][key]) if p in parts[part] else "-" for p in powers) + " |")
    if "mindset" in parts:
        out.append("| mindset: seeds inside the AIPW interval | " + " | ".join(
            f"{parts['mindset'][p]['inside_aipw_interval']} of {len(seeds.split(','))}"
            if p in parts["mindset"] else "-" for p in powers) + " |")
    return out


balance_section = _table_section(
    "balance.json", "The parent balance (`bench_balance.py`)", balance_markdown,
    "The exact fit's weight on each node's likelihood term of a row: the share of the "
    "row's cell of the node's discrete parents to the power `-parent_balance`.")


def fused_markdown(r) -> list:
    """``bench_fused.py``: each data set's fit by autograd and by the hand-written step."""
    names = {"nhefs": "NHEFS (missing outcomes)", "lalonde": "LaLonde (zeros, top-code)",
             "sim": "simulated study with quirks", "adult": "UCI Adult (heaps, caps)"}
    out = [f"Code {r.get('git', '?')}; seed {r['args']['seed']}; a fresh process per fit "
           "(process: start, imports, data, fit and the estimate).", "",
           "| data set | step | fit [s] | process [s] | steps | best validation NLL | "
           "estimate | value | autograd / fused fit time |",
           "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for name, d in r["sets"].items():
        for mode in ("autograd", "fused"):
            m = d[mode]
            out.append(f"| {names.get(name, name)} | {mode} | {m['fit_s']:.1f} | "
                       f"{m['process_s']:.1f} | {m['steps']} | {m['best_val']:.4f} | "
                       f"{m['estimate'][0]} | {m['estimate'][1]:.4f} | "
                       + (f"{d['speedup']:.2f} |" if mode == "fused" else "- |"))
    return out


fused_section = _table_section(
    "fused.json", "The hand-written training step on real data (`bench_fused.py`)",
    fused_markdown,
    "The exact fit's step with its gradients written out by hand (`nn/_fused.py`) against "
    "autograd on the same objective, on data sets with missing cells, several point "
    "masses, caps, lattices and heaps; the same seed and settings, in the same run.")


def mechanisms_markdown(r) -> list:
    """``bench_mechanisms.py``: the outcome's counterfactual RMSE and ATE error with the
    network on every node, with the choice by validation, and DoWhy GOOD."""
    systems = (("network", "CCGM, network on every node (before)"),
               ("auto", "CCGM, mechanisms chosen (`\"auto\"`, now)"),
               ("dowhy", "DoWhy GOOD auto-assignment"))
    out = [f"{r['n']:,} rows, seeds {', '.join(str(s) for s in r['seeds'])}; means over "
           "the seeds; the counterfactual is every unit's outcome under the other "
           "treatment, against its true value (in the outcome's sd).", "",
           "| study | system | CF RMSE [sd] | abs. ATE error | fit [s] | outcome's mechanism "
           "per seed |", "|---|---|---:|---:|---:|---|"]
    for study, label in (("ordinal", "ordinal parent, linear outcome"),
                         ("convex", "ordinal parent, convex outcome")):
        if study not in r:
            continue
        sm = r[study]["summary"]
        for key, name in systems:
            kinds = ("-" if key == "network" else ", ".join(
                row[key].get("y_kind") or row[key].get("mechanism", "-")
                for row in r[study]["rows"]))
            out.append(f"| {label} | {name} | {sm[key]['cf_rmse_sd']:.4f} | "
                       f"{sm[key]['ate_error']:.4f} | {sm[key]['fit_s']:.1f} | {kinds} |")
    if "adult" in r:
        out += [""] + adult_mechanisms_markdown(r["adult"]["rows"])
        before = _load("mechanisms_adult_before.json")
        if before:
            out += [""] + adult_before_after_markdown(before["adult"]["rows"],
                                                      r["adult"]["rows"],
                                                      before["adult"].get("change"))
    return out


def _seed_mean(rows, mode: str, key: str, node=None) -> float:
    """The mean over ``bench_mechanisms.py``'s Adult rows (one per seed) of
    ``row[mode][key]``, or of ``row[mode][key][node]``."""
    return float(np.mean([r[mode][key] if node is None else r[mode][key][node]
                          for r in rows]))


def adult_before_after_markdown(before, now, change=None) -> list:
    """The default (``"auto"``) Adult fit of ``bench_mechanisms.py`` before and after a
    change (``change``: what changed, the before file's ``"change"``; same seeds, same
    splits): each endogenous node's held-out NLL, score, AUROC, flags, fit time, every
    continuous column's KS distance, the discrete nodes' mechanisms."""
    seeds = ", ".join(str(r["seed"]) for r in now)

    def mean(rows, key, node=None):
        return _seed_mean(rows, "auto", key, node)
    change = change or ("a top-code far beyond a column's other values became a point "
                        "mass of its own (capital gains at 99,999; and age at 90)")
    out = [f"The same Adult fits (`\"auto\"`, seeds {seeds}, means) before and after "
           f"{change}. KS distance: a continuous column's generated values against the "
           "held-out ones (off its point masses where it has them).", "",
           "| measure | before | now |", "|---|---:|---:|"]
    for node in [n for n in now[0]["auto"]["nll"] if n in now[0]["auto"]["mechanisms"]]:
        out.append(f"| {node}: held-out NLL | {mean(before, 'nll', node):.4f} | "
                   f"{mean(now, 'nll', node):.4f} |")
    for key, label, fmt in (("score", "held-out `score`", "{:.4f}"),
                            ("auroc", "downstream AUROC, trained on generated rows",
                             "{:.4f}"),
                            ("n_flags", "the model check's flags", "{:.1f}"),
                            ("fit_s", "fit [s]", "{:.1f}")):
        out.append(f"| {label} | {fmt.format(mean(before, key))} | "
                   f"{fmt.format(mean(now, key))} |")
    for col in now[0]["auto"].get("column_ks", {}):
        if col in before[0]["auto"].get("column_ks", {}):
            out.append(f"| {col}: KS distance | "
                       f"{mean(before, 'column_ks', col):.3f} | "
                       f"{mean(now, 'column_ks', col):.3f} |")

    # the nodes blended in any seed now: their mechanism per seed, before and now
    blended = [k for k in now[0]["auto"]["mechanisms"]
               if any(r["auto"]["mechanisms"].get(k) == "blend" for r in now)]

    def kinds(rows):
        return "; ".join(", ".join(f"{k}: {r['auto']['mechanisms'][k]}" for k in blended)
                         for r in rows)
    if blended:
        out.append(f"| mechanisms (seeds {seeds}) | {kinds(before)} | "
                   f"{kinds(now)} |")
    return out


def adult_mechanisms_markdown(rows) -> list:
    """The Adult part of ``bench_mechanisms.py``: each endogenous node's held-out NLL with
    the network everywhere and with the choice by validation, beside the model check's
    linear or logistic baseline (means over the seeds)."""
    seeds = ", ".join(str(r["seed"]) for r in rows)
    nodes = [k for k in rows[0]["auto"]["mechanisms"]]

    def mean(mode, key, node):
        return _seed_mean(rows, mode, key, node)
    modes = [m for m in ("network", "auto", "logistic") if m in rows[0]]
    out = [f"UCI Adult (`ccgm fairness`'s graph; binary and categorical nodes beside a "
           f"41-level country parent), fitted on a random 80% of the rows (seeds {seeds}), "
           "each node's mean negative log-likelihood of the other 20% (nats per row; a "
           "continuous node's on its standardized scale; lower is better; the baseline is "
           "the model check's cross-fitted linear or logistic regression; means over the "
           "seeds). Last column: every binary and categorical node named `\"linear\"` "
           "(a multinomial logistic regression on its parents).", "",
           "| node | network everywhere | `\"auto\"` (default) | linear / logistic "
           "baseline | `\"auto\"`, discrete nodes logistic |", "|---|---:|---:|---:|---:|"]
    for node in nodes:
        if node not in rows[0]["auto"]["nll"]:
            continue                  # (point masses: the check has no baseline for them)
        cells = [f"{mean(m, 'nll', node):.4f}" for m in modes]
        cells.insert(2, f"{mean('auto', 'baseline_nll', node):.4f}")
        out.append(f"| {node} | " + " | ".join(cells) + " |")
    for key, label, fmt in (("score", "held-out `score` (mean log-likelihood per row)",
                             "{:.4f}"),
                            ("auroc", "downstream AUROC, trained on generated rows "
                             f"(on the training rows: "
                             f"{np.mean([r['real_auroc'] for r in rows]):.4f})", "{:.4f}"),
                            ("n_flags", "the model check's flags", "{:.1f}"),
                            ("fit_s", "fit [s]", "{:.1f}")):
        cells = [fmt.format(_seed_mean(rows, m, key)) for m in modes]
        cells.insert(2, "-")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    lik = [", ".join(sorted({n for r in rows for n in r[m]["likelihood_flags"]})) or "none"
           for m in modes]
    lik.insert(2, "-")
    out.append("| nodes flagged below their baseline | " + " | ".join(lik) + " |")
    atoms = [", ".join(f"{k}: {v}" for k, v in rows[0][m]["atom_mechanisms"].items())
             for m in modes]
    atoms.insert(2, "-")
    out.append(f"| atom probabilities (seed {rows[0]['seed']}) | " + " | ".join(atoms) + " |")
    return out


mechanisms_section = _table_section(
    "mechanisms.json", "Simple mechanisms chosen by validation (`bench_mechanisms.py`)",
    mechanisms_markdown,
    "`mechanisms=\"auto\"` (the default) offers each continuous node a linear, an "
    "additive spline and an interaction noise model beside the network (and the atom "
    "probabilities of a node with point masses a logistic regression), and keeps the "
    "simple one where the held-out likelihood does not ask for more "
    "(`dowhy_ccgm/_simple.py`).")


STRUCTURE_METHODS = (("ccgm", "CCGM"), ("ccgm_bic", "CCGM, BIC alone (min_r2=0)"),
                     ("ccgm_30pct", "CCGM, 30% of edges given"),
                     ("ccgm_tiers", "CCGM, tiers given"), ("ccgm_paper", "CCGM paper (H(G))"),
                     ("pc", "PC"), ("ges", "GES"), ("dagma", "DAGMA linear"),
                     ("dagma_mlp", "DAGMA-MLP"), ("empty", "empty graph"))


def structure_markdown(r) -> list:
    """``bench_structure.py``: SHD (precision / recall of directed edges) and time per
    configuration and method."""
    configs = r["configs"]
    methods = [(m, label) for m, label in STRUCTURE_METHODS
               if any(m in c["summary"] for c in configs.values())]
    out = ["SHD (lower is better), mean over the seeds; in brackets the directed edges' "
           "precision / recall and the fit time. Seeds "
           f"{r['args']['seeds']} (raw data: the first only; Sachs: one run).", "",
           "| data | " + " | ".join(label for _, label in methods) + " |",
           "|---|" + "---:|" * len(methods)]
    for name, c in configs.items():
        cells = []
        for m, _ in methods:
            v = c["summary"].get(m)
            if v is None:
                cells.append("-")
                continue
            if m == "empty":
                cells.append(f"{v['shd']:.1f}")
                continue
            pr = "-" if v["precision"] is None else f"{v['precision']:.2f}"
            rc = "-" if v["recall"] is None else f"{v['recall']:.2f}"
            seeds = "" if v["runs"] == len(c["runs"]) else \
                f", {v['runs']} of {len(c['runs'])} data sets"
            cells.append(f"**{v['shd']:.1f}** ({pr} / {rc}; {v['fit_s']:.1f} s{seeds})")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return out


structure_section = _table_section(
    "structure.json", "Structure learning (`bench_structure.py`)", structure_markdown,
    "CCGM's learner (`dowhy_ccgm.structure.learn_graph`) against PC, GES and DAGMA on the "
    "same standardised data, with and without knowledge.")


def _read(path):
    with open(path) as fh:
        return json.load(fh)


def rewrite_doc(page: str, marker: str, lines, what: str | None = "table") -> None:
    """The generated block ``<!-- marker:start -->`` .. ``<!-- marker:end -->`` of
    ``docs/page``, rewritten with ``lines`` (and said so, unless ``what`` is None)."""
    doc = os.path.join(os.path.dirname(HERE), "docs", page)
    rewrite_between(doc, f"<!-- {marker}:start -->", f"<!-- {marker}:end -->", lines)
    if what:
        print(f"rewrote the {what} of {doc}")


def main() -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mindset-json", metavar="PATH",
                   help="also rewrite the table of docs/mindset.md from this `ccgm mindset` "
                        "table.json (and its refit-interval table, when the run had "
                        "--refit-bootstrap)")
    p.add_argument("--pendulum-json", metavar="PATH",
                   help="also rewrite the table of docs/pendulum.md from this `ccgm pendulum` "
                        "metrics.json")
    p.add_argument("--mindset-all-json", metavar="PATH",
                   help="also rewrite the all-covariate table of docs/mindset.md from this "
                        "`ccgm mindset --covariates all` table.json")
    args = p.parse_args()
    if args.mindset_all_json:
        rewrite_doc("mindset.md", "mindset-all-table",
                    mindset_all_table_markdown(_read(args.mindset_all_json)),
                    "all-covariate table")
    # docs blocks generated from a results file each: (file, page, marker, lines, what)
    for name, page, marker, lines_of, what in (
            ("root_sampling.json", "observational.md", "root-sampling-table", roots_markdown,
             "root-sampling table"),
            ("gcm_roots.json", "gcm.md", "gcm-roots-table", gcm_roots_markdown,
             "roots table"),
            ("observational.json", "observational.md", "observational-table",
             observational_markdown, "simulated-study table"),
            ("real.json", "real-data.md", "real-table", real_markdown, "real-data tables"),
            ("notebooks.json", "dowhy-examples.md", "notebooks-table", notebooks_markdown,
             "notebook tables"),
            ("fairness.json", "fairness.md", "adult-table", adult_markdown, "Adult table"),
            ("fairness_truth.json", "fairness.md", "fairness-truth-table",
             fairness_truth_markdown, "ground-truth tables"),
            ("balance.json", "real-data.md", "balance-table", balance_markdown,
             "parent-balance table"),
            ("mechanisms.json", "real-data.md", "mechanisms-table", mechanisms_markdown,
             "simple-mechanisms table"),
            ("structure.json", "structure.md", "structure-table", structure_markdown,
             "structure-learning table")):
        r = _load(name)
        if r:
            rewrite_doc(page, marker, lines_of(r), what)
    if args.pendulum_json:
        rewrite_doc("pendulum.md", "pendulum-table",
                    pendulum_table_markdown(_read(args.pendulum_json)))
    if args.mindset_json:
        rows = _read(args.mindset_json)
        rewrite_doc("mindset.md", "mindset-table", mindset_table_markdown(rows))
        if any(r.get("refit_sd") is not None for r in rows):
            rewrite_doc("mindset.md", "refit-table", refit_table_markdown(rows),
                        "refit-interval table")
    out = ["# Benchmark results", "",
           "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json` "
           "(each written by the benchmark named in its section, on this project's 2-core "
           "machine). Do not edit by hand.", ""]
    boot = _load("bootstrap.json")
    if boot:
        rewrite_doc("bootstrap.md", "bootstrap-table", bootstrap_table_markdown(boot),
                    "calibration table")
        dw = _load("dowhy_intervals.json")
        if dw:
            rewrite_doc("bootstrap.md", "dowhy-intervals", dowhy_intervals_markdown(dw),
                        None)
    for section in (core_section, core_threads_section, scale_section, calls_section,
                    triangle_section,
                    mindset_section, roots_section, bootstrap_section, parquet_section,
                    observational_section, gcm_roots_section, many_levels_section,
                    real_section, fused_section, balance_section, mechanisms_section,
                    notebooks_section,
                    adult_section,
                    fairness_truth_section, structure_section):
        section(out)
    path = os.path.join(HERE, "RESULTS.md")
    with open(path, "w") as fh:
        fh.write("\n".join(out).rstrip() + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
