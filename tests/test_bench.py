"""The benchmark command still runs and prints its figures (timings are reported, never asserted)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hazflow.config import PROJECT_ROOT

pytestmark = pytest.mark.bench


def test_aggregation_benchmark_prints_key_value_lines():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "aggregate_nshm.py"), "disagg_mean"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["disagg_mean.composites"] == "979776" and lines["disagg_mean.components"] == "912"
    assert float(lines["disagg_mean.seconds"]) > 0


def test_aggregation_benchmark_compares_the_compiled_search_with_the_methods_before():
    """`--compare` on the wide hazard case: the numpy search and full enumeration timed beside the
    compiled search, and every quantile of the three methods agreeing (the figures are printed)."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "aggregate_nshm.py"), "hazard.wide", "--compare", "--repeats", "1"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["hazard.wide.method"] == "meet-in-the-middle" and lines["hazard.wide.nonzero_quantiles_compared"] == "748"
    for key in ("seconds_1_thread", "numpy_search_seconds_1_thread", "ratio_numpy_search_over_compiled"):
        assert float(lines[f"hazard.wide.{key}"]) > 0
    assert float(lines["hazard.wide.max_rel_diff_compiled_vs_numpy_search"]) <= 1e-11
    assert float(lines["hazard.wide.max_rel_diff_mitm_vs_extended_precision"]) <= 1e-11
    assert float(lines["hazard.wide.peak_rss_mb_aggregate_1_thread"]) < 300


def test_contributions_benchmark_enumerates_every_nshm_composite():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "aggregate_nshm.py"), "contributions", "contributors", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["contributions.method"] == "enumeration" and lines["contributions.composites_enumerated"] == "979776"
    assert float(lines["contributions.seconds"]) > 0
    # a table of 143 contributors over NSHM's tree: beyond the enumeration budget, sampled as fault systems would be
    assert (lines["contributors.contributors"], lines["contributors.method"]) == ("143", "sampling")
    assert lines["contributors.composites_spread"] == "100000" and float(lines["contributors.seconds"]) > 0


def test_planning_benchmark_plans_a_million_jobs_and_prints_its_time():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "plan_nshm.py")], capture_output=True, text=True, timeout=300
    )  # the exit code says whether the target was met; that is the benchmark's verdict, not the test's
    assert (
        "NSHM_v1.0.4: 1,080,450 jobs = 216,090 runs (IMTs grouped); 500 already done, 215,590 to do in 6,174 hazardlib passes"
        in out.stdout
    )
    assert (
        "one DAG run refuses it with the oq engine (one process per run): batch_cap:" in out.stdout
        and "one DAG run per VS30" in out.stdout
    )
    assert "parse + plan, as the DAG's plan task does:" in out.stdout, out.stderr[-2000:]


@pytest.mark.parametrize("server", ["dynamodb", "moto_server"])
def test_dynamodb_writer_benchmark_writes_every_item_with_both_writers(server):
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "dynamo_writer.py"), "1000", "--latency-ms", "0", "5", "--server", server],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.stdout.count("stored 1,000 and 1,000") == 2, out.stdout + out.stderr[-2000:]
    assert "ratio by round trip: 0 ms" in out.stdout and ", 5 ms " in out.stdout
    # the target is judged only at the modelled DynamoDB round trip (20 ms), which this run leaves out
    assert "no run with a round trip of 20 ms or more: not judged" in out.stdout and out.returncode == 1


def test_ecs_cost_model_counts_the_nshm_request_with_the_planner():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "ecs_cost.py"), "--run-minutes", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "engine oq: 12,005 OpenQuake processes in 512 batches of 23-24 = 512 ECS tasks" in out.stdout
    assert re.search(r"^\s+oq\s+4\s+119\s+57\s+14\s", out.stdout, re.M), out.stdout  # 512 x (2 + 3 x 4) min = 119.5 h
    assert "engine hazardlib: 343 OpenQuake processes in 43 batches of 7-8 = 43 ECS tasks" in out.stdout
    # 343 passes of 5 sites x 4 min x (0.95 + 7 x 0.05) = 26 min each, 8 at once per task: 43 x (2 + 26) min = 20.1 h
    assert re.search(r"^\s+hazardlib\s+4\s+20\s+10\s+28\s", out.stdout, re.M), out.stdout
    # measured ratio 14.0: a pass of 35 runs x 4 min / 14 = 10 min, one per lane: 43 x (2 + 10) min = 8.6 h
    assert re.search(r"^\s*hazardlib-m\s+4\s+9\s+4\s+12\s", out.stdout, re.M), out.stdout
    # the rows from the CPU measured on nshm-size leaves, every fault system measured (none left at 0)
    measured = re.findall(r"^\s+(CRU|HIK|PUY|SLAB)\s+([\d.]+)\s+([\d.]+)$", out.stdout, re.M)
    assert [fs for fs, _, _ in measured] == ["CRU", "HIK", "PUY", "SLAB"] and all(
        float(a) > 0 and float(b) > 0 for _, a, b in measured
    )
    rows = {
        m[0]: float(m[1].replace(",", ""))
        for m in re.findall(r"^\s*(oq-nshm|hazardlib-nshm)\s+[\d.]+\s+([\d,.]+)\s", out.stdout, re.M)
    }
    assert rows.keys() == {"oq-nshm", "hazardlib-nshm"} and rows["oq-nshm"] > rows["hazardlib-nshm"] > 0


