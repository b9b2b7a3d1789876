"""`python -m hazflow`: errors name the field, and plan -> run-job -> ledger -> show on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hazflow.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan-hazard", "--sites", "XXX"], "sites: unknown site or list 'XXX'"),
        (["plan-hazard", "--sites", "1~x"], "sites: malformed location"),
        (["plan-hazard", "--imts", "PGV"], "imts: unknown IMT 'PGV'"),
        (["plan-hazard", "--vs30s", "-1"], "vs30s: VS30 must be > 0"),
        (["plan-hazard", "--model", "NOPE"], "model: unknown model"),
        (["plan-hazard", "--leaves", "CRU-7"], "leaves: unknown leaf 'CRU-7'"),
        (["show", "NOWHERE"], "site: unknown site"),
    ],
)
def test_bad_input_exits_2_naming_the_field(argv, message, config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not config.store_root.exists(), "a rejected request writes nothing"


def test_empty_ledger(config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(["ledger"]) == 0
    assert "the ledger is empty" in capsys.readouterr().out
    assert main(["show", "WLG"]) == 1


@pytest.mark.openquake
def test_plan_run_ledger_show(config, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(config.work_dir))
    specs = tmp_path / "specs.json"
    assert main(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--out", str(specs)]) == 0
    assert "SLAB-1 vs30=400" in capsys.readouterr().out
    assert main(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--check"]) == 1
    # run-job in a separate process, as an operator would
    env = {**os.environ}
    out = subprocess.run(
        [sys.executable, "-m", "hazflow", "run-job", str(specs)], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert "SLAB-1 vs30=400" in out.stdout and "done, 2 realization rows" in out.stdout
    capsys.readouterr()
    assert main(["ledger", "--model", "DEMO"]) == 0
    assert "1 job(s): 1 done" in capsys.readouterr().out
    assert main(["show", "WLG"]) == 0
    shown = capsys.readouterr().out
    assert "Wellington (WLG, -41.300~174.780, back-arc: no)" in shown and "Atkinson2022SSlab" in shown
    assert main(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--check"]) == 0
    assert len(json.loads(specs.read_text())) == 1
