"""Runtime configuration: an explicit, validated object, built from the environment only on request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hazflow.exceptions import BadRequest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


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
    aws_stage: str = "dev"  # table name prefix of the aws store
    aws_endpoint: str | None = None  # e.g. a moto_server URL; None is AWS itself
    aws_region: str = "ap-southeast-2"
    hazard_curves: str | None = None  # a toshi-hazard-store parquet dataset (folder or s3://) to plan from

    def __post_init__(self) -> None:
        if self.oq_timeout_s <= 0:
            raise BadRequest("HAZFLOW_OQ_TIMEOUT", f"must be > 0 seconds, got {self.oq_timeout_s}")
        if self.oq_parallel < 1:
            raise BadRequest("HAZFLOW_OQ_PARALLEL", f"must be >= 1 job at a time, got {self.oq_parallel}")

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
        return cls(
            store_backend=env.get("HAZFLOW_STORE_BACKEND", defaults.store_backend),
            store_root=_root(env.get("HAZFLOW_STORE_ROOT", str(defaults.store_root))),
            work_dir=Path(env.get("HAZFLOW_WORK_DIR", defaults.work_dir)),
            oq_python=Path(env.get("HAZFLOW_OQ_PYTHON", defaults.oq_python)),
            oq_timeout_s=timeout,
            oq_parallel=parallel,
            numba_cache_dir=Path(numba) if numba else defaults.numba_cache_dir,
            aws_stage=env.get("HAZFLOW_AWS_STAGE", defaults.aws_stage),
            aws_endpoint=env.get("HAZFLOW_AWS_ENDPOINT") or None,
            aws_region=env.get("AWS_DEFAULT_REGION", defaults.aws_region),
            hazard_curves=env.get("HAZFLOW_HAZARD_CURVES") or None,
        )

    def open_store(self):  # -> Store (imported lazily to keep this module light)
        from hazflow.store import open_store

        if self.store_backend == "aws":
            options = {"stage": self.aws_stage, "endpoint_url": self.aws_endpoint, "region": self.aws_region}
            return open_store("aws", str(self.store_root), cache=self.work_dir / "s3-cache", **options)
        return open_store(self.store_backend, str(self.store_root))

    def curves_source(self, levels):  # -> ThsHazardCurves | None (None: the store's own curves)
        """The toshi-hazard-store dataset to read disaggregation levels from, if one is configured."""
        if not self.hazard_curves:
            return None
        from hazflow.ths import ThsHazardCurves

        return ThsHazardCurves(self.hazard_curves, levels, self.aws_endpoint, self.aws_region)

    def openquake(self):  # -> OpenQuakeConfig
        from hazflow.openquake.runner import OpenQuakeConfig

        return OpenQuakeConfig(self.oq_python, self.oq_timeout_s, self.numba_cache_dir)


def _root(text: str) -> Path | str:
    """A store root as given: `s3://...` stays a string (a Path would fold its `//`)."""
    return text if text.startswith("s3://") else Path(text)