@pytest.mark.openquake
def test_disagg_engine_benchmark_runs_both_engines_and_compares_every_bin():
    """One leaf, one site, one PoE, one IMT: both engines run for real and their stored bins agree."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "disagg_engine.py"),
         "--sites", "WLG", "--imts", "PGA", "--poes", "0.1", "--leaves", "SLAB-1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("runs", "").startswith("1 "), out.stdout + out.stderr[-3000:]
    assert (lines["oq_passes"], lines["hazardlib_passes"], lines["hazardlib_processes"]) == ("1", "1", "1")
    assert lines["hazardlib_apart_passes"] == "1"
    assert float(lines["max_rel_diff"]) <= 1e-6 and float(lines["max_rel_diff_apart"]) <= 1e-6  # agreeing whatever the speed
    assert float(lines["oq_cpu_s"]) > 0 and float(lines["hazardlib_cpu_s"]) > 0 and float(lines["hazardlib_apart_cpu_s"]) > 0
    assert float(lines["cpu_ratio_apart"].split()[0]) > 0  # followed by what it means
    assert float(lines["hazardlib_plain_cpu_s"]) > 0  # the same one-pass runs without contributors
    for key in ("contributors_cpu_overhead", "contributors_bytes_overhead"):
        assert lines[key].split()[0].endswith("%"), key  # reported, not asserted
    assert lines["verdict"].startswith(("met", "not met"))  # one run gains little: the verdict is reported, not asserted


@pytest.mark.openquake
def test_nshm_leaf_benchmark_measures_both_engines_on_an_nshm_format_leaf(nshm_sources):
    """`test` size, one leaf: the engine at one PoE and the one-pass engine at the PoEs the leaves'
    curve reaches, value by value equal; every figure printed (timings reported, never asserted)."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "nshm_leaf.py"), "--sources", str(nshm_sources), "--leaves", "SLAB-1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("SLAB-1_states") == "done", out.stdout + out.stderr[-3000:]
    assert lines["SLAB-1_oq_runs"] == "1" and float(lines["SLAB-1_max_rel_diff"]) <= 1e-6
    for key in ("oq_cpu_s", "onepass_cpu_s", "oq_peak_rss_mb", "onepass_peak_rss_mb", "cpu_ratio", "stage_gmms_s"):
        assert float(lines[f"SLAB-1_{key}"]) > 0, key
    assert int(lines["SLAB-1_ruptures"]) > 0 and int(lines["SLAB-1_contexts"]) > 0
    assert float(lines["SLAB-1_contributors_cpu_s"]) > 0 and float(lines["SLAB-1_plain_cpu_s"]) > 0
    assert lines["SLAB-1_contributors_cpu_overhead"].endswith("%") and lines["SLAB-1_contributors_bytes_overhead"].endswith("%")
    assert lines["poes"].split()[0] == "0.02" and lines["verdict"].startswith(("met", "not met"))


@pytest.mark.openquake
@pytest.mark.parametrize("engine", ["oq", "hazardlib"])
def test_warm_openquake_benchmark_runs_each_job_cold_and_warm_and_compares_them(engine):
    """Two runs each way: every figure printed (timings reported, never asserted), the results equal."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "warm_openquake.py"), "--runs", "2", "--engine", engine],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("runs", "").startswith(f"2 ({engine}"), out.stdout + out.stderr[-3000:]
    for key in ("cold_cpu_s", "warm_cpu_s", "cold_wall_s", "warm_wall_s", "cpu_ratio", "wall_ratio", "warm_cpu_per_run_s"):
        assert float(lines[key]) > 0, key
    assert lines["equal"] == "true" and out.returncode == 0


@pytest.mark.airflow
def test_dags_test_fork_benchmark_runs_each_form_alternating():
    """One run of each form: each failed at its plan; every figure printed (timings reported, never asserted)."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "dags_test_fork.py"), "--runs", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("runs", "").startswith("1 of each"), out.stdout + out.stderr[-3000:]
    forms = ("imports", "api", "dagfile")
    for key in (*(f"{f}_{x}" for f in forms for x in ("cpu_s", "wall_s")), "api_cpu_ratio", "dagfile_cpu_ratio", "cpu_ratio"):
        assert float(lines[key]) > 0, key
    assert lines["same_outcome"] == "true" and out.returncode == 0


def test_demo_disagg_benchmark_times_the_demos_own_request():
    """bench/demo_disagg.py reads its request from scripts/demo_dags_test.sh, so it times what `make demo-dags-test` runs."""
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    try:
        import demo_disagg
    finally:
        sys.path.remove(str(PROJECT_ROOT / "bench"))
    request = demo_disagg.demo_request()
    assert request["poes"] == [0.1, 0.02] and request["sites"] == ["WLG", "CHC", "AKL"] and request["leaves"] == ["all"]
    assert json.dumps(request) in (PROJECT_ROOT / "scripts" / "demo_dags_test.sh").read_text()


