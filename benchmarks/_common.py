"""What the benchmark scripts share besides their metrics (those are in ``_metrics.py``):
one definition each of

* the paths ``HERE`` (this folder) and ``ROOT`` (the repository);
* thread pinning: the OpenMP / MKL / OpenBLAS thread variables (:func:`set_thread_env`)
  and torch's intra-op threads (:func:`set_torch_threads`), or both (:func:`pin_threads`);
* the memory of this process: :func:`status_mb`, :func:`rss_mb` and :class:`PeakRSS`;
* fresh-process workers, for cold-start timings and a system's own peak RSS:
  :func:`worker_env`, :func:`run_fresh` (``os.wait4``: the child's own rusage) and
  :func:`emit`, the result line a worker prints for its parent;
* DoWhy's baseline: :func:`fit_dowhy_good` (``InvertibleStructuralCausalModel``, GOOD
  auto-assignment, ``gcm.fit``), on the harness :func:`fit_gcm` that the CCGM mechanisms
  go through as well;
* the toy SCM's three interventional queries (:data:`TOY_QUERIES`) and their truth
  (:func:`toy_do_truth`); the graph of a treatment effect with measured confounders
  (:func:`star_graph`);
* provenance of a run: :func:`code_fingerprint`, :func:`git_head`, :func:`load_avg`.

Only the standard library is imported at module level: the peers' workers import this
module in another virtualenv, and some scripts set the thread variables before numpy loads.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

__all__ = ["HERE", "ROOT", "MB", "THREAD_VARS", "set_thread_env", "set_torch_threads",
           "pin_threads", "status_mb", "rss_mb", "PeakRSS", "worker_env", "FreshRun",
           "run_fresh", "emit", "assign_good", "fit_gcm", "fit_dowhy_good", "TOY_QUERIES",
           "toy_do_truth", "star_graph", "code_fingerprint", "git_head", "load_avg"]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MB = 1024.0 * 1024.0


# ============================================================================ threads
#: the thread-count variables of OpenMP, MKL and OpenBLAS (read when each library loads)
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def set_thread_env(threads: int = 1, env=None, *, overwrite: bool = True):
    """Set :data:`THREAD_VARS` to ``threads`` in ``env`` (default: ``os.environ``, which
    takes effect for the libraries that load afterwards and for child processes);
    ``overwrite=False`` keeps values that are already set. Returns ``env``."""
    target = os.environ if env is None else env
    for var in THREAD_VARS:
        if overwrite or var not in target:
            target[var] = str(threads)
    return target


def set_torch_threads(threads: int = 1) -> None:
    """``torch.set_num_threads(threads)`` (torch imported here)."""
    import torch
    torch.set_num_threads(threads)


def pin_threads(threads: int = 1) -> None:
    """Both: the thread variables of this process and torch's threads."""
    set_thread_env(threads)
    set_torch_threads(threads)


# ============================================================================ memory
def status_mb(field: str) -> float:
    """A field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ...) in MB; NaN where the
    field or ``/proc`` is not there."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def rss_mb() -> float:
    """The current resident set (``VmRSS``) in MB; the peak (``ru_maxrss``) where
    ``/proc`` is not available."""
    v = status_mb("VmRSS")
    if v == v:
        return v
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class PeakRSS:
    """Peak RSS of a phase (``with PeakRSS() as pk: ...``, then ``pk.peak`` in MB):
    ``VmHWM`` reset through ``/proc/self/clear_refs`` ("5"), or a 5 ms RSS poller where
    that is not allowed (``method`` says which)."""

    def __init__(self):
        self.method = "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.method = "poll-5ms"
        self._peak = 0.0
        self._stop = None
        self._thread = None

    def __enter__(self):
        if self.method == "VmHWM":
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        else:
            self._peak = rss_mb()
            self._stop = threading.Event()

            def poll():
                while not self._stop.is_set():
                    self._peak = max(self._peak, rss_mb())
                    time.sleep(0.005)
            self._thread = threading.Thread(target=poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.method == "VmHWM":
            self.peak = status_mb("VmHWM")
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self._peak, rss_mb())
        return False


# ============================================================================ fresh processes
def worker_env(threads: int, *, keep_pythonpath: bool = True) -> dict:
    """The environment of a worker process: this one's, with :data:`THREAD_VARS` set to
    ``threads`` (before the worker loads numpy) and ``ROOT`` first on ``PYTHONPATH``;
    ``keep_pythonpath=False``: ``ROOT`` alone (a worker in another virtualenv)."""
    env = set_thread_env(threads, dict(os.environ))
    old = env.get("PYTHONPATH") if keep_pythonpath else None
    env["PYTHONPATH"] = ROOT + (os.pathsep + old if old else "")
    return env


@dataclass
class FreshRun:
    """What :func:`run_fresh` saw of one process."""

    returncode: int
    output: str          #: stdout (and stderr, when merged)
    errors: str          #: stderr when it was not merged into ``output``
    wall_s: float        #: launch to exit
    timed_out: bool      #: killed after the timeout
    maxrss_mb: float     #: the process's own peak RSS (its ``os.wait4`` rusage)
    result: object       #: the JSON of its last result line (None: no such line)

    def tail(self, lines: int = 3, text: str | None = None) -> str:
        """The last ``lines`` lines of ``text`` (default ``output``), joined by " | "."""
        return " | ".join((self.output if text is None else text).strip().splitlines()[-lines:])


def emit(tag: str | None, obj) -> None:
    """A worker's result for its parent: one line, ``tag`` and ``obj`` as JSON (numpy
    scalars as floats); without a tag the JSON alone."""
    line = json.dumps(obj, default=float)
    print(line if tag is None else f"{tag} {line}", flush=True)


def _result(text: str, tag: str | None):
    """The JSON of the last line that :func:`emit` wrote with ``tag`` (without a tag: the
    last non-blank line); None where there is none."""
    lines = text.splitlines()
    if tag is None:
        lines = [ln for ln in lines if ln.strip()]
    else:
        lines = [ln[len(tag) + 1:] for ln in lines if ln.startswith(tag + " ")]
    return json.loads(lines[-1]) if lines else None


def run_fresh(cmd, *, tag: str | None = None, env=None, cwd=None, timeout=None,
              merge_stderr: bool = True) -> FreshRun:
    """Run ``cmd`` in a fresh process and wait for it with ``os.wait4``, whose rusage is
    the child's own (its peak RSS, not the largest of all children so far). Its output
    goes through temporary files (a pipe could fill up while nobody reads it); stderr
    joins stdout unless ``merge_stderr=False``. ``timeout`` (s): the process is killed
    and ``timed_out`` set. ``tag``: see :func:`emit`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=out,
                                stderr=subprocess.STDOUT if merge_stderr else err,
                                env=env, cwd=cwd)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            proc.kill()
        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - t0
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    killed = timed_out.is_set()
    return FreshRun(returncode=proc.returncode, output=output, errors=errors, wall_s=wall,
                    timed_out=killed, maxrss_mb=ru.ru_maxrss / 1024.0,  # Linux: kilobytes
                    result=None if killed or proc.returncode else _result(output, tag))


