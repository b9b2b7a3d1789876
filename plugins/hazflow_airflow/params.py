"""Params (the UI trigger form) shared by the DAGs. JSON-schema checks here; full checks in `plan`.

The limits and defaults come from the domain's pure-Python constant modules (`hazflow.plan.batches`,
`hazflow.model.nshm`), so the form and the checks behind it never disagree.
"""

from __future__ import annotations

import math
import os
from typing import Any

from airflow.sdk import Param

from hazflow.aggregate.methods import DEFAULT_QUANTILE_METHOD, MIN_SAMPLES, QUANTILE_METHODS
from hazflow.choices import DEFAULT_DISAGG_ENGINE, DISAGG_ENGINES
from hazflow.choices import EXPORT_FORMATS as FORMATS
from hazflow.limits import current as current_limits
from hazflow.model.nshm import (
    DEFAULT_QUANTILES,
    EXTRACT_ASSET_HAZARD_DISTANCE_KM,
    EXTRACT_MAX_SITES,
    KNOWN_MODELS,
    NSHM_GRID,
    NSHM_IMTS,
    NSHM_POES,
    NSHM_VS30S,
)
from hazflow.plan.batches import DEFAULT_BATCH_CAP
from hazflow_airflow.schema_checks import check_schemas_once

# Every process that builds these params (the DAG processor, a task, `airflow dags test`) checks each
# param's schema against the metaschema once, not at every resolve (hazflow_airflow.schema_checks).
check_schemas_once()

IMT_PATTERN = r"^(PGA|SA\(\d+(\.\d+)?\))$"
NUMBER_PATTERN = r"^\s*\d+(\.\d*)?\s*$"  # a number typed or picked in the form, sent as text
FRACTION_PATTERN = r"^\s*0?\.\d+\s*$"  # a PoE in (0, 1) sent as text (0.1 or .1)


def return_period(poe: float, years: float = 50.0) -> float:
    """The return period (years) of probability `poe` of exceedance in `years` (Poisson)."""
    return -years / math.log1p(-poe)


def _list_param(default: list[Any], items: dict[str, Any], description: str, min_items: int = 1) -> Param:
    """A non-empty list of distinct values, each checked against `items` (JSON schema)."""
    return Param(default, type="array", items=items, minItems=min_items, uniqueItems=True, description=description)


def model_param(default: str = "DEMO") -> Param:
    return Param(
        default,
        type="string",
        enum=list(KNOWN_MODELS),
        values_display={"DEMO": "DEMO (6 leaves; runs here)", **{m: f"{m} (nzshm-model)" for m in KNOWN_MODELS if m != "DEMO"}},
        description="Model: DEMO (its sources are in this project, so it runs here) or an nzshm-model version (49 leaves).",
    )


def sites_param(default: list[str]) -> Param:
    return _list_param(
        default,
        {"type": "string", "minLength": 1},
        "Sites, one per line: nzshm-common ids (WLG, CHC, AKL), 'lat~lon' codes at 0.001 degree (-41.300~174.780), or "
        "list names (NZ: NSHM's 36 named sites; SRWG214); '-ID' leaves out a site given before it (NZ then -WRE).",
    )


def _picks_and_other(
    name: str, noun: str, default: list[Any], picks: list[Any], item: dict[str, Any], labels: dict[str, str], what: str
) -> dict[str, Param]:
    """`name`: a multi-select of `picks` (the form submits each as text); `other_<name>`: free entry
    beside it, one per line. `plan` joins the two (`hazflow.plan.fields.with_other_entries`)."""
    example = {"vs30s": "325", "imts": "SA(0.75)", "poes": "0.25"}[name]
    entry = {"type": "string", "minLength": 1, **({"pattern": item["pattern"]} if "pattern" in item else {})}
    return {
        name: Param(
            default,
            type=["null", "array"],
            items=item,
            title=f"{noun}s",
            examples=picks,
            values_display=labels,
            uniqueItems=True,
            description=f"{what} Pick any of NSHM's; others go in the field below.",
        ),
        f"other_{name}": Param(
            [],
            title=f"Other {noun}s",
            type=["null", "array"],
            items=entry,
            uniqueItems=True,
            description=f"Other {noun}s, one per line, e.g. {example}: added to those picked above. Checked in plan.",
        ),
    }


def vs30s_params(default: list[float]) -> dict[str, Param]:
    """`vs30s` (NSHM's 18 offered) and `other_vs30s`."""
    return _picks_and_other(
        "vs30s",
        "VS30",
        default,
        list(NSHM_VS30S),
        {"type": ["number", "string"], "exclusiveMinimum": 0, "pattern": NUMBER_PATTERN},
        {str(v): f"{v} m/s" for v in NSHM_VS30S},
        "VS30 values (m/s), each > 0: one realization set per VS30.",
    )


