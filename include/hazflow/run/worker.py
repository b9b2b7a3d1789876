"""The worker entrypoint: one batch of OpenQuake runs, wherever it runs.

    python -m hazflow.run.worker run-batch <batch spec uri>

A batch spec (a local path or s3://) holds the passes of one batch of a plan, each a list of job
specs checked against their keys. The worker runs them with the same code as the local runner
(`hazflow.run.batch.run_each`: render, one OpenQuake process per pass, artifacts into the store, a
`ran` ledger entry per job), then writes a result manifest beside the spec: what ran, what was
skipped, what failed and why (per job), on which host, when. Ingest happens
elsewhere (on an Airflow worker, never on the OpenQuake node) from the ledger and the artifacts.

The store is the one `Config.from_env()` describes (HAZFLOW_STORE_BACKEND, HAZFLOW_STORE_ROOT, ...):
an ECS task gets those in its environment. Exit status: 0 every run finished, 1 some failed (the
manifest says which; rerunning the spec repeats only those), 2 the spec or the configuration is bad.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hazflow.config import Config
from hazflow.exceptions import BadRequest, HazflowError, boundary_class, rebuild
from hazflow.openquake.spec import DisaggPass, JobSpec
from hazflow.plan.disagg import BatchRef
from hazflow.remote import documents, uris
from hazflow.run.batch import Failure, batch_failure, run_each

logger = logging.getLogger("hazflow.run.worker")  # its own name also when run as `python -m`

SPEC_FORMAT = "hazflow.run.batch-spec/1"
MANIFEST_FORMAT = "hazflow.run.batch-result/1"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BatchSpec:
    """The passes of one batch of a plan, as a worker anywhere receives them."""

    plan_id: str
    batch: int
    label: str
    passes: tuple[DisaggPass, ...]
    force: bool = False

    @property
    def jobs(self) -> tuple[JobSpec, ...]:
        return tuple(job for p in self.passes for job in p.jobs)

    def to_json(self) -> bytes:
        passes = [p.to_dict() | {"label": p.label} for p in self.passes]
        document = {"format": SPEC_FORMAT, "plan_id": self.plan_id, "batch": self.batch, "label": self.label, "force": self.force}
        return json.dumps(document | {"passes": passes}, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, uri: str) -> BatchSpec:
        """Parse and check a spec; `BadRequest` naming the file and the field at fault."""
        try:
            document = json.loads(data)
        except ValueError as e:
            raise BadRequest(uri, f"not a JSON batch spec: {e}") from None
        if not isinstance(document, dict) or document.get("format") != SPEC_FORMAT:
            found = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise BadRequest(f"{uri}: format", f"expected {SPEC_FORMAT!r}, found {found!r}")
        for name, kind in (("plan_id", str), ("batch", int), ("label", str), ("force", bool), ("passes", list)):
            if not isinstance(document.get(name), kind):
                raise BadRequest(f"{uri}: {name}", f"missing or not a {kind.__name__}")
        passes = []
        for i, p in enumerate(document["passes"]):
            if not isinstance(p, dict) or not isinstance(p.get("jobs"), list):
                raise BadRequest(f"{uri}: passes[{i}]", "not a pass: expected an object with a list of jobs")
            passes.append(DisaggPass.from_dict(p, f"{uri}: passes[{i}]"))
        return cls(document["plan_id"], document["batch"], document["label"], tuple(passes), document["force"])


@dataclass(frozen=True)
class Manifest:
    """What a worker did with one batch spec."""

    spec_uri: str
    plan_id: str
    batch: int
    label: str
    host: str
    started_at: str
    finished_at: str
    seconds: float
    outcomes: tuple[dict[str, Any], ...] = ()  # Outcome.to_dict() of each run that finished (ran or skipped)
    failures: tuple[Failure, ...] = field(default=())
    ecs_task_arn: str = ""  # the ECS task that wrote it (from the container's task metadata); "" elsewhere

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def ran(self) -> dict[str, bool]:
        """job key -> whether OpenQuake ran it now (False: the ledger had it already)."""
        return {o["job_key"]: not o["skipped"] for o in self.outcomes}

    def error(self) -> HazflowError:
        """The batch's failures as one error of the most severe class among them, as the local
        runner raises it (`hazflow.run.batch.batch_failure`); a worker that failed as a whole
        (`batch_error_manifest`) as its one error."""
        if len(self.failures) == 1 and not self.failures[0].job_key:
            (whole,) = self.failures
            return rebuild(
                whole.error_class, f"the worker failed before running the batch: {whole.error}", whole.log_tail, whole.label
            )
        return batch_failure(self.failures, len(self.outcomes) + len(self.failures))

    def to_json(self) -> bytes:
        failures = [f.to_dict() for f in self.failures]
        document = {"format": MANIFEST_FORMAT, **vars(self), "outcomes": list(self.outcomes), "failures": failures}
        return json.dumps(document, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, uri: str) -> Manifest:
        document = json.loads(data)
        if document.pop("format", None) != MANIFEST_FORMAT:
            raise BadRequest(uri, f"not a {MANIFEST_FORMAT} manifest")
        failures = tuple(Failure.from_dict(f) for f in document["failures"])
        return cls(**document | {"outcomes": tuple(document["outcomes"]), "failures": failures})


def spec_uri(root: Any, plan_id: str, batch: int) -> str:
    """Where a plan's batch spec is kept: under the store root (a folder, or the S3 prefix)."""
    return uris.join(root, "batches", plan_id, f"{batch:04d}.json")


