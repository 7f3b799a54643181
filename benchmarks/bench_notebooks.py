"""DoWhy's own ``dowhy.gcm`` example notebooks, each analysed twice in the same process:
with DoWhy's GOOD auto-assignment and with CCGM mechanisms
(:func:`dowhy_ccgm.gcm.assign_ccgm_mechanisms`, roots as it assigns them by default), both
against the truth of the notebook's data generator.

* ``online_shop`` (``gcm_online_shop.ipynb``): a year of daily sales (365 rows) from
  ``dowhy.datasets.sales_dataset`` on the notebook's graph. ``Revenue = price * units`` and
  ``Profit = Revenue - Operational Cost`` are exact formulas. Measured: each mechanism's
  normalized MSE (conditional mean against the data) and noise effect (the spread of
  ``evaluate(parents, noise)`` over noise draws at the observed parents, in sds of the
  node); ``gcm.intrinsic_causal_influence`` on Profit as shares of Var(Profit), against a
  Monte Carlo truth from the generator's structural equations (the same definition:
  Shapley values of ``S -> Var(E[Profit | noises of S])``; nodes without noise get exactly
  0); ``gcm.attribute_anomalies`` for the first day of 2022 and ``gcm.distribution_change``
  of mean Profit between the first quarters of 2021 and 2022. 2022 has the notebook's
  story: the price cut by 10% and, unannounced, 15% fewer page visitors
  (``page_visitor_factor=0.85``), so the generator's root cause is Page Views.
  The quarter's ``distribution_change`` runs twice: as the notebook runs it (DoWhy's
  ``default_n_jobs``, worker processes) and, timed only, with ``default_n_jobs = 1``.
* ``supply_chain`` (``gcm_supply_chain_dist_change.ipynb``): the notebook's two weeks of
  1,000 rounded purchase orders; ``gcm.distribution_change`` of mean ``received`` per
  node, against the Shapley values of the generator's mechanisms (demand's and confirmed's
  are the ones that change; a Monte Carlo over a million rows).
* ``dry_eyes`` (``gcm_counterfactual_medical_dry_eyes.ipynb``): 10,000 patients, three
  treatments, a rare condition (1%) that reverses the effect of the two eye drops.
  ``gcm.counterfactual_samples`` for new patients under the treatments they did not take,
  against each patient's exact counterfactual (the generator's vision noise is kept):
  RMSE for patients drawn like the data and for rare-condition patients; the per-group
  effects and their signs; ``gcm.evaluate_causal_model`` (not with ``--quick``).

Run::

    python benchmarks/bench_notebooks.py [--quick] [--seeds 3] [--out PATH]
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import time
import warnings
from collections import Counter

from _common import fit_dowhy_good, fit_gcm, git_head, set_thread_env, set_torch_threads

set_thread_env(1, overwrite=False)  # before numpy loads

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import ndtri  # noqa: E402

from dowhy_ccgm.datasets import online_shop_graph  # noqa: E402

from _metrics import write_json  # noqa: E402

METHODS = ("auto", "ccgm")

SHOP_GRAPH = online_shop_graph()
SHOP_NODES = list(nx.topological_sort(SHOP_GRAPH))
SHOP_FORMULAS = ("Revenue", "Profit")
SHOP_EVENT = "Shopping Event?"
#: the generator's 15 shopping days of a year's 365
SHOP_EVENT_SHARE = 15 / 365
SHOP_YEAR, SHOP_Q1_2022 = ("2021-01-01", "2021-12-31"), ("2022-01-01", "2022-03-31")
#: the 2022 of the notebook's story: a 10% price cut and, unannounced, fewer visitors
SHOP_2022 = {"change_of_price": 0.9, "page_visitor_factor": 0.85}
SHOP_ROOT_CAUSE = "Page Views"
#: uniforms per node in the sales generator (the formula nodes have none)
SHOP_NOISE_DIMS = {SHOP_EVENT: 1, "Ad Spend": 2, "Page Views": 4, "Unit Price": 3,
                   "Sold Units": 2, "Operational Cost": 1}

SUPPLY_ROWS = 1000
SUPPLY_GRAPH = nx.DiGraph([("demand", "submitted"), ("constraint", "submitted"),
                           ("submitted", "confirmed"), ("confirmed", "received")])
#: (week 1, week 2) parameters of the generator: the mean demand and confirmed's slope
SUPPLY_WEEKS = ({"demand_mean": 2.0, "alpha": 1.0}, {"demand_mean": 4.0, "alpha": 2.0})

EYES_GRAPH = nx.DiGraph([("Treatment", "Vision"), ("Condition", "Vision")])
EYES_PATIENTS = 10_000
EYES_CONDITION_SHARE = 0.01
#: the notebook's vision shift f(Treatment, Condition), its polynomial evaluated at
#: Treatment in {0: nothing, 1: option 1, 2: option 2} (rows), Condition in {0, 1} (columns)
EYES_SHIFT = np.array([[-0.4, 0.0], [0.3, -0.3], [-0.3, 0.3]])
#: the per-group effects reported: (treatment, against treatment)
EYES_EFFECTS = ((1, 2), (0, 2))


# ============================================================================ shared
def fitted_scm(method: str, graph, data: pd.DataFrame, seed: int):
    """An ``InvertibleStructuralCausalModel`` on a copy of ``graph`` with ``method``'s
    mechanisms fitted to ``data``, and the seconds that assignment and fit took."""
    from dowhy_ccgm.gcm import assign_ccgm_mechanisms
    if method == "auto":
        return fit_dowhy_good(graph, data, seed)
    return fit_gcm(graph, data, lambda scm, d: assign_ccgm_mechanisms(
        scm, d, random_state=seed, progress_bar=False), seed=seed)


def shapley(players: list, value) -> dict:
    """Exact Shapley values of ``players`` for ``value(set of players)`` (DoWhy's
    estimator, the one its attribution methods use)."""
    from dowhy.gcm.shapley import ShapleyApproximationMethods, ShapleyConfig, \
        estimate_shapley_values
    config = ShapleyConfig(approximation_method=ShapleyApproximationMethods.EXACT, n_jobs=1)
    phi = estimate_shapley_values(
        lambda mask: value({p for p, m in zip(players, mask) if m}), len(players), config)
    return {p: float(v) for p, v in zip(players, phi)}


def mean_diff(old, new) -> float:
    """The change of the mean, the notebooks' ``difference_estimation_func``."""
    return float(np.mean(new) - np.mean(old))