@pytest.mark.openquake
def test_exposure_benchmark_selects_the_sites_of_a_portfolio_in_both_forms():
    """At 5,000 assets: both forms kept the same sites; every figure printed (the target is at 100,000)."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "exposure_sites.py"), "--assets", "5000"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines["sites_of_area"] == "764"
    for form in ("csv", "xml"):
        assert lines[f"{form}_assets"] == "5000" and 0 < int(lines[f"{form}_sites_kept"]) <= 764
        assert float(lines[f"{form}_first_selection_seconds"]) > float(lines[f"{form}_of_which_openquake_import_seconds"]) > 0
    assert lines["csv_sites_kept"] == lines["xml_sites_kept"] and lines["csv_assets_discarded"] == lines["xml_assets_discarded"]


def test_the_suite_timeline_sums_each_workers_time_and_its_idle_tail(tmp_path):
    """bench/suite_timeline.py on a timeline of known phases: wall, busy and idle tail per worker, files by seconds."""
    rows = [
        ("gw0", "tests/a/test_x.py::test_1", "setup", 0.0, 2.0), ("gw0", "tests/a/test_x.py::test_1", "call", 2.0, 10.0),
        ("gw1", "tests/b/test_y.py::test_2", "call", 0.5, 4.5), ("gw1", "tests/b/test_y.py::test_3", "call", 4.5, 6.0),
    ]  # fmt: skip
    path = tmp_path / "timeline.jsonl"
    path.write_text(
        "".join(json.dumps(dict(zip(("worker", "nodeid", "when", "start", "stop"), r, strict=True))) + "\n" for r in rows)
    )
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "suite_timeline.py"), str(path), "--compare", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("tests' wall time    10.0 s")
    assert "gw0: busy    10.0 s, last test ended at    10.0 s, idle tail    0.0 s" in lines[1]
    assert "gw1: busy     5.5 s, last test ended at     6.0 s, idle tail    4.0 s" in lines[2]
    assert lines[4].split() == ["10.0", "s", "2.0", "/", "8.0", "gw0", "tests/a/test_x.py"]
    assert lines[-1].endswith("ratio 1.000")


def test_the_suite_cpu_counts_a_commands_cpu_by_kind(tmp_path):
    """bench/suite_cpu.py runs the command, passes its exit code on, and counts its CPU."""
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\nraise SystemExit(3)"
    out = tmp_path / "cpu.json"
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "suite_cpu.py"), "--json", str(out), "--commands", "20", "--",
         sys.executable, "-c", spin],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    figures = json.loads(out.read_text())
    assert figures["exit"] == 3 and figures["busy_core_s"] >= 0.9 and figures["wall_s"] >= 1.0
    assert figures["command_cpu_s"] == pytest.approx(1.0, abs=0.2)  # the spinning python's own, from wait4
    # The spinning python to its end, read before it was reaped; plus any other process of no known
    # kind that ran meanwhile (the kinds count the whole machine: the suite's other worker, say).
    assert dict(figures["by_kind"])["other"] >= 0.95
    assert "busy" in done.stderr.splitlines()[0]
    # each kind's command lines, on one line with digits as 0: the spinner among its kind's, and printed
    spinner = re.sub(r"\d+", "0", " ".join(f"{sys.executable} -c {spin}".split()))[:140]
    assert dict(figures["by_command"]["other"])[spinner] >= 0.95
    assert any(line.split(maxsplit=1)[1] == spinner for line in done.stderr.splitlines() if line.startswith(" " * 10))


def test_param_checks_benchmark_serializes_every_dag_both_ways():
    """Both forms serialize the six DAGs to the same JSON; each schema is checked once per round with
    `once`, at every resolve without (the times are printed, never asserted)."""
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "param_checks.py"), "--rounds", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("dags") == "6", out.stdout + out.stderr[-3000:]
    resolves = int(lines["resolves_per_round"])
    assert int(lines["metaschema_checks_per_round_jsonschema"]) == resolves > 0
    assert 0 < int(lines["metaschema_checks_per_round_once"]) < resolves
    assert float(lines["jsonschema_cpu_s"]) > 0 and float(lines["once_cpu_s"]) > 0 and float(lines["cpu_ratio"]) > 0
    assert lines["same_serialization"] == "true" and out.returncode == 0


@pytest.mark.openquake
def test_warm_exit_benchmark_ends_forks_of_a_warm_openquake_process_both_ways():
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "warm_exit.py"), "--forks", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    assert lines.get("forks", "").startswith("1 each way"), out.stdout + out.stderr[-3000:]
    for key in ("resident_mb", "sys_exit_cpu_s", "leave_cpu_s", "sys_exit_page_faults", "leave_page_faults", "cpu_ratio"):
        assert float(lines[key]) > 0, key
    assert out.returncode == 0
