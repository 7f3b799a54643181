"""Core benchmark: CCGMGenerator vs DoWhy's auto-assigned GCM on a 4-node nonlinear SCM.

The SCM is ``dowhy_ccgm.experiments.demo.toy_scm`` on ``TOY_GRAPH``::

    x1, x2 ~ N(0, 1)
    x3 = sin(2 x1) + 0.5 x2^2 + 0.3 e3
    x4 = 0.8 x3 - 0.5 x1 + 0.3 e4

Systems (both with their default settings):

* ``ccgm``:  ``CCGMGenerator(TOY_GRAPH).fit(data)``; sampling ``gen.sample(m)``;
  interventions ``gen.intervene(do, n_samples=...)``;
* ``dowhy``: ``gcm.InvertibleStructuralCausalModel(TOY_GRAPH)``,
  ``gcm.auto.assign_causal_mechanisms(scm, data, quality=GOOD)`` + ``gcm.fit``; sampling
  ``gcm.draw_samples(scm, m)``; interventions ``gcm.interventional_samples``.
  The reported DoWhy fit time is assignment (model selection) + ``gcm.fit``.

For every size n and system, two fresh worker processes run (``--worker``):

* ``cold``: interpreter start -> import -> fit -> sample 1M rows -> exit. Its end-to-end
  time (launch to end of sampling, minus the time spent simulating the data) and its
  peak RSS (``os.wait4`` rusage of the child, i.e. ``ru_maxrss``) are the cold numbers;
* ``warm``: imports plus a tiny warm-up fit/sample first (one-time costs: lazy imports,
  allocator warm-up), then the timed fit, two timed samplings (the second is reported),
  the memory increments and the accuracy. Memory per phase: the peak RSS of the phase
  (``VmHWM``, reset between phases through ``/proc/self/clear_refs``; a 5 ms RSS poller
  where that is not allowed) minus the RSS before the phase.

Threads: every worker gets ``OMP_NUM_THREADS = MKL_NUM_THREADS = OPENBLAS_NUM_THREADS =
--threads`` (default 1) before numpy loads, ``torch.set_num_threads(--threads)``,
``threadpoolctl.threadpool_limits(--threads)`` around all work (sklearn's
HistGradientBoosting uses OpenMP), and DoWhy's ``gcm.config.default_n_jobs =
--dowhy-jobs`` (default 1: DoWhy's own default of -1 runs its model selection in
joblib/loky processes, which the RSS of the worker would not include). The workers print
what they use. Note that ``CCGMGenerator.fit`` runs with 1 torch thread by default
(``n_threads=None``) whatever the global setting; ``sample`` uses the global one.

Accuracy, at equal footing: interventional means vs the truth (``toy_scm(1_000_000, 123,
do=...)``), for E[x3 | do(x1=1)], E[x4 | do(x1=1)] and E[x4 | do(x3=2)] (E[x3 | do(x3=2)]
is 2 exactly for both), from ``--accuracy-samples`` draws (default 200k; Monte-Carlo sd
of the error about 0.002-0.003).

The project's speed and memory targets (PASS/MISS printed):

* CCGM fit (warm) no slower than DoWhy's at 10k rows;
* CCGM sampling at least 1M rows/s (warm; every n);
* CCGM fit memory that does not grow with n beyond the data: the growth of the fit's
  RSS increment between the two largest n (below ~100k rows the capped buffers -
  validation rows, inversion chunks - are still filling up), divided by the growth of
  the data frame's size, must be at most ``--mem-copies`` (default 3: a few copies of the data,
  no per-row activations or per-row training state beyond that), plus 25 MB of slack
  for allocator noise.

``--profile`` adds an in-process profile of CCGM at the smallest n: where fit time goes
(per-step cost split into forward/backward/optimizer, epochs to early stopping,
validation, checkpoint copies, one-time imports) and where ``sample(1M)`` time goes
(noise, ``net.generate`` over the row chunks, DataFrame building), plus what-if
measurements that need no change of the core (benchmark-side monkeypatches or public
parameters only): ``batch_size``/``patience``, with their
accuracy; the generation's chunk size; and, at ``--profile-mem-n`` rows (default 1M), a
trace of the fit's RSS through its phases, in a fresh process.

Every worker reports a fingerprint of the dowhy_ccgm source it imported; the script warns
when a run straddles an edit of the core.

Run (from the repository root, main virtualenv)::

    PYTHONPATH=. python benchmarks/bench_core.py --quick
    PYTHONPATH=. python benchmarks/bench_core.py --sizes 10000,100000,1000000 --json out.json
    PYTHONPATH=. python benchmarks/bench_core.py --sizes 10000 --profile --no-cold
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

T_LAUNCH = time.time()  # as early as possible (worker e2e timing)

from _common import (MB, ROOT, TOY_QUERIES, PeakRSS, code_fingerprint,  # noqa: E402
                     emit, fit_dowhy_good, git_head, load_avg, rss_mb, run_fresh,
                     set_torch_threads, status_mb, toy_do_truth, worker_env)

SYSTEMS = ("ccgm", "dowhy")
QUERIES = TOY_QUERIES
MEM_SLACK_MB = 25.0  # allocator/measurement noise allowed in the memory target


# ============================================================================ worker
class _System:
    """Uniform fit / sample / intervene over the two systems (imports happen in load())."""

    def __init__(self, name: str, seed: int, threads: int, dowhy_jobs: int):
        self.name, self.seed, self.threads, self.dowhy_jobs = name, seed, threads, dowhy_jobs
        self.model = None
        self.info = {}

    def load(self):
        if self.name == "ccgm":
            set_torch_threads(self.threads)
            import torch
            from dowhy_ccgm import CCGMGenerator
            self._cls = CCGMGenerator
            self.info["torch_threads"] = torch.get_num_threads()
            self.info["torch_interop_threads"] = torch.get_num_interop_threads()
        else:
            import warnings
            warnings.filterwarnings("ignore")
            from dowhy import gcm
            gcm.config.disable_progress_bars()
            gcm.config.set_default_n_jobs(self.dowhy_jobs)
            self._gcm = gcm
            self.info["dowhy_n_jobs"] = gcm.config.default_n_jobs

    def fit(self, data, graph, **kw):
        # a fresh copy every time: gcm.ProbabilisticCausalModel keeps its mechanisms in the
        # graph's node attributes, so reusing one graph object silently skips the
        # auto-assignment of a later fit (override_models=False)
        import networkx as nx
        graph = nx.DiGraph(graph)
        if self.name == "ccgm":
            self.model = self._cls(graph, random_state=self.seed, progress_bar=False,
                                   **kw).fit(data)
            self.info["epochs"] = round(float(self.model.history_["epochs"]), 1)
            return
        scm, _ = fit_dowhy_good(graph, data, self.seed, copy_graph=False, timings=self.info)
        self.info["mechanisms"] = {str(n): str(scm.causal_mechanism(n)) for n in graph.nodes}
        self.model = scm

    def sample(self, m: int):
        if self.name == "ccgm":
            return self.model.sample(m, random_state=self.seed + 1)
        return self._gcm.draw_samples(self.model, m)

    def intervene(self, do: dict, m: int):
        if self.name == "ccgm":
            return self.model.intervene(do, n_samples=m, random_state=self.seed + 2)
        interventions = {k: (lambda x, v=v: v) for k, v in do.items()}
        return self._gcm.interventional_samples(self.model, interventions,
                                                num_samples_to_draw=m)


def worker(args) -> int:
    """One system, one n, one mode; prints one JSON line prefixed with RESULT."""
    from threadpoolctl import threadpool_info, threadpool_limits

    t_imp0 = time.perf_counter()
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    common_import_s = time.perf_counter() - t_imp0
    res = {"system": args.worker, "n": args.n, "mode": args.mode, "threads": args.threads,
           "pid": os.getpid()}
    t_launch = args.launch_time if args.launch_time else T_LAUNCH
    with threadpool_limits(limits=args.threads):
        t0 = time.perf_counter()
        data = toy_scm(args.n, args.seed)
        data_s = time.perf_counter() - t0
        res["data_mb"] = float(data.memory_usage(deep=True).sum()) / MB
        res["data_s"] = data_s
        res["common_import_s"] = common_import_s
        sysm = _System(args.worker, args.seed, args.threads, args.dowhy_jobs)
        t0 = time.perf_counter()
        sysm.load()
        res["import_s"] = time.perf_counter() - t0
        res["code"] = code_fingerprint(loaded_only=True)
        res["omp_env"] = os.environ.get("OMP_NUM_THREADS")
        res["blas_openmp_pools"] = sorted({f"{d['internal_api']}:{d['num_threads']}"
                                           for d in threadpool_info()})
        if args.mode == "cold":
            t0 = time.perf_counter()
            sysm.fit(data, TOY_GRAPH)
            res["fit_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = sysm.sample(args.sample_rows)
            res["sample_s"] = time.perf_counter() - t0
            assert len(out) == args.sample_rows
            # launch (parent's clock) -> end of first sample, minus simulating the data
            res["e2e_s"] = time.time() - t_launch - data_s
        else:
            # warm-up: one-time costs (lazy imports, first optimizer, sklearn submodules)
            small = toy_scm(500, args.seed + 7)
            kw = {"epochs": 1, "pretrain_epochs": 1} if args.worker == "ccgm" else {}
            t0 = time.perf_counter()
            sysm.fit(small, TOY_GRAPH, **kw)
            sysm.sample(1000)
            res["warmup_s"] = time.perf_counter() - t0
            sysm.info.clear()
            sysm.load()
            base = rss_mb()
            with PeakRSS() as pk:
                t0 = time.perf_counter()
                sysm.fit(data, TOY_GRAPH)
                res["fit_s"] = time.perf_counter() - t0
            res["mem_method"] = pk.method
            res["rss_before_fit_mb"] = base
            res["fit_peak_mb"] = pk.peak
            res["fit_incr_mb"] = pk.peak - base
            times = []
            for rep in range(2):
                base = rss_mb()
                with PeakRSS() as pk:
                    t0 = time.perf_counter()
                    out = sysm.sample(args.sample_rows)
                    times.append(time.perf_counter() - t0)
                    assert len(out) == args.sample_rows
                    del out
                if rep == 0:
                    res["sample_incr_mb"] = pk.peak - base
                    res["sample_peak_mb"] = pk.peak
            res["sample_s_first"] = times[0]
            res["sample_s"] = times[1]
            errs = {}
            for col, do, label in QUERIES:
                truth = toy_do_truth(col, do)
                est = float(sysm.intervene(do, args.accuracy_samples)[col].mean())
                errs[label] = {"est": est, "truth": truth, "abs_err": abs(est - truth)}
            res["accuracy"] = errs
            res["max_abs_err"] = max(e["abs_err"] for e in errs.values())
        res["info"] = sysm.info
        res["vm_hwm_end_mb"] = status_mb("VmHWM")
    emit("RESULT", res)
    return 0


# ============================================================================ parent
def run_worker_rusage(system: str, n: int, mode: str, args) -> dict:
    """Run one worker process; its own peak RSS comes from os.wait4 (per-child rusage)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", system, "--n", str(n),
           "--mode", mode, "--threads", str(args.threads), "--dowhy-jobs",
           str(args.dowhy_jobs), "--sample-rows", str(args.sample_rows), "--seed",
           str(args.seed), "--accuracy-samples", str(args.accuracy_samples)]
    cmd += ["--launch-time", repr(time.time())]
    run = run_fresh(cmd, tag="RESULT", env=worker_env(args.threads), cwd=ROOT,
                    timeout=args.timeout)
    if run.timed_out:
        return {"system": system, "n": n, "mode": mode, "wall_s": run.wall_s,
                "skipped": f"killed after the --timeout of {args.timeout:.0f} s"}
    if run.returncode != 0 or run.result is None:
        return {"system": system, "n": n, "mode": mode, "wall_s": run.wall_s,
                "skipped": f"worker failed (exit {run.returncode}): {run.tail()}"}
    res = run.result
    res["process_wall_s"] = run.wall_s
    res["ru_maxrss_mb"] = run.maxrss_mb
    return res


