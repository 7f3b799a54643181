"""``bench_core.py --profile`` and its memory trace: where the default fit's time and memory
go (the exact fit's components, sampling, chunk sizes, and a phase-by-phase RSS trace in a
fresh process). Run through ``bench_core.py --profile``; the runner is ``bench_core.py``
(which imports this module; this module imports only the shared ``_common``).
"""
from __future__ import annotations

import os
import sys
import threading
import time

from _common import (HERE, MB, ROOT, TOY_QUERIES, PeakRSS, emit, load_avg, pin_threads,
                     rss_mb, run_fresh, set_torch_threads, status_mb, toy_do_truth,
                     worker_env)

QUERIES = TOY_QUERIES


# ============================================================================ profile
def profile_ccgm(n: int, args) -> dict:
    """In-process profile of CCGM fit (n rows) and sample (--sample-rows rows)."""
    import cProfile
    import functools
    import io
    import pstats

    pin_threads(args.threads)
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    import dowhy_ccgm._fitted as fitted_mod
    import dowhy_ccgm._training as training
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm._utils import torch_generator, torch_threads
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    from dowhy_ccgm.nn import CCGMNet
    from dowhy_ccgm.nn._layers import MonotoneMap

    report = {}
    print(f"\n=== CCGM profile (n={n:,}, {args.threads} thread(s), load {load_avg()}) ===")

    # one-time cost that the fit avoids: torch.optim's first use imports torch._dynamo
    t0 = time.perf_counter()
    code = ("import time, torch; t=time.perf_counter(); import torch._dynamo; "
            "print(time.perf_counter()-t)")
    dyn = float(run_fresh([sys.executable, "-c", code], env=dict(os.environ),
                          merge_stderr=False).output.strip() or "nan")
    report["dynamo_import_s"] = dyn
    print(f"one-time: `import torch._dynamo` (pulled in by the first torch.optim optimizer, "
          f"which the exact fit does not build) {dyn:.2f} s in a fresh process")

    data = toy_scm(n, args.seed)
    with threadpool_limits(args.threads):
        # warm-up so that one-time imports do not pollute the per-step numbers
        CCGMGenerator(TOY_GRAPH, random_state=0, progress_bar=False, epochs=1,
                      pretrain_epochs=1).fit(data.iloc[:500])

        # --- timers by wrapping (benchmark-side only; the core is untouched)
        acc = {}

        def timed(key, fn):
            @functools.wraps(fn)
            def wrapper(*a, **k):
                t = time.perf_counter()
                try:
                    return fn(*a, **k)
                finally:
                    name = key(a, k) if callable(key) else key
                    s = acc.setdefault(name, [0.0, 0])
                    s[0] += time.perf_counter() - t
                    s[1] += 1
            return wrapper

        def loss_key(a, k):
            return "losses: train fwd" if torch.is_grad_enabled() else \
                "losses: validation fwd (no grad)"

        # the exact fit's components (``_training.train_exact``)
        patches = [
            (training, "exact_objective", timed(loss_key, training.exact_objective)),
            (CCGMNet, "label_loss", timed("losses: pretrain fwd (linear)",
                                          CCGMNet.label_loss)),
            (MonotoneMap, "inverse", timed("  decoder.inverse (inside fwd/init)",
                                           MonotoneMap.inverse)),
            (torch.Tensor, "backward", timed("backward", torch.Tensor.backward)),
            (training.Adam, "step", timed("Adam.step", training.Adam.step)),
            (training.Snapshot, "save", timed("parameter snapshots (best / live)",
                                               training.Snapshot.save)),
        ]
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
        for obj, name, new in patches:
            setattr(obj, name, new)
        pr = cProfile.Profile()
        try:
            t0 = time.perf_counter()
            pr.enable()
            gen = CCGMGenerator(TOY_GRAPH, random_state=args.seed, progress_bar=False).fit(data)
            pr.disable()
            fit_s = time.perf_counter() - t0
        finally:
            for obj, name, old in saved:
                setattr(obj, name, old)
        h = gen.history_
        epochs = h["epochs"]
        pre = len(h["pretrain_label"])
        train_steps = acc.get("losses: train fwd", [0, 0])[1]
        steps_per_epoch = train_steps / max(epochs, 1)
        val = np.asarray(h["val"])
        best = int(np.argmin(val))
        within = {tol: int(np.argmax(val <= val[best] + tol * max(1.0, abs(val[best])))) + 1
                  for tol in (0.01, 0.003)}
        print(f"fit {fit_s:.1f} s (with timers/profiler on): {pre} pretrain + {epochs} epochs "
              f"(best at epoch {best + 1}, patience {gen.patience}); {steps_per_epoch:.0f} "
              f"steps/epoch; {train_steps} training steps")
        print(f"  validation loss reached within 1% of its best at epoch {within[0.01]}, within "
              f"0.3% at epoch {within[0.003]} (of {epochs})")
        tot_known = 0.0
        print(f"  {'component':<44} {'total s':>8} {'calls':>7} {'ms/call':>8} {'share':>6}")
        for name, (s, c) in sorted(acc.items(), key=lambda kv: -kv[1][0]):
            if not name.startswith("  "):
                tot_known += s
            print(f"  {name:<44} {s:8.2f} {c:7d} {1e3 * s / max(c, 1):8.2f} "
                  f"{100 * s / fit_s:5.1f}%")
        print(f"  {'other (python loop, batching, tqdm, ...)':<44} {fit_s - tot_known:8.2f}")
        step_ms = 1e3 * sum(acc.get(k, [0, 0])[0] for k in (
            "losses: train fwd", "losses: pretrain fwd (linear)", "backward", "Adam.step")) / \
            max(acc.get("Adam.step", [0, 1])[1], 1)
        print(f"  per optimizer step (fwd+bwd+Adam, full + pretrain): {step_ms:.1f} ms")
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(15)
        print("  cProfile of the fit, top 15 by own time:")
        print("\n".join("    " + ln for ln in s.getvalue().splitlines()[6:26] if ln.strip()))
        report["fit"] = {"fit_s": fit_s, "epochs": epochs, "pretrain_epochs": pre,
                         "best_epoch": best + 1, "within_1pct_epoch": within[0.01],
                         "within_0.3pct_epoch": within[0.003],
                         "steps_per_epoch": steps_per_epoch, "step_ms": step_ms,
                         "components": {k: {"s": v[0], "calls": v[1]} for k, v in acc.items()}}

        # --- what-if: public parameters that cut the number of optimizer steps
        print("  what-if, public fit parameters (fit time, epochs, max |err| of the 3 "
              "interventional queries, 200k draws; seeds " + args.profile_seeds + "):")
        truth = {label: toy_do_truth(col, do) for col, do, label in QUERIES}
        report["param_whatif"] = {}
        for kw in ({}, {"batch_size": 1024}, {"patience": 6},
                   {"batch_size": 1024, "patience": 8}):
            label = ", ".join(f"{k}={v}" for k, v in kw.items()) or "defaults"
            for seed in [int(x) for x in args.profile_seeds.split(",")]:
                t0 = time.perf_counter()
                g2 = CCGMGenerator(TOY_GRAPH, random_state=seed, progress_bar=False,
                                   **kw).fit(data)
                dt = time.perf_counter() - t0
                err = max(abs(float(g2.intervene(do, n_samples=200_000, random_state=2)[
                    col].mean()) - truth[lbl]) for col, do, lbl in QUERIES)
                report["param_whatif"][f"{label} seed={seed}"] = {
                    "fit_s": dt, "epochs": g2.history_["epochs"], "max_abs_err": err}
                print(f"    {label:<30} seed {seed}: fit {dt:6.1f} s, "
                      f"{g2.history_['epochs']:5.1f} passes, max |err| {err:.4f}", flush=True)

        # --- sampling: where sample(m) goes (noise, generation in row chunks, DataFrame)
        m = args.sample_rows
        net = gen.net_
        gen.sample(m, random_state=1)  # warm
        with torch_threads(gen.n_threads):
            t0 = time.perf_counter()
            noise = net.sample_noise(m, torch_generator(1))
            t_noise = time.perf_counter() - t0
            chunk = getattr(fitted_mod, "CHUNK_ROWS", m)
            pr = cProfile.Profile()
            t0 = time.perf_counter()
            pr.enable()
            with torch.no_grad():
                parts = [net.generate(noise.rows(slice(a, a + chunk)))
                         for a in range(0, m, chunk)]
                S = torch.cat(parts)
            pr.disable()
            t_gen = time.perf_counter() - t0
            del parts
            t0 = time.perf_counter()
            frame = gen.model_.frame(S)
            t_frame = time.perf_counter() - t0
        t0 = time.perf_counter()
        gen.sample(m, random_state=1)
        t_total = time.perf_counter() - t0
        print(f"\nsample({m:,}) {t_total:.2f} s = {m / t_total / 1e6:.2f}M rows/s "
              f"(torch threads {gen.n_threads or 1}, chunks of {chunk:,} rows): sample_noise "
              f"{t_noise:.2f} s, net.generate over the chunks {t_gen:.2f} s, DataFrame "
              f"building (FittedCCGM.frame) {t_frame:.2f} s, rest {t_total - t_noise - t_gen - t_frame:.2f} s")
        s = io.StringIO()
        pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(10)
        print("  cProfile of the generation, top by own time:")
        print("\n".join("    " + ln for ln in s.getvalue().splitlines()[6:18] if ln.strip()))
        report["sample"] = {"total_s": t_total, "noise_s": t_noise, "generate_s": t_gen,
                            "frame_s": t_frame, "chunk_rows": chunk}

        # --- what-if: chunk size of the generation (identical output, bounded memory)
        print("  what-if, net.generate chunk size (identical output):")
        report["chunk_whatif"] = {}
        with torch.no_grad(), torch_threads(gen.n_threads):
            for cs in (8192, 32768, 65536, 131072, m):
                base = rss_mb()
                with PeakRSS() as pk:
                    t0 = time.perf_counter()
                    S2 = torch.cat([net.generate(noise.rows(slice(a, a + cs)))
                                    for a in range(0, m, cs)])
                    dt = time.perf_counter() - t0
                same = bool(torch.equal(S2, S))
                del S2
                report["chunk_whatif"][cs] = {"s": dt, "peak_incr_mb": pk.peak - base,
                                              "identical": same}
                print(f"    chunk {cs:>9,}: {dt:5.2f} s ({m / dt / 1e6:.2f}M rows/s), peak RSS "
                      f"+{max(pk.peak - base, 0):.0f} MB, identical={same}")
        del frame, S

        # --- where fit memory goes at large n: a phase trace in a fresh process (in this
        # process, freed heap from the runs above would hide the increments)
        if args.profile_mem_n:
            report["mem_trace"] = run_memtrace(args.profile_mem_n, args)
    return report


