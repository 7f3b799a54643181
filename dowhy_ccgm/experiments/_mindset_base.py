"""What the two ``ccgm mindset`` tables share: the column names, the seeding of every
step and the run's data and argument checks (``mindset`` and ``mindset_all`` import it;
``mindset`` dispatches ``--covariates all`` to ``mindset_all``)."""
from __future__ import annotations

import numpy as np

SM, SE, D, Y = "school_mindset", "success_expect", "intervention", "achievement_score"


def named_seeds(random_state, names):
    """Independent integer seeds, one per named step, from one ``random_state``."""
    children = np.random.SeedSequence(int(random_state)).spawn(len(names))
    return {name: int(c.generate_state(1, dtype=np.uint32)[0]) for name, c in
            zip(names, children)}


def run_data(data, refit_bootstrap, refit_cluster):
    """The data of a ``ccgm mindset`` run (default: the shipped data), after checking the
    refit-bootstrap arguments against it."""
    if data is None:
        from ..datasets import load_mindset
        data = load_mindset()
    if refit_bootstrap == 1 or not 0 <= int(refit_bootstrap):
        raise ValueError(f"refit_bootstrap must be 0 (off) or at least 2, got "
                         f"{refit_bootstrap!r}")
    if refit_cluster is not None and refit_cluster not in getattr(data, "columns", []):
        raise ValueError(f"refit_cluster column {refit_cluster!r} is not a column of the data")
    return data


def experiment_progress(progress_bar) -> bool:
    from .._utils import show_progress
    return show_progress(progress_bar)


#: the real-data estimators of both tables, in their rows' order
REAL_DATA_ESTIMATORS = [("AIPW", "aipw"), ("IPW", "ipw"), ("Naive", "naive")]


def real_data_bootstraps(data, covariates, *, n_bootstrap, random_state, n_jobs, show):
    """``{row name: bootstrap_ate(...)}`` of AIPW, IPW and the naive difference on the real
    data, adjusted for ``covariates``, all on the same resamples (one seed)."""
    from ..ate import bootstrap_ate
    return {name: bootstrap_ate(data, key, treatment=D, outcome=Y, common_causes=covariates,
                                n_bootstrap=n_bootstrap, random_state=random_state,
                                n_jobs=n_jobs if key != "naive" else 1, progress_bar=show)
            for name, key in REAL_DATA_ESTIMATORS}


def grouped_lines(table, head: str, line) -> list:
    """A text table: ``head``, a rule, then the rows (``line(row)``) under a ``[source]``
    header whenever the row's ``source`` changes."""
    lines = [head, "-" * len(head)]
    source = None
    for r in table.itertuples(index=False):
        if r.source != source:
            source = r.source
            lines.append(f"[{source}]")
        lines.append(line(r))
    return lines
