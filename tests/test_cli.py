"""`python -m hazflow`: errors name the field; plan -> run-job -> ledger -> show on a real store; the
aggregation commands. Tests read each command's returned value (what `--json` prints), not its text."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hazflow.cli import build_parser, main, run
from hazflow.exceptions import BadRequest


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
        (["aggregate-hazard", "--quantiles", "1.5"], "quantiles: a quantile must lie in [0, 1]"),
        (["aggregate-disagg", "--gmms", "Nobody2099"], "gmms: unknown GMM branch id(s) ['Nobody2099']"),
    ],
)
def test_bad_input_exits_2_naming_the_field(argv, message, config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not config.store_root.exists(), "a rejected request writes nothing"


@pytest.mark.parametrize(
    "argv, field, values",
    [(["plan-hazard", "--sites", "-41.3~174.78", "WLG", "-43.530~172.630"], "sites", ["-41.3~174.78", "WLG", "-43.530~172.630"]),
     (["plan", "--sites", "NZ", "--leave-out", "-41.300~174.780"], "leave_out", ["-41.300~174.780"]),
     (["plan-hazard", "--sites", "-41~175"], "sites", ["-41~175"]),
     (["extract", "--bbox", "174.7", "-41.35", "174.85", "-41.2", "--dest", "out"], "bbox", [174.7, -41.35, 174.85, -41.2])],
    ids=["sites", "leave-out", "whole-degrees", "negative-numbers"],
)  # fmt: skip
def test_lat_lon_codes_south_of_the_equator_are_values_not_options(argv, field, values):
    """Every New Zealand `lat~lon` code starts with `-`: argparse took it for an unknown option."""
    assert getattr(build_parser().parse_args(argv), field) == values


def test_a_south_code_reaches_the_request(config):
    """The same job as the one code argparse always took (`--sites=...`, one value)."""
    jobs = run(["plan-hazard", "--sites", "-41.3~174.78", "--leaves", "SLAB-1"], config).value["jobs"]
    assert jobs == run(["plan-hazard", "--sites=-41.300~174.780", "--leaves", "SLAB-1"], config).value["jobs"]
    assert [j["sites"] for j in jobs] == [1]


def test_empty_ledger(config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert run(["ledger"], config).value == {"entries": [], "states": {}}
    assert main(["--json", "ledger"]) == 0
    assert json.loads(capsys.readouterr().out) == {"entries": [], "states": {}}
    assert main(["show", "WLG"]) == 1


@pytest.mark.openquake
def test_plan_run_ledger_show(config, monkeypatch, tmp_path):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(config.work_dir))
    specs = tmp_path / "specs.json"
    planned = run(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--out", str(specs)], config)
    assert [j["job"] for j in planned.value["jobs"]] == ["SLAB-1 vs30=400"] and planned.status == 0
    assert run(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--check"], config).status == 1
    # run-job in a separate process, as an operator would
    out = subprocess.run(
        [sys.executable, "-m", "hazflow", "--json", "run-job", str(specs)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    (ran,) = json.loads(out.stdout)
    assert (ran["job"], ran["openquake_ran"], ran["state"], ran["rows"]) == ("SLAB-1 vs30=400", True, "done", 2)
    ledger = run(["ledger", "--model", "DEMO"], config)
    assert ledger.value["states"] == {"done": 1}
    header, _, row = ledger.text.splitlines()[:3]
    assert header.split()[:10] == ["kind", "model", "leaf", "sites", "vs30", "imts", "poe", "state", "engine", "oq_s"]
    assert row.split()[:8] == ["hazard", "DEMO", "SLAB-1", "-41.300~174.780", "400", "PGA", "done", "oq"]  # no PoE: a hazard job
    shown = run(["show", "WLG"], config)
    assert shown.status == 0 and shown.value["site"]["name"] == "Wellington" and not shown.value["site"]["backarc"]
    assert {r["gmm"].split("(")[0] for c in shown.value["curves"] for r in c["realizations"]} >= {"Atkinson2022SSlab"}
    assert run(["plan-hazard", "--sites", "WLG", "--imts", "PGA", "--leaves", "SLAB-1", "--check"], config).status == 0
    assert len(json.loads(specs.read_text())) == 1


NSHM = ["--model", "NSHM_v1.0.4", "--sites", "NZ", "--leave-out", "WRE", "--imts", "PGA", "SA(0.2)", "SA(0.5)", "SA(1.5)", "SA(3.0)",
        "--poes", "0.02", "0.05", "0.1", "0.18", "0.39", "0.63", "0.86"]  # fmt: skip


def test_plan_shows_the_nshm_production_plan(config, monkeypatch):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    plan = run(["plan", *NSHM, "--without-levels", "--show", "1", "--engine", "oq"], config).value
    assert plan["dimensions"] == {"leaves": 49, "sites": 35, "VS30s": 1, "IMTs": 5, "PoEs": 7} and plan["jobs"] == 60_025
    assert plan["runs"] == 12_005  # the IMTs of one leaf/site/VS30/PoE share one
    assert plan["batches"] == 512 and (min(plan["batch_passes"]), max(plan["batch_passes"])) == (23, 24)
    assert plan["batch_labels"][0] == "AKL vs30=400 PGA,SA(0.2),SA(0.5),SA(1.5),SA(3.0) 2%/50yr PUY-1 (+23 more)"
    one_pass = run(["plan", *NSHM, "--without-levels"], config).value  # the default engine: every PoE and IMT in one pass
    assert (one_pass["engine"], one_pass["runs"], one_pass["passes"], one_pass["pass_runs"]) == ("hazardlib", 12_005, 343, [35])
    assert one_pass["batches"] == 343 and set(one_pass["batch_runs"]) == {35}
    assert not config.store_root.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", *NSHM], "imts: no aggregated mean hazard curve of NSHM_v1.0.4 for AKL vs30=400 PGA"),
        (
            ["plan", *NSHM, "--without-levels", "--vs30s", "400", "750", "1000", "--engine", "oq"],
            "batch_cap: 36,015 OpenQuake processes",
        ),
        (["plan", "--poes", "0"], "poes: a PoE must lie in (0, 1)"),
        (["plan", "--batch-cap", "2000", "--without-levels"], "batch_cap: 2000 batches is outside [1, 1024]"),
        (["plan", "--sites", "WLG", "--leave-out", "CHC"], "sites: cannot leave out CHC"),
        (["disagg", "--sites", "WLG"], "imts: no aggregated mean hazard curve of DEMO for WLG vs30=400 PGA"),
        (["plan", "--engine", "oq", "--contributors"], "contributors: the oq engine cannot record contributions"),
    ],
)
def test_plan_and_disagg_refuse_bad_requests(argv, message, config, monkeypatch, capsys):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not config.store_root.exists()


@pytest.mark.openquake
def test_disagg_runs_the_plan_here_and_reuses_it(config, demo):
    """One leaf at WLG at the level of a stored mean curve: one real OpenQuake run, then none."""
    import numpy as np

    from hazflow.store import HazardAggregate

    levels = np.asarray(demo.settings.levels)
    curve = np.minimum(1e-3 * (levels / 0.1) ** -2.0, 0.5)  # a power law: log-log interpolation is exact on it
    config.open_store().put_hazard_aggregates([HazardAggregate("DEMO", "-41.300~174.780", 400.0, "PGA", "mean", levels, curve)])
    argv = ["disagg", "--sites", "WLG", "--imts", "PGA", "--poes", "0.1", "--leaves", "SLAB-1"]
    first = run(argv, config).value
    (target,) = first["targets"]
    assert target["target"] == "WLG vs30=400 10%/50yr"
    assert target["levels"]["PGA"] == pytest.approx(0.1 * (1e-3 / 0.00210499) ** 0.5, rel=1e-5)  # 0.06892 g
    assert (first["summary"]["runs"], first["summary"]["skipped"], first["summary"]["to_do"]) == (1, 0, 1)
    assert [(r["label"], r["openquake_ran"], r["state"]) for r in first["runs"]] == [
        ("WLG vs30=400 PGA 10%/50yr SLAB-1", True, "done")
    ]
    again = run(argv, config).value
    assert (again["summary"]["skipped"], again["summary"]["to_do"], again["runs"]) == (1, 0, [])


@pytest.mark.openquake
def test_the_chain_on_the_command_line(config):
    """One leaf of each fault system through the whole chain without Airflow: hazard realizations,
    aggregate-hazard, disagg at the level read off that mean curve, aggregate-disagg with closure and a plot."""
    from hazflow.ingest.realizations import ingest_job
    from hazflow.run.job import run_job
    from hazflow.steps.hazard_realizations import plan_hazard

    store = config.open_store()
    leaves = ["CRU-1", "HIK-1", "SLAB-1"]
    for spec in plan_hazard({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": leaves}, config):
        run_job(spec, store, config)
        ingest_job(spec, store)
    argv = ["--sites", "WLG", "--imts", "PGA", "--leaves", *leaves, "--quantiles", "0.5"]
    hazard = run(["aggregate-hazard", *argv], config).value
    assert (hazard["targets"], hazard["statistics"]) == (1, 4)  # mean, std, cov, median
    assert hazard["plots"] == [store.report_uri("hazard/DEMO/WLG/DEMO-WLG-vs400-PGA.png")]
    assert {a.agg for a in store.get_hazard_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA")} == {"mean", "std", "cov", "0.5"}
    with pytest.raises(BadRequest, match="disaggregation realizations missing"):
        run(["aggregate-disagg", *argv, "--poes", "0.1"], config)
    assert run(["disagg", *argv[:-2], "--poes", "0.1"], config).value["summary"]["states"] == {"done": 3}
    disagg = run(["aggregate-disagg", *argv, "--poes", "0.1"], config).value
    label = "WLG vs30=400 PGA 10%/50yr"
    assert disagg["targets"] == 1 and disagg["method"][label] == "meet-in-the-middle"
    assert disagg["closure"][label] == pytest.approx(1.0, abs=0.02)  # the level came from this leaf's own mean curve
    stem = "disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe10"
    kinds = ("", "-mre", "-contributions", "-contributors")  # the last: the one-pass runs recorded contributors
    assert disagg["plots"] == [store.report_uri(f"{stem}{kind}.png") for kind in kinds]


def test_aggregate_disagg_then_show_reads_the_stored_summary(config, demo, monkeypatch):
    from hazflow.model.sites import resolve_sites
    from tests.steps.test_disagg_aggregation import _realizations, _store

    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    site = resolve_sites(["WLG"])[0]
    _store(config, _realizations(demo, site))
    argv = ["aggregate-disagg", "--model", "DEMO", "--sites", "WLG", "--vs30s", "400", "--imts", "PGA", "--poes", "0.1"]
    aggregated = run(argv, config)
    assert "mean M, R, eps" in aggregated.text and aggregated.value["mean_mre"]["WLG vs30=400 PGA 10%/50yr"].startswith("M")
    shown = run(["show", "WLG", "--model", "DEMO"], config)
    assert shown.status == 0 and shown.value["curves"] == []  # no hazard curves: the disaggregation alone
    (summary,) = shown.value["disaggregations"]
    assert summary["schema"] == "hazflow.disagg-summary/1" and summary["imt"] == "PGA" and summary["poe"] == 0.1
    assert sum(summary["contributions"]["by_leaf"].values()) == pytest.approx(100.0)
    assert f"mean M{summary['summary']['mean_mag']:.2f}" in shown.text and "fault systems: " in shown.text


def test_plan_in_iml_mode_counts_a_target_per_level(config, monkeypatch):
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(config.store_root))
    argv = ["plan", "--sites", "WLG", "CHC", "--imls", "PGA=0.2,0.5", "SA(0.5)=0.3", "--without-levels", "--engine", "hazardlib"]
    plan = run(argv, config).value
    assert plan["dimensions"] == {"leaves": 6, "sites": 2, "VS30s": 1, "IMT levels": 3}
    assert (plan["jobs"], plan["runs"], plan["passes"]) == (36, 36, 12)  # a pass per leaf x IMT: it shares one IMT set
    assert main(["plan", "--imls", "PGA=0.2", "--poes", "0.1", "--imts", "PGA"]) == 2  # poes or imls, not both
