"""The ``ccgm`` command line."""
import json

import pytest

from dowhy_ccgm.cli import main


def test_demo_command_writes_json(tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert main(["demo", "--n", "1500", "--epochs", "40", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {r["query"] for r in rows} >= {"E[x4 | do(x3=2)]", "E[x3 | do(x1=1)]"}
    for r in rows:
        assert abs(r["ccgm"] - r["truth"]) < 0.15, r
    assert "abs_error" in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "mindset" in capsys.readouterr().out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        main(["nonsense"])
