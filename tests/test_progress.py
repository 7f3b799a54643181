"""The progress-bar policy: one gate (dowhy.gcm.config.show_progress_bars) and few
refreshes when stderr is a log file, not a terminal."""
import io
import sys

from dowhy_ccgm._progress import (BAR_INTERVAL_LOG, BAR_INTERVAL_TTY, progress_bar,
                                  show_progress)


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_refresh_interval_follows_the_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress_bar(range(3), total=3)
    assert bar.mininterval == BAR_INTERVAL_LOG == 30.0
    assert list(bar) == [0, 1, 2]
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert progress_bar(total=3).mininterval == BAR_INTERVAL_TTY == 1.0
    assert progress_bar(total=3, mininterval=5).mininterval == 5      # the caller's wins


def test_a_log_gets_few_updates(monkeypatch):
    """1000 fast updates into a non-terminal stream write a handful of refreshes, not 1000
    (tqdm's default mininterval of 0.1 s wrote every one of them into CI logs)."""
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    for _ in progress_bar(range(1000), file=log, desc="work"):
        pass
    assert log.getvalue().count("work") <= 3
    assert "1000/1000" in log.getvalue()                   # the bar still ends at n/n


def test_gate(monkeypatch):
    from dowhy.gcm import config
    assert show_progress(True) and not show_progress(False)
    monkeypatch.setattr(config, "show_progress_bars", False)
    assert not show_progress(None)
    monkeypatch.setattr(config, "show_progress_bars", True)
    assert show_progress(None)