def l1(a: dict, b: dict) -> float:
    """Sum of absolute differences over the keys of ``b`` (a missing key counts as 0)."""
    return float(sum(abs(a.get(k, 0.0) - v) for k, v in b.items()))


def top(scores: dict) -> str:
    """The top-ranked key."""
    return max(scores, key=scores.get)


def attempt(fn, *args, **kw) -> dict:
    """``fn``'s dict of results, or ``{"error": ...}`` when it raises (an analysis that
    fails for one method is reported, not hidden)."""
    try:
        return fn(*args, **kw)
    except Exception as exc:  # noqa: BLE001 -- any failure is a result here
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def _say(row: dict, text: str) -> None:
    """One progress line per method and seed, on stderr."""
    print(f"[{row['notebook']} seed {row['seed']} {row['method']}] fit {row['fit_s']:.1f} s; "
          f"{text}", file=sys.stderr)


# ============================================================================ online shop
def poisson_quantile(u, mu):
    """The Poisson(``mu``) quantile at ``u`` by its Cornish-Fisher expansion with
    continuity correction (off by at most one unit, in 0.1% of draws, at the means in the
    thousands of the sales generator), so a unit's count noise stays fixed when its mean
    changes."""
    z = ndtri(u)
    return np.floor(mu + np.sqrt(mu) * z + (z * z - 1.0) / 6.0 + 0.5)


def halfnormal(u):
    """|N(0, 1)| at the uniform ``u``."""
    return ndtri(0.5 + 0.5 * u)


def shop_noise(rng, n: int) -> dict:
    """The sales generator's noises as uniforms, ``{node: (n, k) array}``."""
    return {node: rng.random((n, k)) for node, k in SHOP_NOISE_DIMS.items()}


