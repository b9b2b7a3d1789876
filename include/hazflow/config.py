"""Runtime configuration: an explicit, validated object, built from the environment only on request."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hazflow.choices import DEFAULT_DISAGG_ENGINE, DISAGG_ENGINES
from hazflow.exceptions import BadRequest
from hazflow.remote.uris import location

if TYPE_CHECKING:  # imported lazily below: this module stays light
    from hazflow.openquake.runner import OpenQuakeConfig
    from hazflow.plan.ths import ThsHazardCurves
    from hazflow.store import Store

SHARE_SITES_ENV = "HAZFLOW_ONEPASS_SHARE_SITES"  # Config.onepass_share_sites
WARM_ENV = "HAZFLOW_OQ_WARM"  # Config.oq_warm
WARM_SOCKET_ENV = "HAZFLOW_OQ_WARM_SOCKET"  # Config.oq_warm_socket

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Data hazflow ships (model definitions, coverage manifests, Airflow pools), in a folder whose name
# no import can resolve, so it never shadows a package.
DATA_DIR = PROJECT_ROOT / "include" / "hazflow-data"


@dataclass(frozen=True)
class Config:
    """Where the store is, where OpenQuake is, and how long one job may take."""

    store_backend: str = "local"
    store_root: Path | str = PROJECT_ROOT / "var" / "store"  # a folder (local) or s3://bucket/prefix (aws)
    work_dir: Path = PROJECT_ROOT / "var" / "work"
    oq_python: Path = PROJECT_ROOT / ".venv-oq" / "bin" / "python"
    oq_timeout_s: float = 3600.0
    oq_parallel: int = max(1, os.cpu_count() or 1)  # OpenQuake jobs a batch runs at once (one core each)
    numba_cache_dir: Path | None = PROJECT_ROOT / ".cache" / "numba"
    # Whether OpenQuake runs fork a warm OpenQuake process, its imports paid once per process, or each
    # start cold (HAZFLOW_OQ_WARM, 1 or 0; see hazflow.openquake.warm).
    oq_warm: bool = True
    # A warm OpenQuake process this host runs for every process (`python -m hazflow.openquake.warm
    # SOCKET` in the OpenQuake venv), whose socket runs fork instead of each process starting its own
    # (HAZFLOW_OQ_WARM_SOCKET; a run it cannot take runs cold, with a warning).
    oq_warm_socket: Path | None = None
    aws_stage: str = "dev"  # table name prefix of the aws store
    aws_endpoint: str | None = None  # e.g. a moto_server URL; None is AWS itself
    aws_region: str = "ap-southeast-2"
    hazard_curves: str | None = None  # a toshi-hazard-store parquet dataset (folder or s3://) to plan from
    disagg_engine: str = DEFAULT_DISAGG_ENGINE  # the deployment's default: "hazardlib" (one pass) or "oq"
    # NSHM source archives (hazflow.model.archives): the operator's root (a folder or s3:// prefix of
    # <toshi id>.zip or <toshi id>/), the Toshi API to fall back on, and what an archive may unpack to.
    nshm_sources: str | None = None
    toshi_api_url: str | None = None
    toshi_api_key: str | None = None
    toshi_timeout_s: float = 30.0
    archive_max_bytes: int = 8 << 30
    # The aws store's local artifact cache (<work_dir>/s3-cache), trimmed to this, oldest first
    # (HAZFLOW_S3_CACHE_MAX_BYTES).
    s3_cache_max_bytes: int = 4 << 30
    # How long a computation's lease lives without a heartbeat (HAZFLOW_LEASE_TTL, s; the heartbeat
    # renews it every third of that): how soon a killed copy's work can be taken over (aws store).
    lease_ttl_s: float = 60.0
    # The VS30 range (m/s) requests may ask for, instead of each model's own (NSHM: 150 to 1500 m/s);
    # HAZFLOW_VS30_RANGE="min,max".
    vs30_range: tuple[float, float] | None = None
    # Whether the sites of a one-pass disaggregation may share one calculation where the leaf's sources
    # allow it (HAZFLOW_ONEPASS_SHARE_SITES, 1 or 0; see hazflow.openquake.engines). 0: every site a
    # calculation of its own, equal to the engine's single-site run to the last bit.
    onepass_share_sites: bool = True
    # Where hazflow's own models (DEMO) are, one folder each in nzshm-model's JSON format with their
    # NRML (HAZFLOW_MODELS_DIR); NSHM's come from nzshm-model and their source archives.
    models_dir: Path = DATA_DIR / "models"

    def __post_init__(self) -> None:
        if self.oq_timeout_s <= 0:
            raise BadRequest("HAZFLOW_OQ_TIMEOUT", f"must be > 0 seconds, got {self.oq_timeout_s}")
        if self.oq_parallel < 1:
            raise BadRequest("HAZFLOW_OQ_PARALLEL", f"must be >= 1 job at a time, got {self.oq_parallel}")
        if self.toshi_timeout_s <= 0:
            raise BadRequest("HAZFLOW_TOSHI_TIMEOUT", f"must be > 0 seconds, got {self.toshi_timeout_s}")
        if not self.lease_ttl_s >= 3:
            raise BadRequest("HAZFLOW_LEASE_TTL", f"must be >= 3 seconds, got {self.lease_ttl_s}")
        if self.archive_max_bytes < 1:
            raise BadRequest("HAZFLOW_ARCHIVE_MAX_BYTES", f"must be >= 1 byte, got {self.archive_max_bytes}")
        if self.disagg_engine not in DISAGG_ENGINES:
            raise BadRequest("HAZFLOW_DISAGG_ENGINE", f"expected one of {', '.join(DISAGG_ENGINES)}, got {self.disagg_engine!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read HAZFLOW_* variables (and NUMBA_CACHE_DIR); unset ones keep the defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        try:
            timeout = float(env.get("HAZFLOW_OQ_TIMEOUT", defaults.oq_timeout_s))
        except ValueError:
            raise BadRequest("HAZFLOW_OQ_TIMEOUT", f"not a number: {env['HAZFLOW_OQ_TIMEOUT']!r}") from None
        try:
            parallel = int(env.get("HAZFLOW_OQ_PARALLEL", defaults.oq_parallel))
        except ValueError:
            raise BadRequest("HAZFLOW_OQ_PARALLEL", f"not a whole number: {env['HAZFLOW_OQ_PARALLEL']!r}") from None
        numba = env.get("NUMBA_CACHE_DIR")
        toshi_timeout = _number(env, "HAZFLOW_TOSHI_TIMEOUT", defaults.toshi_timeout_s, float)
        archive_max = _number(env, "HAZFLOW_ARCHIVE_MAX_BYTES", defaults.archive_max_bytes, int)
        cache_max = _number(env, "HAZFLOW_S3_CACHE_MAX_BYTES", defaults.s3_cache_max_bytes, int)
        lease_ttl = _number(env, "HAZFLOW_LEASE_TTL", defaults.lease_ttl_s, float)
        vs30_range = _range(env, "HAZFLOW_VS30_RANGE")
        share, warm = (_switch(env, name) for name in (SHARE_SITES_ENV, WARM_ENV))
        return cls(
            store_backend=env.get("HAZFLOW_STORE_BACKEND", defaults.store_backend),
            store_root=location(env.get("HAZFLOW_STORE_ROOT", str(defaults.store_root))),
            work_dir=Path(env.get("HAZFLOW_WORK_DIR", defaults.work_dir)),
            oq_python=Path(env.get("HAZFLOW_OQ_PYTHON", defaults.oq_python)),
            oq_timeout_s=timeout,
            oq_parallel=parallel,
            numba_cache_dir=Path(numba) if numba else defaults.numba_cache_dir,
            aws_stage=env.get("HAZFLOW_AWS_STAGE", defaults.aws_stage),
            aws_endpoint=env.get("HAZFLOW_AWS_ENDPOINT") or None,
            aws_region=env.get("AWS_DEFAULT_REGION", defaults.aws_region),
            hazard_curves=env.get("HAZFLOW_HAZARD_CURVES") or None,
            disagg_engine=env.get("HAZFLOW_DISAGG_ENGINE", defaults.disagg_engine),
            nshm_sources=env.get("HAZFLOW_NSHM_SOURCES") or None,
            toshi_api_url=env.get("HAZFLOW_TOSHI_API_URL") or None,
            toshi_api_key=env.get("HAZFLOW_TOSHI_API_KEY") or None,
            toshi_timeout_s=toshi_timeout,
            archive_max_bytes=archive_max,
            s3_cache_max_bytes=cache_max,
            lease_ttl_s=lease_ttl,
            vs30_range=vs30_range,
            onepass_share_sites=share,
            oq_warm=warm,
            oq_warm_socket=Path(env[WARM_SOCKET_ENV]) if env.get(WARM_SOCKET_ENV) else None,
            models_dir=Path(env.get("HAZFLOW_MODELS_DIR", defaults.models_dir)),
        )

    def open_store(self) -> Store:
        """The store this configuration names (nothing is created until the first write)."""
        from hazflow.store import open_store

        if self.store_backend == "aws":
            return open_store(
                "aws", str(self.store_root), self.aws_stage, self.aws_endpoint, self.aws_region,
                cache=self.work_dir / "s3-cache", cache_max_bytes=self.s3_cache_max_bytes,
            )  # fmt: skip
        return open_store(self.store_backend, str(self.store_root))

    def curves_source(self, levels: Sequence[float]) -> ThsHazardCurves | None:
        """The toshi-hazard-store dataset to read disaggregation levels from, if one is configured
        (None: the store's own aggregated curves)."""
        if not self.hazard_curves:
            return None
        from hazflow.plan.ths import ThsHazardCurves

        return ThsHazardCurves(self.hazard_curves, levels, self.aws_endpoint, self.aws_region)

    def openquake(self) -> OpenQuakeConfig:
        """Where the OpenQuake venv is, its time limit and numba cache, and whether runs start warm."""
        from hazflow.openquake.runner import OpenQuakeConfig

        return OpenQuakeConfig(self.oq_python, self.oq_timeout_s, self.numba_cache_dir, self.oq_warm, self.oq_warm_socket)


def _switch(env: Mapping[str, str], name: str) -> bool:
    """`env[name]` as 1 (on, the default when unset) or 0 (off); anything else is refused by name."""
    value = env.get(name, "1").strip()
    if value not in ("0", "1"):
        raise BadRequest(name, f"expected 0 or 1, got {value!r}")
    return value == "1"


def _range(env: Mapping[str, str], name: str) -> tuple[float, float] | None:
    """`env[name]` as "min,max" (0 < min < max, finite), or None when unset."""
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise BadRequest(name, f"expected min,max such as 150,1500, got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
        raise BadRequest(name, f"expected 0 < min < max, both finite, got {text!r}")
    return (low, high)


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    """`env[name]` as `kind` (int or float), or `default`; `BadRequest` naming the variable."""
    try:
        return kind(env.get(name, default))
    except ValueError:
        raise BadRequest(name, f"not a {'whole ' if kind is int else ''}number: {env[name]!r}") from None
