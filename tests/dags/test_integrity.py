"""DAG integrity: every DAG imports, fast, with owner, tags, docs, retries and valid Params; import rules hold."""

from __future__ import annotations

import ast
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hazflow.config import DATA_DIR, PROJECT_ROOT

DAGS_DIR = PROJECT_ROOT / "dags"
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
HEAVY = {"numpy", "pandas", "h5py", "pyarrow", "pynamodb", "boto3", "botocore", "matplotlib", "scipy", "moto", "hazflow"}
# The domain modules DAG parsing may load: pure Python constants (limits, NSHM numbers) and the
# exception classes the retry policy names. Each imports nothing but the standard library (tested).
PARSE_TIME_DOMAIN = (
    "hazflow.aggregate.methods",
    "hazflow.choices",
    "hazflow.exceptions",
    "hazflow.limits",
    "hazflow.model.nshm",
    "hazflow.plan.batches",
    "hazflow.retries",
)
PARSE_TIME_PACKAGES = sorted({"hazflow", *PARSE_TIME_DOMAIN, *(m.rsplit(".", 1)[0] for m in PARSE_TIME_DOMAIN)})
PARSE_BUDGET_S = 2.0


def printed_by(code: str, env: dict[str, str] | None = None) -> list[str]:
    """The lines `code` prints, run by a fresh interpreter of this venv (nothing preloaded by the tests)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    return out.stdout.strip().splitlines()


@pytest.fixture(scope="module")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_files_exist():
    assert [p.name for p in DAG_FILES] == [
        "area_extract.py", "coverage_backfill.py", "disagg_aggregation.py", "disagg_realizations.py", "hazard_aggregation.py", "hazard_realizations.py"
    ]  # fmt: skip


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {
        "area_extract", "coverage_backfill", "disagg_aggregation", "disagg_realizations", "hazard_aggregation", "hazard_realizations"
    }  # fmt: skip


# What a DAG file may load beyond Airflow and PARSE_TIME_DOMAIN: disagg_realizations declares its mapped
# ECS task with the Amazon provider's EcsRunTaskOperator, whose module imports boto3 (0.12 s here).
PARSE_TIME_EXTRAS = {"disagg_realizations.py": ["boto3"]}


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_each_file_parses_within_budget(path):
    """A fresh interpreter imports the DAG file (Airflow itself preloaded, as the DAG processor has it)
    within the budget of CPU seconds (the CPU it takes, not the wall clock of a loaded machine)."""
    code = (
        "import time, runpy, airflow.sdk, hazflow_airflow.policies, hazflow_airflow.params\n"
        f"t = time.process_time(); runpy.run_path({str(path)!r}); print(time.process_time() - t)\n"
        "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'hazflow'))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'pandas', 'h5py', 'boto3', 'matplotlib', 'pynamodb'}))"
    )
    # the retry policy resolves hazflow.exceptions, the Params read the domain's limits and NSHM numbers
    # (pure Python, no imports); nothing else may load
    seconds, domain, heavy = printed_by(code)[-3:]
    assert float(seconds) < PARSE_BUDGET_S
    assert domain == str(PARSE_TIME_PACKAGES), f"parsing {path.name} imported {domain}"
    assert heavy == str(PARSE_TIME_EXTRAS.get(path.name, [])), f"parsing {path.name} imported {heavy}"


@pytest.mark.parametrize("module", PARSE_TIME_DOMAIN)
def test_the_domain_modules_dags_parse_with_import_only_the_standard_library(module):
    path = PROJECT_ROOT / "include" / (module.replace(".", "/") + ".py")
    if not path.exists():  # a package: its __init__
        path = PROJECT_ROOT / "include" / module.replace(".", "/") / "__init__.py"
    others = {m.split(".")[0] for m in _top_level_modules(path) - set(PARSE_TIME_DOMAIN)}
    assert others <= {"__future__", "collections", "dataclasses", "os", "typing"}  # the standard library's lightest


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_every_dag_is_documented_owned_tagged_and_retried(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 100, dag_id
        assert dag.tags, dag_id
        for t in dag.tasks:
            assert t.owner == "hazflow", (dag_id, t.task_id)
            assert t.retry_policy is not None, (dag_id, t.task_id)
        assert any(t.retries > 0 for t in dag.tasks), dag_id


@pytest.mark.airflow  # imports the DAGs with Airflow, in a fresh interpreter with the deployment's setting
@pytest.mark.parametrize("setting, first", [(None, 30.0), ("2.5", 2.5)])
def test_the_first_retry_delay_is_the_deployments(setting, first):
    """HAZFLOW_RETRY_DELAY sets every task's first retry delay (the tests' stacks use a short one); the
    backoff doubles it up to 10 minutes."""
    code = (
        "from airflow.models import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS_DIR)!r})\n"
        "print(sorted({(t.retry_delay.total_seconds(), t.retry_exponential_backoff, t.max_retry_delay.total_seconds())"
        " for d in bag.dags.values() for t in d.tasks}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "HAZFLOW_RETRY_DELAY"} | (
        {"HAZFLOW_RETRY_DELAY": setting} if setting else {}
    )
    assert printed_by(code, env)[-1] == str([(first, 2.0, 600.0)])


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_params_validate_their_defaults(dagbag):
    for dag in dagbag.dags.values():
        dag.params.validate()  # raises on any invalid default


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
@pytest.mark.parametrize(
    "dag_id, conf, bad",
    [("hazard_realizations", {"vs30s": [0]}, "vs30s"), ("hazard_realizations", {"imts": ["PGV"]}, "imts"),
     ("hazard_realizations", {"sites": []}, "sites"), ("hazard_realizations", {"force": "yes"}, "force"),
     ("disagg_realizations", {"poes": [0]}, "poes"), ("disagg_realizations", {"poes": [1]}, "poes"),
     ("disagg_realizations", {"poes": [0.1, 0.1]}, "poes"), ("disagg_realizations", {"batch_cap": 2000}, "batch_cap"),
     ("disagg_realizations", {"batch_cap": 0}, "batch_cap"), ("disagg_realizations", {"runner": "cloud"}, "runner"),
     ("disagg_realizations", {"leaves": []}, "leaves"), ("coverage_backfill", {"max_runs": 0}, "max_runs"),
     ("coverage_backfill", {"manifest": ""}, "manifest"), ("coverage_backfill", {"runner": "cloud"}, "runner"),
     ("disagg_aggregation", {"closure_tolerance": 1.5}, "closure_tolerance"),
     ("disagg_aggregation", {"fail_on_closure": "yes"}, "fail_on_closure"),
     ("hazard_realizations", {"model": "NSHM_v9"}, "model"),
     ("area_extract", {"bbox": [174.7, -41.3, 174.9]}, "bbox"), ("area_extract", {"vs30": 0}, "vs30"),
     ("area_extract", {"stat": "median"}, "stat"), ("area_extract", {"max_sites": 0}, "max_sites"),
     ("disagg_realizations", {"other_poes": ["1.5"]}, "other_poes"), ("disagg_realizations", {"poes": ["0"]}, "poes"),
     ("hazard_realizations", {"other_imts": ["PGV"]}, "other_imts"),
     ("hazard_realizations", {"other_vs30s": ["fast"]}, "other_vs30s"), ("hazard_realizations", {"vs30s": ["-400"]}, "vs30s")],
)  # fmt: skip
def test_params_reject_bad_form_values(dagbag, dag_id, conf, bad):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags[dag_id].params)
    with pytest.raises(ParamValidationError, match=bad):
        for key, value in conf.items():
            params[key] = value
        params.validate()


def _top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _top_level_imports(path: Path) -> set[str]:
    return {m.split(".")[0] for m in _top_level_modules(path)}


@pytest.mark.parametrize("path", DAG_FILES + sorted((PROJECT_ROOT / "plugins").rglob("*.py")), ids=lambda p: p.name)
def test_no_heavy_imports_at_module_top(path):
    """Heavy libraries load inside task bodies. The one plugin module that imports the Amazon provider
    at its top (`hazflow_airflow.ecs`, for the ECS operator's class) is imported by disagg_realizations alone."""
    light = {m for m in _top_level_modules(path) if m in PARSE_TIME_DOMAIN}
    assert not ({m.split(".")[0] for m in _top_level_modules(path) - light} & HEAVY)
    if "hazflow_airflow.ecs" in _top_level_modules(path):
        assert path.name == "disagg_realizations.py"


@pytest.mark.airflow  # imports Airflow's plugin base
def test_loading_the_ui_plugin_imports_no_web_app():
    """Every task process loads the plugins (for their macros): the UI plugin's module must not import
    its FastAPI app or the api-server's security module until the api-server asks for `fastapi_apps`."""
    code = (
        "import sys, runpy\n"
        f"plugin = runpy.run_path({str(PROJECT_ROOT / 'plugins' / 'hazflow_ui.py')!r})['HazflowUiPlugin']()\n"
        "print('LOADED', sorted(m for m in ('fastapi', 'hazflow_airflow.ui.app', 'airflow.api_fastapi.core_api.security') if m in sys.modules))\n"
        "print('ASKED', plugin.fastapi_apps[0]['url_prefix'], 'hazflow_airflow.ui.app' in sys.modules)"
    )
    printed = [line for line in printed_by(code) if line.startswith(("LOADED", "ASKED"))]  # not Airflow's log lines
    assert printed == ["LOADED []", "ASKED /hazflow True"]


def test_the_domain_never_imports_airflow():
    offenders = []
    for path in (PROJECT_ROOT / "include" / "hazflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            offenders += [f"{path.name}: {m}" for m in modules if m.split(".")[0] == "airflow"]
    assert offenders == []


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
@pytest.mark.parametrize("quantiles", [[1.5], [-0.1], ["median"]])
def test_aggregation_params_reject_bad_quantiles(dagbag, quantiles):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags["hazard_aggregation"].params)
    with pytest.raises(ParamValidationError, match="quantiles"):
        params["quantiles"] = quantiles


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_disagg_realizations_shape(dagbag):
    """plan -> runner (a branch) -> local: run (pool openquake) -> ingest (pool store_writes)
                                 -> ecs: stage -> run_task (EcsRunTaskOperator, deferrable) -> collect -> ingest
    -> summary -> start_aggregation."""
    from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

    dag = dagbag.dags["disagg_realizations"]
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["runner"].upstream_task_ids == {"plan"} and tasks["runner"].downstream_task_ids == {"local.run", "ecs.stage"}
    assert tasks["local.run"].pool == "openquake" and tasks["local.ingest"].pool == tasks["ecs.ingest"].pool == "store_writes"
    assert tasks["local.run"].upstream_task_ids == {"plan", "runner"} and tasks["local.ingest"].upstream_task_ids == {"local.run"}
    ecs = tasks["ecs.run_task"]  # mapped with .partial().expand_kwargs() over what ecs.stage returns
    assert issubclass(ecs.operator_class, EcsRunTaskOperator) and ecs.upstream_task_ids == {"ecs.stage"}
    assert {"overrides", "spec_uri"} <= set(ecs.operator_class.template_fields)  # rendered, so the UI shows them
    assert ecs.partial_kwargs["aws_conn_id"] is None and ecs.partial_kwargs["pool"] == "ecs_tasks"
    assert (
        tasks["ecs.collect"].upstream_task_ids == {"plan", "ecs.run_task"} and tasks["ecs.collect"].trigger_rule == "none_skipped"
    )
    assert tasks["ecs.ingest"].upstream_task_ids == {"ecs.collect"}
    assert tasks["summary"].upstream_task_ids == {"local.ingest", "ecs.ingest"}
    assert tasks["summary"].trigger_rule == "all_done" and [a.name for a in tasks["summary"].outlets] == ["disagg_realizations"]
    trigger = tasks["start_aggregation"]
    assert trigger.trigger_dag_id == "disagg_aggregation" and trigger.skip_when_already_exists
    assert trigger.upstream_task_ids == {"summary"}
    assert set(dag.params) >= {"model", "sites", "vs30s", "imts", "poes", "leaves", "runner", "batch_cap", "force"}


def test_the_pools_the_dags_name_are_set_up():
    import json

    pools = json.loads((DATA_DIR / "pools.json").read_text())
    assert {"openquake", "ecs_tasks", "store_writes"} <= set(pools) and pools["ecs_tasks"]["include_deferred"]
    assert all(p["slots"] >= 1 for p in pools.values())


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_hazard_realizations_starts_its_aggregation(dagbag):
    """The chain links itself: summary (an asset event) -> start_aggregation (conf = the realization set)."""
    tasks = {t.task_id: t for t in dagbag.dags["hazard_realizations"].tasks}
    assert [a.name for a in tasks["summary"].outlets] == ["hazard_realizations"]
    trigger = tasks["start_aggregation"]
    assert trigger.trigger_dag_id == "hazard_aggregation" and trigger.skip_when_already_exists
    assert trigger.trigger_run_id == "{{ run_id }}__hazard_aggregation" and trigger.upstream_task_ids == {"summary"}


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_area_extract_shape(dagbag):
    """plan -> run -> ingest -> targets -> aggregate -> bundle -> summary; the steps after the mapped ones run when those are empty."""
    tasks = {t.task_id: t for t in dagbag.dags["area_extract"].tasks}
    assert tasks["run"].upstream_task_ids == {"plan"} and tasks["ingest"].upstream_task_ids == {"run"}
    assert tasks["targets"].upstream_task_ids == {"ingest"} and tasks["targets"].trigger_rule == "none_failed"
    assert tasks["aggregate"].upstream_task_ids == {"targets"}
    assert tasks["bundle"].upstream_task_ids == {"aggregate"} and tasks["bundle"].trigger_rule == "none_failed"
    assert tasks["summary"].upstream_task_ids == {"bundle"}


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_coverage_backfill_shape(dagbag):
    """Scheduled, one run at a time; gaps -> fill (disagg_realizations runs named after the coverage run)."""
    dag = dagbag.dags["coverage_backfill"]
    assert dag.max_active_runs == 1 and dag.timetable.expression == "0 0 * * *"
    tasks = {t.task_id: t for t in dag.tasks}
    fill = tasks["fill"]
    assert fill.upstream_task_ids == {"gaps"} and fill.partial_kwargs["skip_when_already_exists"]
    assert fill.partial_kwargs["trigger_dag_id"] == "disagg_realizations"
    assert fill.partial_kwargs["trigger_run_id"] == "{{ run_id }}__fill_{{ ti.map_index }}"


def test_the_model_dropdown_offers_every_known_model():
    from hazflow.model.logic_tree import model_names
    from hazflow.model.nshm import KNOWN_MODELS

    assert sorted(KNOWN_MODELS) == sorted(model_names())  # nzshm-model's versions and DEMO


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
@pytest.mark.parametrize(
    "dag_id", ["hazard_realizations", "hazard_aggregation", "disagg_realizations", "disagg_aggregation", "area_extract"]
)
def test_the_form_offers_nshm_values_with_free_entry_beside(dagbag, dag_id):
    """Each pick list (a multi-select in the form: `examples`) offers NSHM's values and has a free-entry
    field `other_<name>` (a one-per-line text area: string items) beside it; the picks arrive as text."""
    from hazflow.model.nshm import NSHM_IMTS, NSHM_POES, NSHM_VS30S

    offered = {"vs30s": list(NSHM_VS30S), "imts": list(NSHM_IMTS), "poes": list(NSHM_POES)}
    params = dagbag.dags[dag_id].params
    names = [n for n in offered if n in params]
    assert names, dag_id
    for name in names:
        schema = params.get_param(name).schema
        assert schema["examples"] == offered[name] and set(schema["values_display"]) == {str(v) for v in offered[name]}
        assert params.get_param(f"other_{name}").schema["items"]["type"] == "string"
        form = copy.deepcopy(params)
        form[name] = [str(v) for v in offered[name][:2]]  # what the multi-select submits
        form[f"other_{name}"] = {"vs30s": ["325"], "imts": ["SA(0.75)"], "poes": ["0.25"]}[name]
        form.validate()


@pytest.mark.airflow  # imports and parses the DAGs with Airflow
def test_unscheduled_dags_are_unpaused_from_creation_and_the_scheduled_one_is_not(dagbag):
    """A run another DAG (or the UI) starts must not wait queued behind a pause; a daily backfill must
    not start on its own the moment it is deployed."""
    scheduled = {dag_id for dag_id, dag in dagbag.dags.items() if dag.timetable.can_be_scheduled}
    assert scheduled == {"coverage_backfill"}
    for dag_id, dag in dagbag.dags.items():
        # None: Airflow's default, dags_are_paused_at_creation (True here, as out of the box)
        expected = (None, True) if dag_id in scheduled else (False,)
        assert dag.is_paused_upon_creation in expected, dag_id