def shop_values(noise: dict, change_of_price=1.0, page_visitor_factor=1.0,
                event: float | None = None) -> dict:
    """The structural equations of ``dowhy.datasets.sales_dataset`` (default parameters)
    at the given noises; shopping days are independent with the generator's yearly share
    (``event``: every day is (1.0) or is not (0.0) a shopping day)."""
    f = page_visitor_factor
    u = noise[SHOP_EVENT][:, 0]
    event = (u < SHOP_EVENT_SHARE).astype(float) if event is None else np.full(len(u), event)
    u = noise["Ad Spend"]
    ad = 1000 + event * (1000 + 1000 * u[:, 0]) + (1 - event) * (100 + 400 * u[:, 1])
    u = noise["Page Views"]
    views = np.floor(poisson_quantile(u[:, 0], 10000 * f) + (5000 * f + 5000 * u[:, 1]) * event
                     + (0.5 * f + 0.01 * halfnormal(u[:, 2])) * ad
                     + 1000 * f + 100 * halfnormal(u[:, 3]))
    u = noise["Unit Price"]
    price = (1000 * change_of_price + (-200 + 200 * u[:, 0]) * event
             + (u[:, 1] < 0.02) * (-20 + 20 * u[:, 2]))
    cut = 1 - price / 1000
    demand = np.where(cut == 0, 1.0, 1.25 * (1 + cut))
    u = noise["Sold Units"]
    units = poisson_quantile(u[:, 0], demand * 0.2 * views + (100 + 1000 * u[:, 1]) * event)
    revenue = price * units
    cost = ad + 500 * units + 500000 + 10 * halfnormal(noise["Operational Cost"][:, 0])
    return {"Ad Spend": ad, "Page Views": views, "Unit Price": price, "Sold Units": units,
            "Revenue": revenue, "Operational Cost": cost, "Profit": revenue - cost}


def shop_icc_truth(seed: int, outer: int, inner: int) -> dict:
    """Shares of Var(Profit) by the generator's noises: Shapley values of ``S ->
    Var(E[Profit | N_S])`` by nested Monte Carlo (``outer`` draws of N_S, ``inner`` of the
    rest, the within-draw variance's bias removed, the same draws for every S). The rare
    shopping event is not drawn but weighted: every draw is evaluated on a shopping day and
    on an ordinary day, mixed with the event's probability."""
    rng = np.random.default_rng(seed)
    fixed, free = shop_noise(rng, outer), shop_noise(rng, outer * inner)
    p, cache = SHOP_EVENT_SHARE, {}

    def profits(subset):
        """Profit on ordinary and on shopping days, (outer, inner), ``subset`` fixed."""
        if subset not in cache:
            noise = {v: np.repeat(fixed[v], inner, axis=0) if v in subset else free[v]
                     for v in SHOP_NOISE_DIMS}
            cache[subset] = [shop_values(noise, event=e)["Profit"].reshape(outer, inner)
                             for e in (0.0, 1.0)]
        return cache[subset]

    def value(subset):
        y0, y1 = profits(frozenset(subset) - {SHOP_EVENT})
        if SHOP_EVENT in subset:      # a mixture over the event of the conditional means
            m0, m1 = y0.mean(1), y1.mean(1)
            second = ((1 - p) * (np.mean(m0 ** 2) - y0.var(1, ddof=1).mean() / inner)
                      + p * (np.mean(m1 ** 2) - y1.var(1, ddof=1).mean() / inner))
            return second - ((1 - p) * m0.mean() + p * m1.mean()) ** 2
        y = (1 - p) * y0 + p * y1     # the event averaged out inside E[Profit | N_S]
        return y.mean(1).var(ddof=1) - y.var(1, ddof=1).mean() / inner

    phi = shapley(list(SHOP_NOISE_DIMS), value)
    total = sum(phi.values())
    return {v: phi.get(v, 0.0) / total for v in SHOP_NODES}


