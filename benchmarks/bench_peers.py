"""Peers benchmark: CCGM next to neural generative peers on the same 10k rows.

Data: ``dowhy_ccgm.experiments.demo.toy_scm`` (4-node nonlinear SCM, graph ``TOY_GRAPH``),
n training rows (default 10k, seed 0); a held-out sample of the true SCM (seed 999) is the
reference for accuracy. The parent process simulates the data once, writes it to a
temporary ``.npy`` file and starts one worker process per system:

* ``ccgm``       - ``CCGMGenerator(TOY_GRAPH)`` with default settings, in THIS interpreter
  (the package's virtualenv);
* ``ctgan``      - ``ctgan.CTGAN`` (default settings except ``--ctgan-epochs``), in the
  peers virtualenv (``--peers-python``; see benchmarks/peers/README.md);
* ``causalflow`` - a causal normalizing flow, ``causalflows.flows.CausalNSF`` with the true
  graph as its adjacency (Javaloy et al., 2023), trained here by maximum likelihood on
  standardized data (Adam, batch 256, early stopping on a 10% validation split), in the
  peers virtualenv.

Peers are never dependencies of dowhy_ccgm: they live in their own virtualenv and are run
in subprocesses. A peer whose package does not import (or whose interpreter is missing) is
skipped, and the reason is printed.

Reported per system: fit time, sampling throughput (rows/s for ``--sample-rows`` rows),
worker peak RSS and OBSERVATIONAL fidelity of ``--eval-rows`` generated rows against the
held-out truth: MMD^2 (RBF kernel on columns scaled by the truth's sd, median-heuristic
bandwidth, unbiased, on 3000-row subsamples; the line "truth vs truth" is the estimator's
noise level), the largest |mean error| in truth-sd units, the largest relative sd error and
the largest |correlation error|. CTGAN cannot intervene, so observational fidelity is the
only comparison with it; for the systems that can intervene (CCGM and the causal flow) the
interventional mean errors of E[x3|do(x1=1)], E[x4|do(x1=1)] and E[x4|do(x3=2)] are shown
as well.

Threads: each worker sets ``OMP_NUM_THREADS`` etc. and ``torch.set_num_threads(--threads)``
(default 1) and prints them.

Run (from the repository root, package virtualenv)::

    PYTHONPATH=. python benchmarks/bench_peers.py --quick
    PYTHONPATH=. python benchmarks/bench_peers.py --json peers.json
    PYTHONPATH=. python benchmarks/bench_peers.py --peers-python /path/to/venv/bin/python
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from _common import (ROOT, TOY_QUERIES, code_fingerprint, emit, git_head, load_avg, run_fresh,
                     set_torch_threads, status_mb, worker_env)
from _metrics import mmd2, write_json

COLUMNS = ["x1", "x2", "x3", "x4"]
EDGES = [("x1", "x3"), ("x2", "x3"), ("x3", "x4"), ("x1", "x4")]  # = TOY_GRAPH
QUERIES = TOY_QUERIES
PEERS = ("ctgan", "causalflow")
DEFAULT_PEERS_PYTHON = "/work/peers-venv/bin/python"


# ============================================================================ workers
def _torch_threads(threads: int) -> dict:
    set_torch_threads(threads)
    import torch
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")}


def _fit_ccgm(train: np.ndarray, args, res: dict):
    import networkx as nx
    import pandas as pd
    t0 = time.perf_counter()
    res["info"] = _torch_threads(args.threads)
    from dowhy_ccgm import CCGMGenerator
    res["import_s"] = time.perf_counter() - t0
    df = pd.DataFrame(train, columns=COLUMNS)
    t0 = time.perf_counter()
    gen = CCGMGenerator(nx.DiGraph(EDGES), random_state=args.seed, progress_bar=False).fit(df)
    res["fit_s"] = time.perf_counter() - t0
    res["info"]["epochs"] = int(gen.history_["epochs"])

    def sample(m):
        return gen.sample(m, random_state=args.seed + 1)[COLUMNS].to_numpy(np.float64)

    def intervene(do, m):
        return gen.intervene(do, n_samples=m, random_state=args.seed + 2)[COLUMNS].to_numpy()
    return sample, intervene


def _fit_ctgan(train: np.ndarray, args, res: dict):
    import pandas as pd
    t0 = time.perf_counter()
    res["info"] = _torch_threads(args.threads)
    import ctgan
    from ctgan import CTGAN
    res["import_s"] = time.perf_counter() - t0
    res["info"]["ctgan"] = ctgan.__version__
    res["info"]["epochs"] = args.ctgan_epochs
    df = pd.DataFrame(train, columns=COLUMNS)
    model = CTGAN(epochs=args.ctgan_epochs, enable_gpu=False)
    model.set_random_state(args.seed)
    t0 = time.perf_counter()
    model.fit(df, discrete_columns=[])
    res["fit_s"] = time.perf_counter() - t0

    def sample(m):
        return model.sample(m)[COLUMNS].to_numpy(np.float64)
    return sample, None


def _fit_causalflow(train: np.ndarray, args, res: dict):
    t0 = time.perf_counter()
    res["info"] = _torch_threads(args.threads)
    import torch
    import causalflows
    from causalflows.flows import CausalNSF
    res["import_s"] = time.perf_counter() - t0
    res["info"]["causalflows"] = causalflows.__version__
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    mean, sd = train.mean(0), train.std(0)
    x = torch.as_tensor((train - mean) / sd, dtype=torch.float32)
    perm = torch.as_tensor(rng.permutation(len(x)))
    n_val = max(1, int(0.1 * len(x)))
    x_val, x_tr = x[perm[:n_val]], x[perm[n_val:]]
    # adjacency[i, j]: x_j is a parent of x_i; ones on the diagonal (zuko's convention)
    adj = torch.eye(len(COLUMNS), dtype=torch.bool)
    for a, b in EDGES:
        adj[COLUMNS.index(b), COLUMNS.index(a)] = True
    t0 = time.perf_counter()
    flow = CausalNSF(len(COLUMNS), adjacency=adj)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    best, best_state, bad, epochs = float("inf"), None, 0, 0
    for epoch in range(args.flow_epochs):
        flow.train()
        for b in torch.randperm(len(x_tr)).split(256):
            loss = -flow().log_prob(x_tr[b]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        flow.eval()
        with torch.no_grad():
            val = float(-flow().log_prob(x_val).mean())
        epochs = epoch + 1
        if val < best - 1e-4:
            best, bad = val, 0
            best_state = {k: v.clone() for k, v in flow.state_dict().items()}
        else:
            bad += 1
            if bad >= args.flow_patience:
                break
    flow.load_state_dict(best_state)
    flow.eval()
    res["fit_s"] = time.perf_counter() - t0
    res["info"]["epochs"] = epochs
    res["info"]["model"] = ("CausalNSF(4, adjacency=true graph), Adam 1e-3, batch 256, "
                            f"patience {args.flow_patience}")

    def sample(m):
        with torch.no_grad():
            z = flow().sample((m,)).numpy().astype(np.float64)
        return z * sd + mean

    def intervene(do, m):
        (col, v), = do.items()
        k = COLUMNS.index(col)
        with torch.no_grad():
            z = flow().sample_interventional(k, float((v - mean[k]) / sd[k]), (m,))
        return z.numpy().astype(np.float64) * sd + mean
    return sample, intervene


FITTERS = {"ccgm": _fit_ccgm, "ctgan": _fit_ctgan, "causalflow": _fit_causalflow}


def worker(args) -> int:
    res = {"system": args.worker, "python": sys.executable, "pid": os.getpid()}
    train = np.load(os.path.join(args.workdir, "train.npy"))
    try:
        sample, intervene = FITTERS[args.worker](train, args, res)
    except ImportError as exc:
        res["skipped"] = f"not importable in {sys.executable}: {exc}"
        emit("RESULT", res)
        return 0
    sample(1000)  # warm-up of the sampling path
    t0 = time.perf_counter()
    out = sample(args.sample_rows)
    res["sample_s"] = time.perf_counter() - t0
    assert out.shape == (args.sample_rows, len(COLUMNS))
    del out
    np.save(os.path.join(args.workdir, f"eval_{args.worker}.npy"), sample(args.eval_rows))
    if intervene is not None:
        res["do_means"] = {label: float(intervene(do, args.accuracy_samples)[
            :, COLUMNS.index(col)].mean()) for col, do, label in QUERIES}
    res["peak_rss_mb"] = status_mb("VmHWM")
    emit("RESULT", res)
    return 0


# ============================================================================ metrics
def observational_metrics(gen: np.ndarray, truth: np.ndarray, rng) -> dict:
    sd = truth.std(0)
    return {
        "mmd2": mmd2(gen, truth, sd, rng, n_max=3000),
        "mean_err_sd": float(np.max(np.abs(gen.mean(0) - truth.mean(0)) / sd)),
        "sd_rel_err": float(np.max(np.abs(gen.std(0) / sd - 1))),
        "corr_err": float(np.max(np.abs(np.corrcoef(gen.T) - np.corrcoef(truth.T)))),
    }


def toy_truth(n: int, seed: int, do: dict | None = None) -> np.ndarray:
    sys.path.insert(0, ROOT)
    from dowhy_ccgm.experiments.demo import toy_scm
    return toy_scm(n, seed, do)[COLUMNS].to_numpy(np.float64)


# ============================================================================ parent
def run_worker(system: str, python: str, workdir: str, args) -> dict:
    if not os.path.exists(python):
        return {"system": system, "skipped": f"interpreter {python} not found (set up the "
                                             "peers virtualenv, see benchmarks/peers/README.md)"}
    cmd = [python, os.path.abspath(__file__), "--worker", system, "--workdir", workdir,
           "--threads", str(args.threads), "--seed", str(args.seed), "--sample-rows",
           str(args.sample_rows), "--eval-rows", str(args.eval_rows), "--accuracy-samples",
           str(args.accuracy_samples), "--ctgan-epochs", str(args.ctgan_epochs),
           "--flow-epochs", str(args.flow_epochs), "--flow-patience", str(args.flow_patience)]
    # PYTHONPATH is the repository alone: a peer's worker runs in the peers virtualenv
    run = run_fresh(cmd, tag="RESULT", env=worker_env(args.threads, keep_pythonpath=False),
                    cwd=ROOT, timeout=args.timeout, merge_stderr=False)
    if run.timed_out:
        return {"system": system, "skipped": f"killed after the --timeout of {args.timeout} s"}
    if run.returncode != 0 or run.result is None:
        tail = run.tail(text=run.errors or run.output)
        return {"system": system, "skipped": f"worker failed (exit {run.returncode}): {tail}"}
    res = run.result
    res["process_wall_s"] = run.wall_s
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="training rows")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 100k sampled rows, CTGAN 30 epochs, flow <= 30 epochs")
    p.add_argument("--systems", default="ccgm,ctgan,causalflow")
    p.add_argument("--peers-python", default=os.environ.get("PEERS_PYTHON",
                                                            DEFAULT_PEERS_PYTHON),
                   help="interpreter of the peers virtualenv (env PEERS_PYTHON)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sample-rows", type=int, default=1_000_000)
    p.add_argument("--eval-rows", type=int, default=20_000)
    p.add_argument("--accuracy-samples", type=int, default=200_000)
    p.add_argument("--ctgan-epochs", type=int, default=300, help="CTGAN's default is 300")
    p.add_argument("--flow-epochs", type=int, default=200)
    p.add_argument("--flow-patience", type=int, default=10)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", choices=sorted(FITTERS), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.quick:
        args.sample_rows = min(args.sample_rows, 100_000)
        args.accuracy_samples = min(args.accuracy_samples, 50_000)
        args.ctgan_epochs = min(args.ctgan_epochs, 30)
        args.flow_epochs = min(args.flow_epochs, 30)
    systems = [s for s in args.systems.split(",") if s]
    load = load_avg()
    print(f"code: git {git_head()}, dowhy_ccgm source fingerprint {code_fingerprint()}")
    print(f"bench_peers: n={args.n:,} systems={systems} threads={args.threads} "
          f"sample_rows={args.sample_rows:,} eval_rows={args.eval_rows:,} "
          f"ctgan_epochs={args.ctgan_epochs} flow_epochs<={args.flow_epochs}; "
          f"{os.cpu_count()} CPUs, load {load}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as workdir:
        np.save(os.path.join(workdir, "train.npy"), toy_truth(args.n, args.seed))
        for system in systems:
            python = sys.executable if system == "ccgm" else args.peers_python
            r = run_worker(system, python, workdir, args)
            if "skipped" not in r:
                r["eval"] = np.load(os.path.join(workdir, f"eval_{system}.npy"))
                print(f"  {system:10s} fit {r['fit_s']:.1f}s sample {r['sample_s']:.2f}s "
                      f"[{r['process_wall_s']:.0f}s wall; {r['info']}]", flush=True)
            else:
                print(f"  {system:10s} SKIPPED: {r['skipped']}", flush=True)
            results[system] = r

    truth = toy_truth(args.eval_rows, 999)
    truth2 = toy_truth(args.eval_rows, 998)
    do_truth = {label: float(toy_truth(1_000_000, 123, do)[:, COLUMNS.index(col)].mean())
                for col, do, label in QUERIES}
    rows = []
    for system in systems:
        r = results[system]
        row = {"system": system}
        if "skipped" in r:
            row["skipped"] = r["skipped"]
        else:
            row.update({"fit_s": r["fit_s"], "rows_per_s": args.sample_rows / r["sample_s"],
                        "peak_rss_mb": r.get("peak_rss_mb"), "epochs": r["info"].get("epochs")})
            row.update(observational_metrics(r["eval"], truth, np.random.default_rng(1)))
            if "do_means" in r:
                row["do_err"] = {k: abs(v - do_truth[k]) for k, v in r["do_means"].items()}
        rows.append(row)
    rows.append(dict({"system": "truth vs truth"},
                     **observational_metrics(truth2, truth, np.random.default_rng(1))))

    head = (f"{'system':<15} {'fit s':>7} {'epochs':>6} {'rows/s':>9} {'RSS MB':>7} "
            f"{'MMD^2':>8} {'|mean|/sd':>9} {'sd rel':>7} {'corr':>6} "
            + " ".join(f"{lbl:>15}" for _, _, lbl in QUERIES))
    print("\n" + head + "\n" + "-" * len(head))
    for row in rows:
        if "skipped" in row:
            print(f"{row['system']:<15} skipped: {row['skipped']}")
            continue

        def f(key, fmt):
            v = row.get(key)
            return format(v, fmt) if v is not None else "-"
        rate = f"{row['rows_per_s'] / 1e3:,.0f}k" if "rows_per_s" in row else "-"
        errs = row.get("do_err")
        err_cols = " ".join(
            f"{(format(errs[lbl], '.4f') if errs else ('n/a' if 'fit_s' in row else '-')):>15}"
            for _, _, lbl in QUERIES)
        print(f"{row['system']:<15} {f('fit_s', '7.1f'):>7} {f('epochs', '6d'):>6} {rate:>9} "
              f"{f('peak_rss_mb', '7.0f'):>7} {row['mmd2']:8.5f} {row['mean_err_sd']:9.4f} "
              f"{row['sd_rel_err']:7.4f} {row['corr_err']:6.3f} {err_cols}")
    print("\nObservational columns: lower is better (MMD^2 of 'truth vs truth' = noise level). "
          "Interventional columns: |error| of the mean vs the true SCM; 'n/a' = the system "
          "cannot intervene (CTGAN models the joint distribution only, so it is compared on "
          "observational fidelity alone).")
    if args.json:
        write_json(args.json, {"args": vars(args), "rows": rows, "do_truth": do_truth})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
