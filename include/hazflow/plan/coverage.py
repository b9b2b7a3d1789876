"""Coverage: what disaggregations should exist (a manifest), what is missing (gaps, from the ledger),
and the disagg_realizations requests that fill a bounded share of it.

A manifest is a JSON file: a list of entries, each a request in the Params' terms
(`{"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1, 0.02]}`,
`leaves` optional: all). A gap is one (entry, VS30, site) with OpenQuake runs the ledger does not
have as finished. Runs are counted exactly as disagg_realizations plans them (same keys, levels read
off the aggregated mean curve), so a filled gap disappears and a filled manifest starts nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hazflow import limits
from hazflow.choices import DEFAULT_DISAGG_ENGINE
from hazflow.config import PROJECT_ROOT, Config
from hazflow.exceptions import BadRequest
from hazflow.plan.disagg import HazardCurves, plan_disagg
from hazflow.plan.request import DisaggRequest
from hazflow.store import Store

logger = logging.getLogger(__name__)

MANIFEST_KEYS = frozenset({"model", "sites", "vs30s", "imts", "poes", "leaves", "disagg_engine"})


@dataclass(frozen=True)
class Gap:
    """Missing work at one site and VS30 of a manifest entry: `runs` OpenQuake runs to do, or no
    aggregated hazard curve to read levels from yet (`needs`)."""

    entry: int
    model: str
    vs30: float
    site: str
    imts: tuple[str, ...]
    poes: tuple[float, ...]
    leaves: tuple[str, ...]
    runs: int
    planned: int
    needs: str = ""  # why it cannot be filled now (e.g. run hazard_aggregation first)
    disagg_engine: str = DEFAULT_DISAGG_ENGINE  # the engine its runs are keyed (and will be computed) with

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (lists, not tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}


def load_manifest(path: Path | str, disagg_engine: str = DEFAULT_DISAGG_ENGINE) -> list[DisaggRequest]:
    """The manifest's entries as validated requests; errors name the file, the entry and the field.
    An entry without `disagg_engine` takes `disagg_engine` (the deployment's)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadRequest("manifest", f"{path} not found") from None
    except ValueError as e:
        raise BadRequest("manifest", f"{path} is not JSON: {e}") from None
    if not isinstance(entries, list) or not entries:
        raise BadRequest("manifest", f"{path}: expected a non-empty list of requests")
    requests = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or (unknown := set(entry) - MANIFEST_KEYS):
            raise BadRequest(
                f"{path}[{i}]", f"not a request (unknown keys {sorted(unknown) if isinstance(entry, dict) else entry!r})"
            )
        try:
            requests.append(DisaggRequest.parse({"disagg_engine": disagg_engine} | entry))
        except BadRequest as e:
            raise BadRequest(f"{path}[{i}].{e.field}", e.message) from None
    return requests


def find_gaps(requests: list[DisaggRequest], store: Store, oq_version: str, curves: HazardCurves | None = None) -> list[Gap]:
    """Every (entry, VS30, site) with runs to do or no hazard curve yet; complete ones are left out."""
    gaps = []
    for i, request in enumerate(requests):
        conf = request.to_conf()
        for vs30 in request.vs30s:
            for site in request.sites:
                one = replace(request, sites=(site,), vs30s=(vs30,))
                common = (i, conf["model"], vs30, site.id, request.imts, request.poes, tuple(conf["leaves"]))
                engine = request.disagg_engine
                try:
                    plan = plan_disagg(
                        one, store, oq_version, batch_cap=limits.current().map_length, max_passes_per_batch=10**9, curves=curves
                    )
                except BadRequest as e:  # no aggregated curve here yet, or the PoE is beyond it
                    gaps.append(Gap(*common, runs=0, planned=0, needs=str(e), disagg_engine=engine))
                    continue
                if plan.keys:
                    gaps.append(Gap(*common, runs=len(plan.keys), planned=plan.total_runs, disagg_engine=engine))
    return gaps


def fill_requests(gaps: list[Gap], max_runs: int) -> list[dict[str, Any]]:
    """disagg_realizations confs for the fillable gaps, in manifest order, about `max_runs` OpenQuake
    runs in all: whole sites are added while the total stays within it (always at least one site,
    so that a site with more runs than `max_runs` is still filled, alone). Sites of one entry and
    VS30 share a request."""
    if max_runs < 1:
        raise BadRequest("max_runs", f"must be >= 1, got {max_runs}")
    requests: dict[tuple, dict[str, Any]] = {}
    total = 0
    for gap in gaps:
        if gap.needs or gap.runs == 0:
            continue
        if total and total + gap.runs > max_runs:
            break
        total += gap.runs
        key = (gap.entry, gap.vs30)  # an entry has one engine
        conf = requests.setdefault(
            key,
            {
                "model": gap.model,
                "sites": [],
                "vs30s": [gap.vs30],
                "imts": list(gap.imts),
                "poes": list(gap.poes),
                "leaves": list(gap.leaves),
                "disagg_engine": gap.disagg_engine,
            },
        )
        conf["sites"].append(gap.site)
    return list(requests.values())


def describe(gaps: list[Gap]) -> str:
    """A few lines for the task log: what is missing and what cannot be filled yet."""
    if not gaps:
        return "coverage complete: nothing to fill"
    lines = []
    for g in gaps:
        what = f"needs: {g.needs}" if g.needs else f"{g.runs} of {g.planned} OpenQuake runs to do"
        lines.append(f"  [{g.entry}] {g.model} {g.site} vs30={g.vs30:g} {','.join(g.imts)} poes={list(g.poes)}: {what}")
    todo = sum(g.runs for g in gaps)
    return f"coverage gaps: {len(gaps)} site(s), {todo} OpenQuake runs to do\n" + "\n".join(lines)


@dataclass(frozen=True)
class CoverageFill:
    """What a coverage check found and what it starts: the gaps, and the disagg_realizations confs."""

    gaps: tuple[Gap, ...]
    confs: tuple[dict[str, Any], ...]


def coverage_fill(manifest: str, max_runs: int, config: Config) -> CoverageFill:
    """Compare a manifest (a path, relative to the project if not absolute) with the ledger; its gaps
    and the disagg_realizations confs that fill about `max_runs` OpenQuake runs of them."""
    from hazflow.openquake.runner import engine_version

    path = Path(manifest)
    requests = load_manifest(path if path.is_absolute() else PROJECT_ROOT / path, config.disagg_engine)
    models = {r.model.name for r in requests}
    if config.hazard_curves and len(models) > 1:
        raise BadRequest(
            "manifest", f"one model per manifest when levels come from HAZFLOW_HAZARD_CURVES; found {sorted(models)}"
        )
    curves = config.curves_source(requests[0].model.settings.levels)
    gaps = find_gaps(requests, config.open_store(), engine_version(config.oq_python), curves=curves)
    logger.info("%s", describe(gaps))
    confs = fill_requests(gaps, max_runs)
    logger.info(
        "coverage_backfill starts %d disagg_realizations run(s) (at most about %d OpenQuake runs): %s",
        len(confs),
        max_runs,
        confs,
    )
    return CoverageFill(tuple(gaps), tuple(confs))