def shop_mechanism_truth(seed: int, outer: int, inner: int) -> dict:
    """Per non-root node, what :func:`mechanism_fit` measures, for the generator's own
    mechanism: ``E[Var(X | parents)] / Var(X)`` (the NMSE of the true conditional mean) and
    the noise effect ``E[sd(X | parents)] / sd(X)``; the node's noise is redrawn ``inner``
    times at each of ``outer`` draws of every other noise (which fix its parents)."""
    rng = np.random.default_rng(seed)
    fixed, free = shop_noise(rng, outer), shop_noise(rng, outer * inner)
    marginal = shop_values(shop_noise(rng, 20 * outer))
    out = {}
    for node in SHOP_NODES[1:]:
        if node not in SHOP_NOISE_DIMS:     # an exact formula
            out[node] = {"nmse": 0.0, "noise_effect": 0.0}
            continue
        noise = {v: free[v] if v == node else np.repeat(fixed[v], inner, axis=0)
                 for v in SHOP_NOISE_DIMS}
        x = shop_values(noise)[node].reshape(outer, inner)
        out[node] = {"nmse": float(x.var(1, ddof=1).mean() / marginal[node].var()),
                     "noise_effect": float(x.std(1, ddof=1).mean() / marginal[node].std())}
    return out


def shop_change_truth(seed: int, n: int) -> dict:
    """Shapley attribution of the change of mean Profit from 2021 to 2022 to the
    generator's mechanisms; only Unit Price's and Page Views' change, the others get 0."""
    noise = shop_noise(np.random.default_rng(seed), n)
    changed = {"Unit Price": "change_of_price", "Page Views": "page_visitor_factor"}

    def value(subset):
        return shop_values(noise, **{changed[v]: SHOP_2022[changed[v]] for v in subset}
                           )["Profit"].mean()

    phi = shapley(list(changed), value)
    return {v: phi.get(v, 0.0) for v in SHOP_NODES}


def shop_data(seed: int):
    """The notebook's 2021 (a year) and first quarter of 2022, Date dropped."""
    from dowhy.datasets import sales_dataset
    np.random.seed(seed)
    year = sales_dataset(*SHOP_YEAR).drop(columns="Date")
    q1 = sales_dataset(*SHOP_Q1_2022, **SHOP_2022).drop(columns="Date")
    return year, q1


def mechanism_fit(scm, data: pd.DataFrame, nodes, draws: int = 64) -> dict:
    """Per node: the normalized MSE (MSE / variance) of the mechanism's conditional mean,
    the mean of ``draws`` noise draws at the observed parents, and its noise effect, the
    spread of those draws in sds of the node."""
    from dowhy.graph import get_ordered_predecessors
    out = {}
    for node in nodes:
        mech = scm.causal_mechanism(node)
        parents = data[get_ordered_predecessors(scm.graph, node)].to_numpy()
        y = data[node].to_numpy(dtype=float)
        s = np.stack([np.asarray(mech.evaluate(parents, mech.draw_noise_samples(len(y))),
                                 dtype=float).reshape(-1) for _ in range(draws)])
        out[node] = {"nmse": float(np.mean((y - s.mean(0)) ** 2) / y.var()),
                     "noise_effect": float(s.std(0).mean() / y.std())}
    return out


def shop_icc(scm, args) -> dict:
    """The notebook's intrinsic influence on Profit, as shares of the attributions' sum
    (Var(Profit)); signed, where the notebook plots absolute values."""
    from dowhy import gcm
    icc = gcm.intrinsic_causal_influence(
        scm, "Profit", num_samples_randomization=args.icc_randomization,
        num_samples_baseline=args.icc_baseline, num_training_samples=args.icc_training)
    total = sum(icc.values())
    share = {v: float(icc.get(v, 0.0)) / total for v in SHOP_NODES}
    return {"share": share, "formula_share": sum(share[v] for v in SHOP_FORMULAS)}


def shop_anomaly(scm, day: pd.DataFrame, args) -> dict:
    """The notebook's anomaly attribution of one day's Profit, and its top-ranked node."""
    from dowhy import gcm
    att = gcm.attribute_anomalies(scm, "Profit", anomaly_samples=day,
                                  num_distribution_samples=args.anomaly_samples)
    scores = {v: float(np.asarray(a).reshape(-1)[0]) for v, a in att.items()}
    return {"scores": scores, "top": top(scores)}