def _fmt(v, kind):
    if v is None:
        return "-"
    if kind == "rate":
        return f"{v / 1e3:,.0f}k"
    if kind == "err":
        return f"{v:.4f}"
    if kind == "int":
        return f"{v:.0f}"
    return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"


def build_table(results: dict, sizes, args):
    """results[(system, n, mode)] -> rows (n, metric, ccgm, dowhy, ratio)."""
    def get(system, n, mode, key):
        r = results.get((system, n, mode))
        if r is None or "skipped" in r:
            return None
        if key == "rate":
            return args.sample_rows / r["sample_s"] if "sample_s" in r else None
        if key.startswith("acc:"):
            return r["accuracy"][key[4:]]["abs_err"] if "accuracy" in r else None
        return r.get(key)

    metrics = [
        ("fit time, warm [s]", "warm", "fit_s", "num"),
        ("fit time, 1st in fresh process [s]", "cold", "fit_s", "num"),
        (f"sampling {args.sample_rows:,} rows, warm [rows/s]", "warm", "rate", "rate"),
        ("sampling, 1st call in fresh process [rows/s]", "cold", "rate", "rate"),
        ("import of the system [s]", "cold", "import_s", "num"),
        ("cold end-to-end: start+import+fit+sample [s]", "cold", "e2e_s", "num"),
        ("peak RSS, cold process [MB]", "cold", "ru_maxrss_mb", "num"),
        ("data frame [MB]", "warm", "data_mb", "num"),
        ("fit: peak RSS - RSS before fit [MB]", "warm", "fit_incr_mb", "num"),
        ("sample: peak RSS - RSS before [MB]", "warm", "sample_incr_mb", "num"),
    ] + [(f"|err| {label}", "warm", f"acc:{label}", "err") for _, _, label in QUERIES] + [
        ("max |err| of the 3 queries", "warm", "max_abs_err", "err"),
    ]
    rows = []
    for n in sizes:
        for label, mode, key, kind in metrics:
            c, d = get("ccgm", n, mode, key), get("dowhy", n, mode, key)
            ratio = (c / d) if (c is not None and d not in (None, 0)) else None
            rows.append({"n": n, "metric": label, "ccgm": c, "dowhy": d, "ratio": ratio,
                         "kind": kind})
    return rows


