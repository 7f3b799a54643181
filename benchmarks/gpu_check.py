"""Fit and sampling at 1M rows on CUDA against the CPU, in one process (the GPU check).

The 4-node SCM of ``bench_core`` (``dowhy_ccgm.experiments.demo.toy_scm``), ``--n`` rows
(default 1M). For each device: the default ``CCGMGenerator`` fit (wall time, passes,
steps), ``sample(1M)`` twice (the second is reported), and the worst interventional error
of bench_core's three queries, so that a device that is fast but wrong shows as such.
Without CUDA the CUDA rows are reported as skipped, and the script still exits 0.

Run with ``bash benchmarks/gpu_check.sh`` (it sets PYTHONPATH and prints the table).
"""
from __future__ import annotations

import argparse
import sys
import time

from _common import TOY_QUERIES, set_torch_threads, toy_do_truth
from _metrics import write_json


def run(device: str, n: int, threads: int, seed: int) -> dict:
    import torch
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    set_torch_threads(threads)
    data = toy_scm(n, seed)
    queries = [(c, do) for c, do, _ in TOY_QUERIES]
    truth = [toy_do_truth(c, d) for c, d in queries]
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    gen = CCGMGenerator(TOY_GRAPH, device=device, n_threads=threads, random_state=seed,
                        progress_bar=False).fit(data)
    if device == "cuda":
        torch.cuda.synchronize()
    fit_s = time.perf_counter() - t0
    gen.sample(1_000_000, random_state=1)
    t0 = time.perf_counter()
    gen.sample(1_000_000, random_state=2)
    sample_s = time.perf_counter() - t0
    err = max(abs(gen.intervene(d, n_samples=200_000, random_state=3)[c].mean() - t)
              for (c, d), t in zip(queries, truth))
    return {"device": device, "n": n, "fit_s": fit_s, "passes": gen.history_["epochs"],
            "steps": gen.history_["steps"], "sample_rows_per_s": 1e6 / sample_s,
            "max_do_err": float(err)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--threads", type=int, default=1, help="CPU torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    import torch
    rows = [run("cpu", args.n, args.threads, args.seed)]
    if torch.cuda.is_available():
        rows.append(run("cuda", args.n, args.threads, args.seed))
        rows[-1]["gpu"] = torch.cuda.get_device_name(0)
    else:
        rows.append({"device": "cuda", "skipped": "torch sees no CUDA device"})
    for r in rows:
        if "skipped" in r:
            print(f"{r['device']:5s}: skipped ({r['skipped']})")
        else:
            print(f"{r['device']:5s}: fit {r['fit_s']:.1f} s ({r['passes']:.1f} passes, "
                  f"{r['steps']} steps), sample {r['sample_rows_per_s'] / 1e6:.2f}M rows/s, "
                  f"max interventional error {r['max_do_err']:.4f}")
    if len(rows) == 2 and "skipped" not in rows[1]:
        c, g = rows
        print(f"cuda/cpu: fit time {g['fit_s'] / c['fit_s']:.2f}x, sampling "
              f"{g['sample_rows_per_s'] / c['sample_rows_per_s']:.2f}x")
    write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