def manifest_uri(spec: str) -> str:
    """The result manifest beside its spec: `0003.json` -> `0003.result.json`."""
    return spec.removesuffix(".json") + ".result.json"


def stage_batch(spec: BatchSpec, config: Config) -> str:
    """Write a batch spec under the store root (same plan and batch, same place: rewriting is safe)."""
    uri = spec_uri(config.store_root, spec.plan_id, spec.batch)
    documents.write_bytes(uri, spec.to_json(), config.aws_endpoint, config.aws_region)
    return uri


def read_spec(uri: str, config: Config) -> BatchSpec:
    return BatchSpec.from_json(documents.read_bytes(uri, config.aws_endpoint, config.aws_region), uri)


def read_manifest(spec: str, config: Config) -> Manifest:
    """The manifest a worker wrote for the spec at `spec`; `StorageError` if it wrote none."""
    uri = manifest_uri(spec)
    return Manifest.from_json(documents.read_bytes(uri, config.aws_endpoint, config.aws_region), uri)


def ecs_task_arn(env: Mapping[str, str] | None = None) -> str:
    """The ARN of the ECS task this process runs in, from the container's task metadata endpoint
    (`$ECS_CONTAINER_METADATA_URI_V4/task`, which ECS sets in every container); "" outside ECS or if
    the endpoint does not answer. The manifest records it, so the Airflow side knows the manifest is
    of the ECS task it waited for and not one an earlier attempt left."""
    import urllib.request

    endpoint = (os.environ if env is None else env).get("ECS_CONTAINER_METADATA_URI_V4", "")
    if not endpoint:
        return ""
    try:
        with urllib.request.urlopen(f"{endpoint}/task", timeout=5) as answer:  # noqa: S310 - ECS's own link-local URI
            return str(json.load(answer).get("TaskARN", ""))
    except (OSError, ValueError) as e:
        logger.warning("ECS task metadata at %s did not answer (%s): the manifest names no task", endpoint, e)
        return ""


def write_manifest(manifest: Manifest, config: Config) -> None:
    documents.write_bytes(manifest_uri(manifest.spec_uri), manifest.to_json(), config.aws_endpoint, config.aws_region)


