"""docker-compose.yaml and the Dockerfiles, checked against what the DAGs and the worker need.

No Docker engine runs here, so the stack is parsed, not started: services and their healthchecks,
dependencies, volumes, the store settings every container shares, pinned versions matching the
locks, and the pools the DAGs name.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys

import pytest
import yaml

from hazflow.config import DATA_DIR, PROJECT_ROOT, Config
from hazflow.run.ecs import EcsSettings, worker_environment

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
LONG_RUNNING = (*AIRFLOW_SERVICES, "postgres", "moto")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


def _pin(lock: str, package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (PROJECT_ROOT / lock).read_text(), re.M)
    assert match, f"{package} is not pinned in {lock}"
    return match.group(1)


def test_the_stack_has_airflow_3_services_postgres_moto_and_the_worker(compose):
    services = compose["services"]
    assert set(services) == {*LONG_RUNNING, "airflow-init", "worker"}
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands == {
        "airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
    }  # fmt: skip
    assert services["worker"]["profiles"] == ["worker"]  # run by hand, like one ECS task


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(compose, name):
    check = compose["services"][name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1 and check["retries"] >= 3


def test_dependencies_wait_for_health_or_completion(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
            else:
                assert (dependency, condition["condition"]) == ("airflow-init", "service_completed_successfully")
    for name in AIRFLOW_SERVICES:
        assert set(services[name]["depends_on"]) == {"postgres", "moto", "airflow-init"}


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_airflow_containers_see_the_project_and_share_its_settings(compose, name):
    service = compose["services"][name]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in service["volumes"] if m.startswith("./")}
    assert mounts == {"./dags": "/opt/airflow/dags", "./plugins": "/opt/airflow/plugins", "./include": "/opt/airflow/include"}
    for host in mounts:
        assert (PROJECT_ROOT / host).is_dir()
    env = service["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:${HAZFLOW_POSTGRES_PASSWORD")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("}@postgres/airflow")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
    assert env["HAZFLOW_RUNNER"] in {"local", "ecs"}
    named = {m.split(":")[0] for m in service["volumes"] if not m.startswith("./")}
    assert named <= set(compose["volumes"])


def test_every_container_reaches_the_same_store_on_moto(compose):
    services = compose["services"]
    moto = services["moto"]
    port = moto["command"][moto["command"].index("-p") + 1]
    keys = ("HAZFLOW_STORE_BACKEND", "HAZFLOW_STORE_ROOT", "HAZFLOW_AWS_STAGE", "HAZFLOW_AWS_ENDPOINT", "AWS_DEFAULT_REGION")
    stores = {name: tuple(s["environment"][k] for k in keys) for name, s in services.items() if name not in {"postgres", "moto"}}
    assert len(set(stores.values())) == 1, stores
    backend, root, stage, endpoint, region = next(iter(stores.values()))
    assert endpoint == f"http://moto:{port}" and "ports" not in moto  # reached on the compose network only
    config = Config.from_env(services["worker"]["environment"])  # what the worker reads of it
    assert (config.store_backend, str(config.store_root), config.aws_endpoint) == (backend, root, endpoint)
    # the worker's environment carries everything an ECS task gets from the runner, same values
    expected = worker_environment(config, EcsSettings(oq_parallel=int(services["worker"]["environment"]["HAZFLOW_OQ_PARALLEL"])))
    missing = {k: v for k, v in expected.items() if k != "HAZFLOW_OQ_TIMEOUT" and services["worker"]["environment"].get(k) != v}
    assert missing == {}


def test_the_pools_the_dags_name_are_imported_at_init(compose):
    init = " ".join(compose["services"]["airflow-init"]["command"])
    assert init.startswith("-c set -e;")  # a failed migration fails the init, and so the stack
    assert "airflow db migrate" in init and "airflow pools import /opt/airflow/include/hazflow-data/pools.json" in init
    pools = set(json.loads((DATA_DIR / "pools.json").read_text()))
    named = set()
    for path in (PROJECT_ROOT / "dags").glob("*.py"):
        named |= set(re.findall(r'pool="([^"]+)"', path.read_text()))
    assert named and named <= pools


def test_images_pin_the_versions_of_the_locks():
    worker = (PROJECT_ROOT / "docker" / "openquake.Dockerfile").read_text()
    airflow = (PROJECT_ROOT / "docker" / "airflow.Dockerfile").read_text()
    oq_version = re.search(r"^OQ_VERSION := (\S+)$", (PROJECT_ROOT / "Makefile").read_text(), re.M).group(1)
    assert f"ARG OQ_VERSION={oq_version}\nFROM openquake/engine:${{OQ_VERSION}}" in worker
    assert f"ARG OQ_VERSION={oq_version}" in airflow
    assert f"FROM apache/airflow:{_pin('requirements.txt', 'apache-airflow')}-python3.11" in airflow
    assert "-r /opt/hazflow/requirements.txt" in airflow and "-r /opt/hazflow/requirements-worker.txt" in worker
    assert _pin("requirements-worker.txt", "pynamodb") == _pin("requirements.txt", "pynamodb")
    assert 'ENTRYPOINT ["/bin/bash", "-c"]' in worker  # the ECS command override is one string
    assert "NUMBA_CACHE_DIR" in worker and "import openquake.calculators.disaggregation" in worker  # warmed at build
    # the aggregation's numba kernels are compiled at build, from the copied domain package
    assert airflow.index("warm_kernels()") > airflow.index("COPY --chown=airflow:root include/")
    assert _pin("requirements-worker.txt", "numba") == _pin("requirements.txt", "numba")
    for dockerfile in (worker, airflow):
        for source in re.findall(r"^COPY (?:--\S+ )*(.+?) \S+$", dockerfile, re.M):
            for part in source.split():
                assert (PROJECT_ROOT / part).exists(), part


def test_compose_images_are_the_dockerfiles_builds(compose):
    services = compose["services"]
    assert services["worker"]["build"]["dockerfile"] == "docker/openquake.Dockerfile"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert services[name]["build"]["dockerfile"] == "docker/airflow.Dockerfile"
    assert services["moto"]["image"] == f"motoserver/moto:{_pin('requirements-dev.txt', 'moto')}"


def _pins(lock: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (PROJECT_ROOT / lock).read_text(), re.M))


def test_the_images_get_the_runtime_lock_and_tests_get_the_same_pins_plus_their_tools():
    runtime, dev = _pins("requirements.txt"), _pins("requirements-dev.txt")
    assert not {"moto", "pytest", "pytest-timeout", "ruff", "mypy", "waitress"} & set(runtime)  # no test tool in an image
    assert {"moto", "pytest", "ruff", "mypy", "waitress"} <= set(dev)
    assert {name: dev.get(name) for name in runtime} == runtime  # tests run what production runs
    assert not {"moto", "pytest", "ruff"} & set(_pins("requirements-worker.txt"))


# --- closed by default ---
def _required(value: str) -> str:
    """The variable a `${NAME:?message}` value requires (compose refuses to start without it)."""
    match = re.fullmatch(r".*\$\{(\w+):\?[^}]+\}.*", value)
    assert match, f"{value!r} is not required from the environment"
    return match.group(1)


def test_only_the_ui_is_published_and_on_127_0_0_1_unless_told(compose):
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}
    assert published == {"airflow-apiserver": ["${HAZFLOW_BIND:-127.0.0.1}:8080:8080"]}  # moto, postgres: network only


def test_there_is_real_auth_and_no_built_in_secret(compose):
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = compose["services"][name]["environment"]
        assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in env  # everyone logs in
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
        assert _required(env["AIRFLOW__API_AUTH__JWT_SECRET"]) == "HAZFLOW_JWT_SECRET"
        assert _required(env["AIRFLOW__CORE__FERNET_KEY"]) == "HAZFLOW_FERNET_KEY"
        assert _required(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]) == "HAZFLOW_POSTGRES_PASSWORD"
    init = compose["services"]["airflow-init"]
    assert _required(init["environment"]["HAZFLOW_ADMIN_PASSWORD"]) == "HAZFLOW_ADMIN_PASSWORD"
    assert "umask 077;" in init["command"][1]  # the admin's password file is written 0600
    postgres = compose["services"]["postgres"]["environment"]
    assert _required(postgres["POSTGRES_PASSWORD"]) == "HAZFLOW_POSTGRES_PASSWORD"
    assert postgres["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert postgres["POSTGRES_INITDB_ARGS"] == "--auth-host=scram-sha-256 --auth-local=scram-sha-256"
    text = (PROJECT_ROOT / "docker-compose.yaml").read_text()
    assert "hazflow-local-only-secret" not in text and 'FERNET_KEY: ""' not in text


def test_the_secrets_are_generated_once_into_a_private_env_file(tmp_path):
    env_file = tmp_path / ".env"
    first = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "compose_env.py"), str(env_file)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "added HAZFLOW_JWT_SECRET, HAZFLOW_FERNET_KEY, HAZFLOW_POSTGRES_PASSWORD, HAZFLOW_ADMIN_PASSWORD" in first.stdout
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert len(base64.urlsafe_b64decode(values["HAZFLOW_FERNET_KEY"])) == 32  # a Fernet key
    assert all(len(v) >= 16 for v in values.values())
    env_file.write_text(env_file.read_text().replace(f"HAZFLOW_ADMIN_PASSWORD={values['HAZFLOW_ADMIN_PASSWORD']}\n", ""))
    os.chmod(env_file, 0o644)
    again = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "compose_env.py"), str(env_file)],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "added HAZFLOW_ADMIN_PASSWORD" in again.stdout and stat.S_IMODE(env_file.stat().st_mode) == 0o600
    kept = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert {k: kept[k] for k in values if k != "HAZFLOW_ADMIN_PASSWORD"} == {
        k: v for k, v in values.items() if k != "HAZFLOW_ADMIN_PASSWORD"
    }


def test_the_secrets_folder_exists_private_in_the_image():
    assert "mkdir -m 700 /opt/airflow/secrets" in (PROJECT_ROOT / "docker" / "airflow.Dockerfile").read_text()