# ============================================================================ DoWhy's baseline
def assign_good(scm, data) -> None:
    """DoWhy's auto-assignment with ``quality=GOOD`` (its default model selection)."""
    from dowhy import gcm
    gcm.auto.assign_causal_mechanisms(scm, data, quality=gcm.auto.AssignmentQuality.GOOD)


def fit_gcm(graph, data, assign=assign_good, *, seed: int | None = None,
            copy_graph: bool = True, timings: dict | None = None):
    """A fitted ``gcm.InvertibleStructuralCausalModel`` and the seconds it took (building
    the model, ``assign(scm, data)``, ``gcm.fit``), with DoWhy's progress bars off.

    ``graph``: a graph or a list of edges, copied unless ``copy_graph=False`` (a causal
    model keeps its mechanisms on the graph's nodes, so a model built on a reused graph
    object skips the auto-assignment of the nodes that have one). ``seed``: DoWhy's
    ``set_random_seed(seed)`` first (numpy's and Python's global generators). ``timings``:
    receives ``assign_s`` and ``gcm_fit_s``."""
    import networkx as nx
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    gcm.config.disable_progress_bars()
    if seed is not None:
        set_random_seed(seed)
    t0 = time.perf_counter()
    scm = gcm.InvertibleStructuralCausalModel(nx.DiGraph(graph) if copy_graph else graph)
    t1 = time.perf_counter()
    assign(scm, data)
    t2 = time.perf_counter()
    gcm.fit(scm, data)
    t3 = time.perf_counter()
    if timings is not None:
        timings["assign_s"] = t2 - t1
        timings["gcm_fit_s"] = t3 - t2
    return scm, t3 - t0


def fit_dowhy_good(graph, data, seed: int | None = None, **kw):
    """DoWhy's GOOD baseline: :func:`fit_gcm` with :func:`assign_good`; returns
    ``(scm, seconds)``."""
    return fit_gcm(graph, data, assign_good, seed=seed, **kw)


# ============================================================================ the toy SCM
#: interventional queries on ``dowhy_ccgm.experiments.demo.toy_scm``: (column, do, label)
TOY_QUERIES = [("x3", {"x1": 1.0}, "E[x3|do(x1=1)]"),
               ("x4", {"x1": 1.0}, "E[x4|do(x1=1)]"),
               ("x4", {"x3": 2.0}, "E[x4|do(x3=2)]")]


def toy_do_truth(col: str, do: dict, n: int = 1_000_000, seed: int = 123) -> float:
    """The true ``E[col | do]`` of the toy SCM: the mean of ``n`` simulated rows."""
    from dowhy_ccgm.experiments.demo import toy_scm
    return float(toy_scm(n, seed, do)[col].mean())


def star_graph(covariates, treatment, outcome):
    """Every covariate into the treatment and the outcome, the treatment into the outcome."""
    import networkx as nx
    return nx.DiGraph([(c, treatment) for c in covariates] + [(c, outcome) for c in covariates]
                      + [(treatment, outcome)])


# ============================================================================ provenance
def code_fingerprint(loaded_only: bool = False) -> str:
    """Short hash of the package's source: every worker reports the version of the
    dowhy_ccgm modules it imported (``loaded_only``), so a run that straddles an edit of
    the core is detected; without ``loaded_only``, all of dowhy_ccgm/**/*.py."""
    import hashlib
    pkg = os.path.join(ROOT, "dowhy_ccgm")
    if loaded_only:
        paths = sorted({os.path.abspath(m.__file__) for name, m in list(sys.modules.items())
                        if name.split(".")[0] == "dowhy_ccgm" and getattr(m, "__file__", None)})
    else:
        paths = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(pkg) for f in fs
                       if f.endswith(".py"))
    h = hashlib.sha1()
    for path in paths:
        h.update(os.path.relpath(path, ROOT).encode())
        with open(path, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def git_head() -> str:
    """The short commit of the repository, and whether dowhy_ccgm/ has uncommitted
    changes; "?" without git."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dowhy_ccgm"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (" (+uncommitted changes in dowhy_ccgm/)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def load_avg() -> str:
    """The 1, 5 and 15 minute load averages, as printed by the scripts; "?" without /proc."""
    try:
        return open("/proc/loadavg").read().split()[:3].__str__()
    except OSError:
        return "?"
