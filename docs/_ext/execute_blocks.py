"""Execute every ```python block of a Markdown page at build time and show its output.

The blocks of one page run in order in one namespace (as ``tests/test_docs.py`` runs
them), in a scratch working directory, with progress bars off. After each block the text
it printed is inserted as a ``text`` block, and every matplotlib figure it left open is
saved under ``docs/_generated/`` and inserted as an image. A block that raises stops the
build with the page and block named. ``CCGM_DOCS_EXECUTE=0`` turns execution off (a quick
build of the prose only).
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings

from sphinx.errors import ExtensionError

BLOCK = re.compile(r"```python\n(.*?)```\n", re.S)


def _run_page(app, docname: str, text: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = os.path.join(app.srcdir, "_generated")
    os.makedirs(out_dir, exist_ok=True)
    namespace = {"__name__": f"docs_{docname.replace('/', '_')}"}
    pieces, last, k = [], 0, 0
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            for k, m in enumerate(BLOCK.finditer(text)):
                pieces.append(text[last:m.end()])
                last = m.end()
                buf = io.StringIO()
                try:
                    # (the examples' Python warnings, e.g. a ConvergenceWarning of a model
                    # trained with few epochs on purpose, stay out of the build log)
                    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        exec(compile(m.group(1), f"{docname}.md[block {k}]", "exec"),
                             namespace)
                except Exception as exc:
                    raise ExtensionError(f"{docname}.md, block {k} failed: {exc!r}") from exc
                printed = buf.getvalue().rstrip()
                if printed:
                    pieces.append("\n```text\n" + printed + "\n```\n")
                for i, num in enumerate(plt.get_fignums()):
                    name = f"{docname.replace('/', '_')}-{k}-{i}.png"
                    plt.figure(num).savefig(os.path.join(out_dir, name), dpi=90,
                                            bbox_inches="tight")
                    pieces.append(f"\n![output of block {k}](_generated/{name})\n")
                plt.close("all")
        finally:
            os.chdir(here)
    pieces.append(text[last:])
    return "".join(pieces)


def _on_source_read(app, docname, source):
    if not app.config.execute_blocks or os.environ.get("CCGM_DOCS_EXECUTE") == "0":
        return
    path = app.env.doc2path(docname)
    if not str(path).endswith(".md") or "```python" not in source[0]:
        return
    source[0] = _run_page(app, docname, source[0])


def _quiet(app, config):
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        from dowhy.gcm import config as gcm_config
        gcm_config.disable_progress_bars()
    except ImportError:   # pragma: no cover
        pass
    import torch
    torch.set_num_threads(1)


def setup(app):
    app.add_config_value("execute_blocks", True, "env")
    app.connect("config-inited", _quiet)
    app.connect("source-read", _on_source_read)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
