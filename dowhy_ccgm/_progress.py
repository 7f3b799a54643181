"""Progress bars: one gate (``dowhy.gcm.config.show_progress_bars``) and one refresh policy
for every bar of the package. Imports neither torch nor DoWhy, so light modules
(``dowhy_ccgm.ate``) can use it."""
from __future__ import annotations

import sys


def show_progress(progress_bar) -> bool:
    """``progress_bar=None`` follows ``dowhy.gcm.config.show_progress_bars``."""
    if progress_bar is not None:
        return bool(progress_bar)
    cfg = sys.modules.get("dowhy.gcm.config")
    if cfg is not None:
        return bool(getattr(cfg, "show_progress_bars", True))
    return True


#: seconds between progress-bar refreshes on a terminal, and when stderr is a file or a
#: pipe (a CI log): tqdm's carriage-return updates then pile up on one line
BAR_INTERVAL_TTY = 1.0
BAR_INTERVAL_LOG = 30.0


def progress_bar(iterable=None, **kwargs):
    """``tqdm.auto.tqdm`` with the package's refresh policy: at most one update a second on
    a terminal, one every 30 s when stderr is not a terminal."""
    from tqdm.auto import tqdm
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    kwargs.setdefault("mininterval", BAR_INTERVAL_TTY if tty else BAR_INTERVAL_LOG)
    return tqdm(iterable, **kwargs)