def run_memtrace(n: int, args) -> list:
    cmd = [sys.executable, os.path.join(HERE, "bench_core.py"), "--memtrace", str(n), "--threads",
           str(args.threads), "--seed", str(args.seed)]
    run = run_fresh(cmd, tag="MEMTRACE", env=worker_env(args.threads, keep_pythonpath=False),
                    cwd=ROOT, merge_stderr=False)
    if run.returncode != 0 or run.result is None:
        print(f"  memory trace failed: {run.errors.strip().splitlines()[-1:]}")
        return []
    trace = run.result
    print(f"\n  where fit memory goes at n={n:,} (fresh process, default settings; RSS and "
          f"peak RSS relative to the RSS before fit, MB; data frame "
          f"{trace[0]['data_mb']:.0f} MB):")
    print(f"    {'phase (end)':<62} {'RSS':>6} {'peak so far':>11} {'phase peak':>10}")
    for t in trace[1:]:
        print(f"    {t['phase']:<62} {t['rss']:6.0f} {t['hwm']:11.0f} {t['phase_peak']:10.0f}")
    return trace


def memtrace(args) -> int:
    """Fresh-process trace of RSS through the phases of one default fit at n rows."""
    import functools

    set_torch_threads(args.threads)
    import torch
    import dowhy_ccgm._fit as fit_mod
    from dowhy_ccgm import CCGMGenerator
    from dowhy_ccgm._schema import Schema
    from dowhy_ccgm.experiments.demo import TOY_GRAPH, toy_scm
    from dowhy_ccgm.nn._layers import MonotoneMap

    n = args.memtrace
    data = toy_scm(n, args.seed)
    CCGMGenerator(TOY_GRAPH, random_state=0, progress_bar=False, epochs=1,
                  pretrain_epochs=1).fit(data.iloc[:500])  # one-time allocations
    base = rss_mb()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    trace = [{"data_mb": float(data.memory_usage(deep=True).sum()) / MB}]
    state = {"big_inverse": 0, "val": 0, "train": 0, "poll_max": rss_mb()}
    stop = threading.Event()

    def poll():  # RSS every 2 ms: the peak of each phase without resetting VmHWM
        while not stop.is_set():
            state["poll_max"] = max(state["poll_max"], rss_mb())
            time.sleep(0.002)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()

    def tap(owner, name, label_fn):
        fn = getattr(owner, name)

        @functools.wraps(fn)
        def wrapper(*a, **k):
            label = label_fn(a, k)
            if not label:
                return fn(*a, **k)
            state["poll_max"] = rss_mb()
            out = fn(*a, **k)
            trace.append({"phase": label, "rss": rss_mb() - base,
                          "hwm": status_mb("VmHWM") - base,
                          "phase_peak": max(state["poll_max"], rss_mb()) - base})
            return out
        setattr(owner, name, wrapper)
        return fn

    def inv_label(a, k):
        y = a[1] if len(a) > 1 else k.get("y")
        if k.get("init") is None and y is not None and y.shape[0] > 4096:
            state["big_inverse"] += 1
            if state["big_inverse"] == 1:
                return f"decoder.inverse: warm-start cache, 1st chunk ({y.shape[0]:,} rows)"
        return None

    def loss_label(a, k):
        if not torch.is_grad_enabled():
            state["val"] += 1
            if state["val"] in (1, 2):
                return f"validation chunk #{state['val']} ({a[1].shape[0]:,} rows)"
        else:
            state["train"] += 1
            if state["train"] == 1:
                return "first training step"
        return None
    import dowhy_ccgm._training as training
    saved = [(Schema, "standardize_into", tap(
                 Schema, "standardize_into",
                 lambda a, k: "Schema.standardize_into (DataFrame -> float32 state rows)")),
             (MonotoneMap, "inverse", tap(MonotoneMap, "inverse", inv_label)),
             (training, "exact_objective", tap(training, "exact_objective", loss_label)),
             (fit_mod, "train_exact", tap(fit_mod, "train_exact",
                                          lambda a, k: "train_exact returned (whole training)"))]
    try:
        CCGMGenerator(TOY_GRAPH, random_state=args.seed, progress_bar=False).fit(data)
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
        stop.set()
        poller.join()
    trace.append({"phase": "fit returned", "rss": rss_mb() - base,
                  "hwm": status_mb("VmHWM") - base, "phase_peak": float("nan")})
    emit("MEMTRACE", trace)
    return 0