def run_batch_spec(uri: str, config: Config) -> Manifest:
    """Run the jobs of the spec at `uri` not yet run (all if it says force); write and return the manifest.

    A failed job does not stop the others; failures are in the manifest, not raised.
    """
    spec = read_spec(uri, config)
    store = config.open_store()
    started, start = _now(), time.monotonic()
    outcomes, failed = run_each(spec.passes, store, config, force=spec.force)
    manifest = Manifest(
        spec_uri=uri,
        plan_id=spec.plan_id,
        batch=spec.batch,
        label=spec.label,
        host=platform.node(),
        started_at=started,
        finished_at=_now(),
        seconds=round(time.monotonic() - start, 3),
        outcomes=tuple(o.to_dict() for o in outcomes),
        failures=tuple(Failure.of(s, e) for s, e in failed),
        ecs_task_arn=ecs_task_arn(),
    )
    write_manifest(manifest, config)
    return manifest


def batch_error_manifest(uri: str, error: HazflowError, started: str) -> Manifest:
    """The manifest of a worker that failed as a whole (its spec unreadable, the store unreachable):
    one failure, of the error's class, so the class reaches the retry policy as a job's would."""
    failure = Failure("", f"batch spec {uri}", str(error), getattr(error, "log_tail", ""), boundary_class(error))
    return Manifest(uri, "", -1, "", platform.node(), started, _now(), 0.0, failures=(failure,), ecs_task_arn=ecs_task_arn())


def stage_planned_batch(ref: BatchRef, force: bool, config: Config) -> str:
    """Write the batch spec of one batch of a kept plan (its job specs rebuilt from the plan and
    checked against the planned keys) under the store root; its URI."""
    from hazflow.plan.disagg import load_plan

    plan = load_plan(ref.plan_id, config.open_store())
    return stage_batch(BatchSpec(plan.plan_id, ref.batch, ref.label, tuple(plan.passes_of(ref.batch)), force), config)


def finish_batch(ref: BatchRef, uri: str, manifest: Manifest) -> dict[str, Any]:
    """What the `run` step returns (the XCom `ingest` maps over), from the worker's manifest;
    raises the batch's failures as one error of their most severe class."""
    if not manifest.ok:
        raise manifest.error()
    return ref.to_dict() | {"ran": manifest.ran, "spec": uri}


def run_planned_batch(ref: BatchRef, force: bool, config: Config) -> dict[str, Any]:
    """The local runner: stage the batch spec, run it in this process, check its manifest."""
    uri = stage_planned_batch(ref, force, config)
    return finish_batch(ref, uri, run_batch_spec(uri, config))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("hazflow").setLevel(logging.INFO)  # hazflow's progress; libraries' warnings only
    parser = argparse.ArgumentParser(
        prog="python -m hazflow.run.worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run-batch", help="run the OpenQuake jobs of one batch spec and write its result manifest")
    run.add_argument("spec", help="batch spec: a local path or s3://bucket/key")
    args = parser.parse_args(argv)
    started, config = _now(), None
    try:
        config = Config.from_env()
        manifest = run_batch_spec(args.spec, config)
    except HazflowError as e:
        bad = isinstance(e, BadRequest)
        logger.error("%s%s", "bad batch spec or configuration: " if bad else f"{boundary_class(e)}: ", e)
        if config is not None:  # record the class where the Airflow side looks for it, if the store lets us
            try:
                write_manifest(batch_error_manifest(args.spec, e, started), config)
            except HazflowError as unwritten:
                logger.error("could not write the failure manifest either: %s", unwritten)
        return 2 if bad else 1
    ran = sum(manifest.ran.values())
    logger.info(
        "batch %d of plan %s (%s): %d ran, %d already done, %d failed in %.1f s on %s; manifest %s",
        manifest.batch, manifest.plan_id, manifest.label, ran, len(manifest.outcomes) - ran, len(manifest.failures),
        manifest.seconds, manifest.host, manifest_uri(args.spec),
    )  # fmt: skip
    if not manifest.ok:
        logger.error("%s", manifest.error())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