def shop_change(scm, old, new, truth: dict, args) -> dict:
    """The notebook's attribution of the change of mean Profit between two quarters."""
    from dowhy import gcm
    att = gcm.distribution_change(scm, old, new, "Profit", num_samples=args.change_samples,
                                  difference_estimation_func=mean_diff)
    att = {v: float(a) for v, a in att.items()}
    return {"attribution": att, "top_negative": min(att, key=att.get),
            "l1_error": l1(att, truth)}


@contextlib.contextmanager
def in_process():
    """``dowhy.gcm.config.default_n_jobs = 1`` inside the block (restored after)."""
    from dowhy.gcm import config
    before = config.default_n_jobs
    config.default_n_jobs = 1
    try:
        yield
    finally:
        config.default_n_jobs = before


def run_online_shop(seed: int, truth: dict, args) -> list:
    """One data seed of the online shop, both methods."""
    from dowhy.gcm.util.general import set_random_seed
    year, q1_2022 = shop_data(seed)
    q1_2021 = year.iloc[:len(q1_2022)]
    rows = []
    for method in METHODS:
        scm, fit_s = fitted_scm(method, SHOP_GRAPH, year, seed)
        row = {"notebook": "online_shop", "method": method, "seed": seed, "fit_s": fit_s,
               "mechanisms": {v: str(scm.causal_mechanism(v)) for v in SHOP_NODES},
               "fit": mechanism_fit(scm, year, [v for v in SHOP_NODES
                                                if SHOP_GRAPH.in_degree(v) > 0])}
        for name, fn, fn_args in (
                ("icc", shop_icc, (scm, args)),
                ("anomaly", shop_anomaly, (scm, q1_2022.iloc[:1], args)),
                ("q1_change", shop_change, (scm, q1_2021, q1_2022, truth["q1_change"], args))):
            set_random_seed(seed)
            t = time.perf_counter()
            row[name] = attempt(fn, *fn_args)
            row[name]["wall_s"] = time.perf_counter() - t
        # the same call with DoWhy's worker processes off: each worker process imports
        # the mechanisms' libraries and unpickles the model
        set_random_seed(seed)
        t = time.perf_counter()
        with in_process():
            attempt(shop_change, scm, q1_2021, q1_2022, truth["q1_change"], args)
        row["q1_change"]["in_process_s"] = time.perf_counter() - t
        if "share" in row["icc"]:
            row["icc"]["l1_error"] = l1(row["icc"]["share"], truth["icc_share"])
        rows.append(row)
        _say(row, f"Revenue/Profit noise effect "
             f"{row['fit']['Revenue']['noise_effect']:.2g}/"
             f"{row['fit']['Profit']['noise_effect']:.2g}, ICC L1 "
             f"{row['icc'].get('l1_error', float('nan')):.3f}, anomaly top "
             f"{row['anomaly'].get('top', row['anomaly'].get('error'))}, Q1 change L1 "
             f"{row['q1_change'].get('l1_error', row['q1_change'].get('error'))}")
    return rows


# ============================================================================ supply chain
def supply_week(rng, n: int, demand_mean: float, alpha: float, beta: float = 1.0
                ) -> pd.DataFrame:
    """The notebook's purchase orders of one week: linear mechanisms with gamma noises,
    every column rounded to whole units."""
    constraint = rng.gamma(1.0, 1.0, n)
    demand = rng.gamma(demand_mean, 1.0, n)
    submitted = demand - constraint + rng.gamma(1.0, 1.0, n)
    confirmed = alpha * submitted + rng.gamma(0.1, 1.0, n)
    received = beta * confirmed + rng.gamma(0.1, 1.0, n)
    df = pd.DataFrame({"demand": demand, "constraint": constraint, "submitted": submitted,
                       "confirmed": confirmed, "received": received})
    return df.round()


