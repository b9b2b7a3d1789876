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


NSHM = ["--model", "NSHM_v1.0.4", "--sites", "NZ", "--leave-out", "WRE", "--imts", "PGA", "SA(0.2)", "SA(0.5)", "SA(1.5)", "SA(3.0)",
        "--poes", "0.02", "0.05", "0.1", "0.18", "0.39", "0.63", "0.86"]  # fmt: skip


def test_plan_shows_the_nshm_production_plan(config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(["plan", *NSHM, "--without-levels", "--show", "1"]) == 0
    out = capsys.readouterr().out
    assert "NSHM_v1.0.4: 49 leaves x 35 sites x 1 VS30s x 5 IMTs x 7 PoEs = 60,025 jobs" in out
    assert "OpenQuake runs (the IMTs of one leaf/site/VS30/PoE share one): 12,005" in out
    assert "batches: 512 (cap 512) of 23-24 runs (115-120 jobs)" in out
    assert "AKL vs30=400 PGA,SA(0.2),SA(0.5),SA(1.5),SA(3.0) 2%/50yr PUY-1 (+23 more)" in out
    assert not config.store_root.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", *NSHM], "imts: no aggregated mean hazard curve of NSHM_v1.0.4 for AKL vs30=400 PGA"),
        (["plan", *NSHM, "--without-levels", "--vs30s", "400", "750", "1000"], "batch_cap: 36,015 OpenQuake runs"),
        (["plan", "--poes", "0"], "poes: a PoE must lie in (0, 1)"),
        (["plan", "--batch-cap", "2000", "--without-levels"], "batch_cap: 2000 batches is outside [1, 1024]"),
        (["plan", "--sites", "WLG", "--leave-out", "CHC"], "sites: cannot leave out CHC"),
        (["disagg", "--sites", "WLG"], "imts: no aggregated mean hazard curve of DEMO for WLG vs30=400 PGA"),
    ],
)
def test_plan_and_disagg_refuse_bad_requests(argv, message, config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not config.store_root.exists()


@pytest.mark.openquake
def test_disagg_runs_the_plan_here_and_reuses_it(config, demo, monkeypatch, capsys):
    """One leaf at WLG at the level of a stored mean curve: one real OpenQuake run, then none."""
    import numpy as np

    from hazflow.store import HazardAggregate

    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(config.work_dir))
    levels = np.asarray(demo.settings.levels)
    curve = np.minimum(1e-3 * (levels / 0.1) ** -2.0, 0.5)  # a power law: log-log interpolation is exact on it
    config.open_store().put_hazard_aggregates([HazardAggregate("DEMO", "-41.300~174.780", 400.0, "PGA", "mean", levels, curve)])
    argv = ["disagg", "--sites", "WLG", "--imts", "PGA", "--poes", "0.1", "--leaves", "SLAB-1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "target WLG vs30=400 10%/50yr: PGA 0.06892 g" in out  # 0.1 g * (1e-3 / 0.0021050) ** 0.5
    assert "1 OpenQuake run(s): 0 already finished, 1 to do" in out and "WLG vs30=400 PGA 10%/50yr SLAB-1" in out
    assert main(argv) == 0
    assert "1 OpenQuake run(s): 1 already finished, 0 to do" in capsys.readouterr().out