def print_table(rows):
    w = max(len(r["metric"]) for r in rows)
    head = f"{'n':>9}  {'metric':<{w}}  {'CCGM':>12}  {'DoWhy':>12}  {'CCGM/DoWhy':>10}"
    print(head)
    print("-" * len(head))
    last = None
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        n = f"{r['n']:,}" if r["n"] != last else ""
        last = r["n"]
        print(f"{n:>9}  {r['metric']:<{w}}  {_fmt(r['ccgm'], r['kind']):>12}  "
              f"{_fmt(r['dowhy'], r['kind']):>12}  {ratio:>10}")


def targets(results, sizes, args):
    out = []
    n0 = 10_000 if 10_000 in sizes else min(sizes)
    c = results.get(("ccgm", n0, "warm"), {})
    d = results.get(("dowhy", n0, "warm"), {})
    if "fit_s" in c and "fit_s" in d:
        ok = c["fit_s"] <= d["fit_s"]
        out.append(("fit no slower than DoWhy GOOD at n=%s" % f"{n0:,}", ok,
                    f"CCGM {c['fit_s']:.1f} s vs DoWhy {d['fit_s']:.1f} s "
                    f"(ratio {c['fit_s'] / d['fit_s']:.2f}; {args.threads} thread(s) each; "
                    f"CCGM stopped after {c['info'].get('epochs')} passes over the data)"))
    else:
        out.append((f"fit no slower than DoWhy at n={n0:,}", None, "not measured"))
    rates = {n: args.sample_rows / results[("ccgm", n, "warm")]["sample_s"] for n in sizes
             if "sample_s" in results.get(("ccgm", n, "warm"), {})}
    if rates:
        ok = min(rates.values()) >= 1e6
        out.append(("sampling >= 1M rows/s", ok, ", ".join(
            f"n={n:,}: {r / 1e6:.2f}M rows/s" for n, r in rates.items())))
    mem = {n: results[("ccgm", n, "warm")] for n in sizes
           if "fit_incr_mb" in results.get(("ccgm", n, "warm"), {})}
    if len(mem) >= 2:
        # the two largest sizes: below ~100k rows the capped buffers (validation rows <= 20k,
        # 65k-row inversion chunks) are still filling up, which is not growth with n
        lo, hi = sorted(mem)[-2:]
        d_incr = mem[hi]["fit_incr_mb"] - mem[lo]["fit_incr_mb"]
        d_data = mem[hi]["data_mb"] - mem[lo]["data_mb"]
        copies = d_incr / d_data
        ok = d_incr <= args.mem_copies * d_data + MEM_SLACK_MB
        out.append(("fit memory does not grow with n beyond the data", ok,
                    "fit increments " + ", ".join(f"{m['fit_incr_mb']:.0f} MB at n={k:,}"
                                                  for k, m in sorted(mem.items()))
                    + f"; growth {lo:,} -> {hi:,}: {d_incr:.0f} MB for {d_data:.0f} MB more "
                    f"data = {copies:.1f} data copies (PASS if growth <= {args.mem_copies:g} x "
                    f"data growth + {MEM_SLACK_MB:g} MB)"))
    else:
        out.append(("fit memory does not grow with n beyond the data", None,
                    "needs at least two sizes"))
    if mem:
        top = max(mem)
        copies = mem[top]["fit_incr_mb"] / mem[top]["data_mb"]
        out.append((f"fit memory at n={top:,} at most 2 copies of the data beyond the data "
                    "(issue 8)", copies <= 2.0,
                    f"fit increment {mem[top]['fit_incr_mb']:.0f} MB for a "
                    f"{mem[top]['data_mb']:.0f} MB data frame = {copies:.2f} copies"))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,100000,1000000",
                   help="comma-separated numbers of training rows")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: n=10k only, 100k sampled rows, 20k accuracy draws")
    p.add_argument("--json", metavar="PATH", help="write the raw results and table rows")
    p.add_argument("--threads", type=int, default=1,
                   help="torch/OpenMP/BLAS threads of every worker (default 1)")
    p.add_argument("--dowhy-jobs", type=int, default=1,
                   help="gcm.config.default_n_jobs (default 1; DoWhy's own default is -1)")
    p.add_argument("--sample-rows", type=int, default=1_000_000)
    p.add_argument("--accuracy-samples", type=int, default=200_000)
    p.add_argument("--systems", default="ccgm,dowhy")
    p.add_argument("--no-cold", action="store_true", help="skip the cold-start workers")
    p.add_argument("--no-warm", action="store_true", help="skip the warm workers")
    p.add_argument("--cold-sizes", default=None,
                   help="sizes for the cold workers (default: all --sizes)")
    p.add_argument("--timeout", type=float, default=1200.0,
                   help="seconds before a worker is killed (its row says so)")
    p.add_argument("--dowhy-max-n", type=int, default=None,
                   help="skip DoWhy above this n (reason printed)")
    p.add_argument("--mem-copies", type=float, default=3.0,
                   help="memory target: allowed fit-increment growth in copies of the data")
    p.add_argument("--profile", action="store_true",
                   help="also profile CCGM in-process at the smallest n")
    p.add_argument("--profile-mem-n", type=int, default=1_000_000,
                   help="rows of the --profile fit-memory trace (0: skip)")
    p.add_argument("--profile-seeds", default="0",
                   help="seeds of the --profile what-if fits (comma-separated)")
    p.add_argument("--seed", type=int, default=0)
    # worker mode (internal)
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=("cold", "warm"), help=argparse.SUPPRESS)
    p.add_argument("--launch-time", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--memtrace", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.memtrace:
        from bench_core_profile import memtrace
        return memtrace(args)

    if args.quick:
        args.sizes = "10000"
        args.sample_rows = min(args.sample_rows, 100_000)
        args.accuracy_samples = min(args.accuracy_samples, 20_000)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    cold_sizes = sizes if args.cold_sizes is None else \
        [int(s) for s in args.cold_sizes.split(",") if s.strip()]
    systems = [s for s in args.systems.split(",") if s]
    print(f"bench_core: sizes={sizes} systems={systems} threads={args.threads} "
          f"dowhy_jobs={args.dowhy_jobs} sample_rows={args.sample_rows:,} "
          f"accuracy_samples={args.accuracy_samples:,}")
    code0 = code_fingerprint()
    print(f"code: git {git_head()}, dowhy_ccgm source fingerprint {code0} (workers report "
          f"the fingerprint of the modules they import)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_avg()} at start "
          f"(timings are inflated on a loaded machine; ratios from the same run count)")
    results = {}
    plan = []
    for n in sizes:
        for system in systems:
            if not args.no_warm:
                plan.append((system, n, "warm"))
            if not args.no_cold and n in cold_sizes:
                plan.append((system, n, "cold"))
    for system, n, mode in plan:
        if system == "dowhy" and args.dowhy_max_n is not None and n > args.dowhy_max_n:
            results[(system, n, mode)] = {"skipped": f"n > --dowhy-max-n={args.dowhy_max_n}"}
            print(f"  {system:5s} n={n:>9,} {mode:4s}: SKIPPED (n > --dowhy-max-n)")
            continue
        t0 = time.time()
        r = run_worker_rusage(system, n, mode, args)
        results[(system, n, mode)] = r
        if "skipped" in r:
            print(f"  {system:5s} n={n:>9,} {mode:4s}: SKIPPED ({r['skipped']})", flush=True)
            continue
        extra = ""
        if mode == "warm":
            extra = (f" sample {r['sample_s']:.2f}s (1st {r['sample_s_first']:.2f}s) "
                     f"fit+{r['fit_incr_mb']:.0f}MB max|err| {r['max_abs_err']:.4f}")
        else:
            extra = f" sample {r['sample_s']:.2f}s e2e {r['e2e_s']:.1f}s"
        if mode == "cold":  # warm workers reset VmHWM per phase, so ru_maxrss is partial
            extra += f" peak {r['ru_maxrss_mb']:.0f}MB"
        print(f"  {system:5s} n={n:>9,} {mode:4s}: fit {r['fit_s']:.2f}s{extra} "
              f"[{time.time() - t0:.0f}s wall; threads: "
              f"{r['info'].get('torch_threads', r['info'].get('dowhy_n_jobs'))}, "
              f"OMP={r['omp_env']}, pools={r['blas_openmp_pools']}]", flush=True)
        if mode == "warm" and system == "dowhy":
            print(f"        DoWhy: assign {r['info']['assign_s']:.2f}s + gcm.fit "
                  f"{r['info']['gcm_fit_s']:.2f}s; mechanisms {r['info']['mechanisms']}")
        if mode == "warm" and system == "ccgm":
            print(f"        CCGM: {r['info']['epochs']} epochs to early stopping")
    print(f"\nload average at end {load_avg()}")
    for system in systems:
        codes = {r.get("code") for (sy, _, _), r in results.items() if sy == system and
                 r.get("code")}
        if len(codes) > 1:
            print(f"WARNING: the dowhy_ccgm modules used by {system} changed during the run "
                  f"(fingerprints {sorted(codes)}): its rows mix code versions, re-run")
    print()
    rows = build_table(results, sizes, args)
    print_table(rows)
    print("\nTargets (issues 2 and 8):")
    tg = targets(results, sizes, args)
    for name, ok, detail in tg:
        flag = "PASS" if ok else ("MISS" if ok is not None else "n/a ")
        print(f"  [{flag}] {name}: {detail}")
    skipped = [(k, v["skipped"]) for k, v in results.items() if "skipped" in v]
    for (system, n, mode), why in skipped:
        print(f"  note: {system} n={n:,} {mode} skipped: {why}")
    prof = None
    if args.profile:
        from bench_core_profile import profile_ccgm
        prof = profile_ccgm(min(sizes), args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "load_avg_end": load_avg(), "git": git_head(),
                       "code_fingerprint": code0,
                       "results": [dict(v, key=list(k)) for k, v in results.items()],
                       "table": rows,
                       "targets": [{"target": t, "pass": ok, "detail": d} for t, ok, d in tg],
                       "profile": prof}, fh, indent=2, default=str)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