def supply_truth(seed: int, n: int) -> dict:
    """Shapley attribution of the change of mean ``received`` to the generator's
    mechanisms (week 2's for the nodes in S, week 1's for the others); the nodes whose
    mechanism the generator keeps get 0."""
    w1, w2 = SUPPLY_WEEKS
    changed = {"demand": "demand_mean", "confirmed": "alpha"}

    def value(subset):
        params = {k: (w2 if v in subset else w1)[k] for v, k in changed.items()}
        return supply_week(np.random.default_rng(seed), n, **params)["received"].mean()

    phi = shapley(list(changed), value)
    return {v: phi.get(v, 0.0) for v in SUPPLY_GRAPH.nodes}


def run_supply_chain(seed: int, truth: dict, args) -> list:
    """One data seed of the supply chain, both methods."""
    from dowhy import gcm
    from dowhy.gcm.util.general import set_random_seed
    rng = np.random.default_rng(seed)
    w1, w2 = (supply_week(rng, SUPPLY_ROWS, **week) for week in SUPPLY_WEEKS)
    rows = []
    for method in METHODS:
        scm, fit_s = fitted_scm(method, SUPPLY_GRAPH, w1, seed)
        set_random_seed(seed)
        t = time.perf_counter()

        def change():
            att = gcm.distribution_change(scm, w1, w2, "received",
                                          num_samples=args.change_samples,
                                          difference_estimation_func=mean_diff)
            att = {v: float(a) for v, a in att.items()}
            ranked = sorted(att, key=att.get, reverse=True)
            return {"attribution": att, "top2": sorted(ranked[:2]),
                    "l1_error": l1(att, truth["change"])}

        row = {"notebook": "supply_chain", "method": method, "seed": seed, "fit_s": fit_s,
               "change": attempt(change)}
        row["change"]["wall_s"] = time.perf_counter() - t
        rows.append(row)
        _say(row, f"attribution L1 error {row['change'].get('l1_error')}, top two "
             f"{row['change'].get('top2', row['change'].get('error'))}")
    return rows


# ============================================================================ dry eyes
def eyes_patients(rng, n: int, condition: int | None = None):
    """The notebook's patients: a uniform treatment in {0, 1, 2}, the rare condition
    (or ``condition`` for all), vision = noise + shift; and the noise."""
    treatment = rng.integers(0, 3, n)
    cond = (rng.binomial(1, EYES_CONDITION_SHARE, n) if condition is None
            else np.full(n, condition))
    noise = rng.uniform(0.4, 0.6, n)
    df = pd.DataFrame({"Treatment": treatment, "Condition": cond,
                       "Vision": noise + EYES_SHIFT[treatment, cond]})
    return df, noise


def eyes_counterfactuals(scm, patients: pd.DataFrame, noise) -> dict:
    """Each patient's counterfactual vision under every treatment (``est``) and the
    squared errors, against the truth, of the treatments not taken (``sq_errors``)."""
    from dowhy import gcm
    est, miss = {}, []
    for t in range(3):
        cf = gcm.counterfactual_samples(
            scm, {"Treatment": lambda x, t=t: np.full_like(x, t)}, observed_data=patients)
        est[t] = cf["Vision"].to_numpy(dtype=float)
        true = noise + EYES_SHIFT[t, patients["Condition"].to_numpy()]
        miss.append(((est[t] - true) ** 2)[patients["Treatment"].to_numpy() != t])
    return {"sq_errors": np.concatenate(miss), "est": est}


def eyes_evaluation(scm, data) -> dict:
    """What ``gcm.evaluate_causal_model`` says of Vision (no structure test: the graph
    has a single testable independence)."""
    from dowhy import gcm
    ev = gcm.evaluate_causal_model(scm, data, evaluate_causal_structure=False)
    perf = ev.mechanism_performances["Vision"]
    return {"nmse": float(perf.nmse), "crps": float(perf.crps),
            "invertibility_p": float(ev.pnl_assumptions["Vision"][0]),
            "overall_kl": float(ev.overall_kl_divergence)}