def imts_params(default: list[str]) -> dict[str, Param]:
    """`imts` (NSHM's disaggregation IMTs offered) and `other_imts`."""
    return _picks_and_other(
        "imts",
        "IMT",
        default,
        list(NSHM_IMTS),
        {"type": "string", "pattern": IMT_PATTERN},
        {"PGA": "PGA (peak ground acceleration)", **{i: f"{i}: spectral acceleration at {i[3:-1]} s" for i in NSHM_IMTS[1:]}},
        "Intensity measure types: PGA or SA(period in s), e.g. SA(0.5).",
    )


def poes_params(default: list[float]) -> dict[str, Param]:
    """`poes` (NSHM's seven offered, with their return periods) and `other_poes`."""
    return _picks_and_other(
        "poes",
        "PoE",
        default,
        list(NSHM_POES),
        {"type": ["number", "string"], "exclusiveMinimum": 0, "exclusiveMaximum": 1, "pattern": FRACTION_PATTERN},
        {str(p): f"{p:.0%} in 50 years ({return_period(p):,.0f}-year return period)" for p in NSHM_POES},
        "Probabilities of exceedance in 50 years, each in (0, 1). Empty when the levels are given directly (imls).",
    )


def leaves_param() -> Param:
    return _list_param(["all"], {"type": "string", "minLength": 1}, "Source-logic-tree leaves such as CRU-2, or ['all'].")


def force_param() -> Param:
    return Param(False, type="boolean", description="Re-run OpenQuake even for jobs the ledger has as done.")


def gmms_param() -> Param:
    return _list_param(
        ["all"], {"type": "string", "minLength": 1}, "GMM branch ids such as Bradley2013(sigma_mu_epsilon=0.0), or ['all']."
    )


def quantiles_param() -> Param:
    return _list_param(
        list(DEFAULT_QUANTILES),
        {"type": "number", "minimum": 0, "maximum": 1},
        "Quantiles of the composite-branch distribution to store besides mean, std and cov.",
        min_items=0,
    )


def imls_param() -> Param:
    return Param(
        {},
        type="object",
        additionalProperties={
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}},
            ]
        },
        description=(
            'IML mode: the levels (g) to disaggregate at, given directly per IMT instead of PoEs, e.g. {"PGA": [0.2, 0.5], '
            '"SA(0.5)": 0.8}; set poes to []. Each level is a target of its own, named by the PoE the aggregated mean '
            "hazard curve gives it. Empty: PoE mode."
        ),
    )


def samples_param() -> Param:
    most = current_limits().samples  # the deployment's limit (HAZFLOW_LIMIT_SAMPLES), as the task checks it
    return Param(
        10_000,
        type="integer",
        minimum=MIN_SAMPLES,
        maximum=most,
        description=f"Composites sampled (seeded) when quantile_method is sampling: {MIN_SAMPLES:,} to {most:,}.",
    )


def quantile_method_param() -> Param:
    return Param(
        DEFAULT_QUANTILE_METHOD,
        type="string",
        enum=list(QUANTILE_METHODS),
        description=(
            "How quantiles are computed. auto: meet-in-the-middle (exact, without enumerating the composites) where the "
            "tree's blocks split into two modest sides, as NSHM's do; else enumeration (exact); else sampling (seeded)."
        ),
    )


def exports_param() -> Param:
    return Param(
        list(FORMATS),
        type="array",
        items={"type": "string", "enum": list(FORMATS)},
        uniqueItems=True,
        description=(
            "What the export task writes under exports/<model>/ in the store: json (per target: summary and bins), csv "
            "(OpenQuake's disaggregation layout), parquet (toshi-hazard-store 2.x datasets). Empty: no export."
        ),
    )


def closure_params() -> dict[str, Param]:
    return {
        "closure_tolerance": Param(
            0.05,
            type="number",
            exclusiveMinimum=0,
            exclusiveMaximum=1,
            description="A target whose closure (disaggregated / target PoE) is further than this from 1 is flagged.",
        ),
        "fail_on_closure": Param(
            False, type="boolean", description="Fail the run, naming the targets, when a closure is outside the tolerance."
        ),
    }


def runner_param() -> Param:
    return Param(
        os.environ.get("HAZFLOW_RUNNER", "local"),  # the deployment's choice; a run may pick the other
        type="string",
        enum=["local", "ecs"],
        description=(
            "Where OpenQuake runs: local (subprocesses of the OpenQuake venv on the Airflow worker) or ecs "
            "(one ECS task per batch on the M5 capacity provider; needs the aws store)."
        ),
    )


def batch_cap_param() -> Param:
    most = current_limits().map_length  # HAZFLOW_LIMIT_MAP_LENGTH: at most the api-server's core.max_map_length
    return Param(
        min(DEFAULT_BATCH_CAP, most),
        type="integer",
        minimum=1,
        maximum=most,
        description=f"At most this many batches (mapped run/ingest instances); Airflow maps at most {most:,} here.",
    )


