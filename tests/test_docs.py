"""Every ```python block of every page in docs/ (and the README) is executed, page by
page in one namespace, so the documentation cannot rot."""
import pathlib
import re

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def blocks(page):
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists() and blocks(p)],
                         ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for k, code in enumerate(blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {k}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{page.name}, block {k} failed: {exc!r}\n{code}") from exc


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_examples_run(script, tmp_path, monkeypatch):
    import runpy
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CCGM_EXAMPLES_QUICK", "1")
    runpy.run_path(str(script), run_name="__main__")