def run_dry_eyes(seed: int, truth: dict, args) -> list:
    """One data seed of the medical case, both methods."""
    from dowhy.gcm.util.general import set_random_seed
    rng = np.random.default_rng(seed)
    data, _ = eyes_patients(rng, EYES_PATIENTS)
    patients, n_p = eyes_patients(rng, args.cf_patients)
    rare, n_r = eyes_patients(rng, args.cf_rare, condition=1)
    rows = []
    for method in METHODS:
        scm, fit_s = fitted_scm(method, EYES_GRAPH, data, seed)
        set_random_seed(seed)
        cf_p = eyes_counterfactuals(scm, patients, n_p)
        cf_r = eyes_counterfactuals(scm, rare, n_r)
        healthy = patients["Condition"].to_numpy() == 0
        effects = {}
        for a, b in EYES_EFFECTS:
            effects[f"{a}-{b}|0"] = float(np.mean((cf_p["est"][a] - cf_p["est"][b])[healthy]))
            effects[f"{a}-{b}|1"] = float(np.mean(cf_r["est"][a] - cf_r["est"][b]))
        row = {"notebook": "dry_eyes", "method": method, "seed": seed, "fit_s": fit_s,
               "mechanisms": {v: str(scm.causal_mechanism(v)) for v in EYES_GRAPH.nodes},
               "cf_rmse_patients": float(np.sqrt(cf_p["sq_errors"].mean())),
               "cf_rmse_rare": float(np.sqrt(cf_r["sq_errors"].mean())),
               "effects": effects,
               "signs_right": sum(np.sign(v) == np.sign(truth["effects"][k])
                                  for k, v in effects.items())}
        if args.evaluate:
            set_random_seed(seed)
            t = time.perf_counter()
            row["evaluation"] = attempt(eyes_evaluation, scm, data)
            row["evaluation"]["wall_s"] = time.perf_counter() - t
        rows.append(row)
        _say(row, f"CF RMSE patients {row['cf_rmse_patients']:.3f}, rare "
             f"{row['cf_rmse_rare']:.3f}, signs right {row['signs_right']} of {len(effects)}")
    return rows


def eyes_truth() -> dict:
    """The per-group effects of the generator."""
    return {"effects": {f"{a}-{b}|{c}": float(EYES_SHIFT[a, c] - EYES_SHIFT[b, c])
                        for a, b in EYES_EFFECTS for c in (0, 1)}}


