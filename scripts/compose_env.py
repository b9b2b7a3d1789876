"""Generate the secrets docker-compose.yaml requires into `.env` beside it (compose reads it), once.

    python scripts/compose_env.py      # `make compose-env`; then `docker compose up -d`

The file is created 0600 and never overwritten: a value already there is kept (rotating one is
deleting its line and running this again). It holds:
- HAZFLOW_JWT_SECRET: signs the API's and the task runners' tokens (Airflow's [api_auth] jwt_secret);
- HAZFLOW_FERNET_KEY: encrypts connections and variables in the database ([core] fernet_key);
- HAZFLOW_POSTGRES_PASSWORD: the database's password (scram-sha-256);
- HAZFLOW_ADMIN_PASSWORD: the UI's `admin` login (the simple auth manager's passwords file).
Compose refuses to start without them (`${VAR:?...}`), so there is no default secret to forget.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = {
    "HAZFLOW_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "HAZFLOW_FERNET_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),  # Fernet.generate_key()
    "HAZFLOW_POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
    "HAZFLOW_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(16),
}


def read_env(path: Path) -> dict[str, str]:
    """KEY=value lines of an env file (comments and blank lines skipped)."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def write_env(path: Path) -> list[str]:
    """Add the missing secrets to `path` (made 0600 if new, and kept 0600); the names added."""
    have = read_env(path)
    missing = [name for name in GENERATED if not have.get(name)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        for name in missing:
            f.write(f"{name}={GENERATED[name]()}\n")
    path.chmod(0o600)
    return missing


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else ROOT / ".env"
    added = write_env(path)
    print(f"{path}: {'added ' + ', '.join(added) if added else 'every secret already set'} (mode 0600)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
