"""Generation beyond memory: ``sample_to_parquet`` throughput and memory.

The improved mindset CCGM (``dowhy_ccgm.experiments.mindset.fit_improved_model``, fit on
the shipped data) writes ``--rows`` de-biased rows (edges into the treatment removed) as
Parquet partitions with 1 and 2 workers. Printed: rows per second per worker (target at
least 1M rows/s per core to local disk), the in-memory ``sample`` rate and a pandas
``to_parquet`` of an in-memory sample as baselines measured in the same run, the peak RSS
of each run's worker process (fresh processes, so the peaks are comparable) and whether
the files of the two runs are identical.

Run::

    PYTHONPATH=. python benchmarks/bench_parquet.py [--rows 10000000] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from _common import run_fresh, set_torch_threads
from _metrics import write_json

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(1)
from dowhy_ccgm import CCGMGenerator
from dowhy_ccgm.parquet import sample_to_parquet
gen = CCGMGenerator.load(sys.argv[1])
rows, jobs = int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
sample_to_parquet(gen, sys.argv[2], rows, random_state=0, n_jobs=jobs, progress_bar=False)
wall = time.perf_counter() - t
from joblib.externals.loky import get_reusable_executor
get_reusable_executor().shutdown(wait=True)    # reap the workers: their peak RSS counts
print(json.dumps({"wall_s": wall,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "children_peak_rss_mb":
                      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def child(*argv) -> dict:
    """``CHILD`` in a fresh process: its JSON line (CalledProcessError when it fails)."""
    cmd = [sys.executable, "-c", CHILD, *map(str, argv)]
    run = run_fresh(cmd, merge_stderr=False)
    if run.returncode != 0:
        raise subprocess.CalledProcessError(run.returncode, cmd, run.output, run.errors)
    return run.result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    import pandas as pd

    from dowhy_ccgm.datasets import load_mindset
    from dowhy_ccgm.experiments import mindset as M
    set_torch_threads(1)
    gen = M.fit_improved_model(load_mindset(), random_state=0, progress_bar=False)
    cut = M.debias_treatment(gen, "marginal", 0)
    out = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.ccgm")
        cut.save(model)
        # baselines: in-memory sampling of 1M rows, and pandas' own Parquet writer of them
        import pyarrow.parquet  # noqa: F401  (its import is not the writer's cost)
        t = time.perf_counter()
        frame = cut.sample(1_000_000, random_state=1)
        out["sample_rows_per_s"] = 1_000_000 / (time.perf_counter() - t)
        t = time.perf_counter()
        frame.to_parquet(os.path.join(tmp, "pandas.parquet"), index=False)
        out["pandas_to_parquet_rows_per_s"] = 1_000_000 / (time.perf_counter() - t)
        # memory baseline: the same process writing a tenth of the rows
        small = child(model, os.path.join(tmp, "small"), args.rows // 10, 1)
        out["peak_rss_mb_tenth_of_the_rows"] = small["peak_rss_mb"]
        print(f"1 worker, {args.rows // 10:,} rows: peak RSS {small['peak_rss_mb']:.0f} MB",
              flush=True)
        for jobs in (1, 2):
            r = child(model, os.path.join(tmp, f"w{jobs}"), args.rows, jobs)
            r["rows_per_s"] = args.rows / r["wall_s"]
            r["rows_per_s_per_worker"] = r["rows_per_s"] / jobs
            out[f"workers_{jobs}"] = r
            print(f"{jobs} worker(s): {args.rows:,} rows in {r['wall_s']:.1f} s = "
                  f"{r['rows_per_s'] / 1e6:.2f} M rows/s ({r['rows_per_s_per_worker'] / 1e6:.2f}"
                  f" M rows/s per worker); peak RSS {r['peak_rss_mb']:.0f} MB (workers "
                  f"{r['children_peak_rss_mb']:.0f} MB)", flush=True)
        a = pd.read_parquet(os.path.join(tmp, "w1"))
        b = pd.read_parquet(os.path.join(tmp, "w2"))
        out["identical"] = bool(a.equals(b))
        out["debiased_naive_ate"] = float(a[M.Y][a[M.D] == 1].mean()
                                          - a[M.Y][a[M.D] == 0].mean())
        out["bytes_per_row"] = float(sum(
            os.path.getsize(os.path.join(tmp, "w1", f)) for f in os.listdir(
                os.path.join(tmp, "w1"))) / args.rows)
    out["speedup_2_workers"] = out["workers_1"]["wall_s"] / out["workers_2"]["wall_s"]
    out["target_1M_rows_per_s_per_core"] = bool(
        out["workers_1"]["rows_per_s_per_worker"] >= 1e6)
    print(f"in-memory sample: {out['sample_rows_per_s'] / 1e6:.2f} M rows/s; pandas "
          f"to_parquet of it: {out['pandas_to_parquet_rows_per_s'] / 1e6:.2f} M rows/s")
    print(f"2 workers vs 1: x{out['speedup_2_workers']:.2f}; identical files: "
          f"{out['identical']}; de-biased naive ATE of the {args.rows:,} rows: "
          f"{out['debiased_naive_ate']:.4f}; {out['bytes_per_row']:.1f} bytes/row")
    print(f"target >= 1M rows/s per core: "
          f"{'PASS' if out['target_1M_rows_per_s_per_core'] else 'MISS'}")
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