# ============================================================================ summary
def average(values: list):
    """Means of numbers over the seeds (recursively through dicts); strings (a top-ranked
    node, an error) as counts; lists of names as counts of their joined form."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, dict):
        keys = list(dict.fromkeys(k for v in present if isinstance(v, dict) for k in v))
        return {k: average([v.get(k) for v in present if isinstance(v, dict)]) for k in keys}
    if isinstance(first, (list, tuple)):
        return dict(Counter(" + ".join(map(str, v)) for v in present))
    if isinstance(first, str):
        return dict(Counter(present))
    return float(np.mean(present))


def summarize(rows: list) -> dict:
    """``{notebook: {method: means over the seeds}}``."""
    out = {}
    for (nb, method), group in itertools.groupby(
            sorted(rows, key=lambda r: (r["notebook"], r["method"])),
            key=lambda r: (r["notebook"], r["method"])):
        group = [{k: v for k, v in r.items() if k not in ("notebook", "method", "seed",
                                                          "mechanisms")} for r in group]
        out.setdefault(nb, {})[method] = average(group)
        out[nb][method]["seeds"] = len(group)
    return out


#: the console table's rows: (label, notebook, path into a summary, truth's path or value)
TABLE = [
    ("shop: Revenue noise effect [sd]", "online_shop", ("fit", "Revenue", "noise_effect"), 0.0),
    ("shop: Profit noise effect [sd]", "online_shop", ("fit", "Profit", "noise_effect"), 0.0),
    ("shop: ICC share of Revenue+Profit", "online_shop", ("icc", "formula_share"), 0.0),
    ("shop: ICC shares, L1 error", "online_shop", ("icc", "l1_error"), 0.0),
    ("shop: anomaly, top cause", "online_shop", ("anomaly", "top"), SHOP_ROOT_CAUSE),
    ("shop: Q1 change, L1 error [$]", "online_shop", ("q1_change", "l1_error"), 0.0),
    ("supply: change, L1 error", "supply_chain", ("change", "l1_error"), 0.0),
    ("supply: top two", "supply_chain", ("change", "top2"), "confirmed + demand"),
    ("eyes: CF RMSE, patients", "dry_eyes", ("cf_rmse_patients",), 0.0),
    ("eyes: CF RMSE, rare condition", "dry_eyes", ("cf_rmse_rare",), 0.0),
    ("eyes: effect signs right", "dry_eyes", ("signs_right",), len(EYES_EFFECTS) * 2)]


def lookup(d, path):
    for k in path:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def cell(v) -> str:
    """A number, a count of top-ranked names over the seeds, or an error count."""
    if v is None:
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k[:24]} x{n:g}" for k, n in v.items())
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def print_table(summary: dict) -> None:
    """The key number of each analysis per method (means over the seeds)."""
    print(f"\n{'measure':<36}{'DoWhy auto (GOOD)':>36}{'CCGM':>36}{'truth':>20}")
    for label, nb, path, truth in TABLE:
        if nb not in summary:
            continue
        cells = []
        for method in METHODS:
            s = summary[nb][method]
            v = lookup(s, path)
            if v is None and lookup(s, path[:1] + ("error",)):
                v = "error"
            cells.append(cell(v))
        print(f"{label:<36}" + "".join(f" {c:>35}" for c in cells) + f"{cell(truth):>20}")


# ============================================================================ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="one seed and smaller Monte Carlo sizes (a check that it runs)")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 (default 3; --quick: 1)")
    p.add_argument("--parts", default="online_shop,supply_chain,dry_eyes")
    p.add_argument("--out", "--json", dest="out", metavar="PATH",
                   help="write the results as JSON (e.g. benchmarks/results/notebooks.json)")
    args = p.parse_args(argv)
    quick = args.quick
    settings = {  # (default, --quick)
        "seeds": (3, 1), "icc_baseline": (500, 200), "icc_randomization": (200, 50),
        "icc_training": (20_000, 5_000), "anomaly_samples": (3000, 1000),
        "change_samples": (2000, 500), "cf_patients": (2000, 500), "cf_rare": (500, 200),
        "truth_outer": (20_000, 4000), "truth_inner": (40, 50), "truth_n": (1_000_000, 200_000),
        "evaluate": (True, False)}
    for name, values in settings.items():
        if getattr(args, name, None) is None:
            setattr(args, name, values[quick])
    warnings.simplefilter("ignore")
    from dowhy import gcm
    set_torch_threads(1)
    gcm.config.disable_progress_bars()
    t0 = time.perf_counter()
    parts = args.parts.split(",")
    truth = {}
    if "online_shop" in parts:
        truth["online_shop"] = {
            "icc_share": shop_icc_truth(12345, args.truth_outer, args.truth_inner),
            "mechanisms": shop_mechanism_truth(12348, args.truth_outer // 4, args.truth_inner),
            "q1_change": shop_change_truth(12346, args.truth_n),
            "anomaly_top": SHOP_ROOT_CAUSE, "days": len(pd.date_range(*SHOP_YEAR)),
            "2022": SHOP_2022}
    if "supply_chain" in parts:
        truth["supply_chain"] = {"change": supply_truth(12347, args.truth_n),
                                 "top2": ["confirmed", "demand"], "rows_per_week": SUPPLY_ROWS,
                                 "weeks": SUPPLY_WEEKS}
    if "dry_eyes" in parts:
        truth["dry_eyes"] = {**eyes_truth(), "patients": EYES_PATIENTS,
                             "condition_share": EYES_CONDITION_SHARE}
    print(f"truth computed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    runners = {"online_shop": run_online_shop, "supply_chain": run_supply_chain,
               "dry_eyes": run_dry_eyes}
    rows = [r for seed in range(args.seeds) for part in parts
            for r in runners[part](seed, truth[part], args)]
    summary = summarize(rows)
    print_table(summary)
    wall = time.perf_counter() - t0
    print(f"\nwall time {wall:.0f} s", file=sys.stderr)
    write_json(args.out, {"args": vars(args), "git": git_head(), "wall_s": wall,
                          "truth": truth, "rows": rows, "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