def target_stat_param() -> Param:
    return Param(
        "mean",
        type="string",
        pattern=r"^(mean|0(\.[0-9]+)?|1(\.0+)?)$",
        description=(
            "The statistic of the aggregated hazard curve each target level is read from: mean (default), or a stored "
            "quantile such as 0.5 (NSHM's target_aggr). The aggregation of those realizations needs the same value."
        ),
    )


def epsilon_star_param() -> Param:
    return Param(
        False,
        type="boolean",
        description=(
            "Disaggregate by epsilon* (OpenQuake's epsilon_star: the epsilon of each rupture's ground motion at the target "
            "level) instead of the epsilon of every exceeding ground motion. A calculation setting: in every job key. The "
            "aggregation of such realizations needs it set too."
        ),
    )


def contributors_param() -> Param:
    return Param(
        None,
        type=["null", "boolean"],
        description=(
            "Record each target's rates by source and fault (which faults drive the hazard: the contributors table of the "
            "aggregation). Empty: on for the hazardlib engine, off for oq, which cannot (asked of oq, the run is refused). "
            "In every job key."
        ),
    )


def disagg_engine_param() -> Param:
    return Param(
        os.environ.get("HAZFLOW_DISAGG_ENGINE", DEFAULT_DISAGG_ENGINE),  # the deployment's choice; a run may pick the other
        type="string",
        enum=list(DISAGG_ENGINES),
        description=(
            "How disaggregations are computed: hazardlib (one OpenQuake pass per leaf x VS30 x site group, every PoE and IMT "
            "from one set of rupture contexts per site) or oq (`oq engine --run` per leaf x site x VS30 x PoE, the reference)."
        ),
    )


def area_params() -> dict[str, Param]:
    """The area_extract form: the area (a bbox or GeoJSON text), its grid and a size cap."""
    return {
        "bbox": Param(
            [174.69, -41.36, 174.91, -41.19],
            type=["null", "array"],
            items={"type": "number"},
            minItems=4,
            maxItems=4,
            description="Bounding box [min lon, min lat, max lon, max lat] in degrees (default: Wellington). null when a polygon is given.",
        ),
        "polygon": Param(
            "",
            type="string",
            format="multiline",
            description=(
                'Or a GeoJSON Polygon (or a Feature / one-feature FeatureCollection of one), as text: {"type": "Polygon", '
                '"coordinates": [[[lon, lat], ..., [lon, lat]]]}, the ring closed. Set bbox to null to use it.'
            ),
        ),
        "grid": Param(
            NSHM_GRID,
            type="string",
            minLength=1,
            description="The sites: the points of an nzshm-common grid (NZ_0_1_NB_1_1, WLG_0_05_nb_1_1, ...) or of a resolution in degrees (0.05) in the area.",
        ),
        "max_sites": Param(
            min(EXTRACT_MAX_SITES, current_limits().extract_sites),
            type="integer",
            minimum=1,
            maximum=current_limits().extract_sites,
            description=f"Refuse an area with more sites than this (split it); at most {current_limits().extract_sites:,}.",
        ),
    }


def stat_param() -> Param:
    return Param(
        "mean",
        type="string",
        pattern=r"^(mean|0(\.[0-9]+)?|1(\.0+)?)$",
        description="The statistic of the aggregated hazard curves to extract: mean, or a quantile such as 0.9.",
    )


def compute_param() -> Param:
    return Param(
        False,
        type="boolean",
        description=(
            "Compute the hazard of sites that have no aggregated curve (classical runs per leaf x VS30, the sites together, "
            "then the aggregation) instead of failing at plan, listing them."
        ),
    )


def vs30_param(default: float = 400) -> Param:
    return Param(
        default,
        type=["null", "number"],
        exclusiveMinimum=0,
        description="VS30 (m/s) of every site of the area; null when a site model gives each site its own.",
    )


def exposure_params() -> dict[str, Param]:
    return {
        "exposure": Param(
            "",
            type="string",
            description=(
                "Optional: an OpenQuake exposure (NRML XML, or the CSV form's XML with its CSV files beside it) at a path or "
                "s3:// URI the worker can read. The bundle then keeps only the sites OpenQuake gives its assets to "
                "(OpenQuake 3.26.2's risk calculators fail on a site without assets), and carries a copy of it."
            ),
        ),
        "asset_hazard_distance": Param(
            EXTRACT_ASSET_HAZARD_DISTANCE_KM,
            type="number",
            exclusiveMinimum=0,
            maximum=100,
            description="km: an asset gets the hazard of its closest site within this distance (the bundle's asset_hazard_distance).",
        ),
    }


def site_model_param() -> Param:
    return Param(
        "",
        type="string",
        format="multiline",
        description=(
            "Or a site model instead of vs30 and grid: OpenQuake's site-model CSV text (lon,lat,vs30 and any other columns); "
            "its rows inside the area are the sites, each at its VS30. Set vs30 to null to use it."
        ),
    )
