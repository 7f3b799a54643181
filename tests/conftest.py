"""Shared test settings: progress bars off everywhere (the estimator's and dowhy.gcm's), the
quick training settings the contract tests share, and warnings about short training
silenced where a test trains briefly on purpose."""
import pytest

#: a brief but real fit (early stopping off the table: a fixed number of passes)
QUICK = dict(epochs=40, hidden=16, random_state=0, progress_bar=False)


@pytest.fixture(autouse=True, scope="session")
def _no_progress_bars():
    from dowhy import gcm
    gcm.config.disable_progress_bars()
    yield


@pytest.fixture
def quick():
    """The quick settings (a fresh dict per test: tests may extend it)."""
    return dict(QUICK)
