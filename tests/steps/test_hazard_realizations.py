"""hazard_realizations' plan and summary: the aggregation it starts gets exactly its realization set."""

from __future__ import annotations

from hazflow.model.nshm import NSHM_VS30S
from hazflow.openquake.spec import JobSpec
from hazflow.plan.batches import DEFAULT_BATCH_CAP
from hazflow.plan.request import HazardRequest
from hazflow.steps.hazard_realizations import job_batches, summarise_hazard_request


def test_the_summary_carries_the_aggregation_request():
    outcome = {"state": "done", "openquake_ran": True, "oq_seconds": 9.5, "hdf5_bytes": 100, "rows": 3, "skipped": False,
               "job_key": "k1"}  # fmt: skip
    params = {
        "model": "DEMO",
        "sites": ["WLG", "-41.200~174.800"],
        "vs30s": [400],
        "imts": ["PGA"],
        "leaves": ["CRU-1"],
        "force": False,
    }
    summary = summarise_hazard_request(params, [outcome])
    assert summary["openquake_runs"] == 1 and summary["rows_ingested"] == 3
    assert summary["aggregation_conf"] == {
        "model": "DEMO", "sites": ["WLG", "-41.200~174.800"], "vs30s": [400.0], "imts": ["PGA"], "leaves": ["CRU-1"]
    }  # fmt: skip


def test_every_leaf_is_named_when_all_are_asked():
    summary = summarise_hazard_request(
        {"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"], "leaves": ["all"]}, []
    )
    assert summary["aggregation_conf"]["leaves"] == ["CRU-1", "CRU-2", "CRU-3", "HIK-1", "HIK-2", "SLAB-1"]


# --- batched as disagg_realizations is: never more mapped instances than the map limit ---
NSHM_21_VS30S = [*NSHM_VS30S, 160, 185, 1100]


def _nshm_specs(vs30s: list[int]) -> list:
    request = HazardRequest.parse({"model": "NSHM_v1.0.4", "sites": ["WLG"], "vs30s": vs30s, "imts": ["PGA"]}, runnable=False)
    return request.jobs("3.26.2")


def test_nshms_49_leaves_at_21_vs30s_map_within_airflows_limit():
    specs = _nshm_specs(NSHM_21_VS30S)
    assert len(specs) == 49 * 21 == 1029  # past Airflow's core.max_map_length (1,024) one per instance
    batches = job_batches(specs)
    assert len(batches) == DEFAULT_BATCH_CAP
    assert [JobSpec.from_dict(s).key for b in batches for s in b["specs"]] == [s.key for s in specs]  # each once, in order
    assert batches[0]["label"] == f"{specs[0].label} (+2 more)" and batches[-1]["label"] == f"{specs[-2].label} (+1 more)"


def test_the_map_limit_is_the_deployments(monkeypatch):
    specs = _nshm_specs(list(NSHM_VS30S))
    monkeypatch.setenv("HAZFLOW_LIMIT_MAP_LENGTH", "100")
    batches = job_batches(specs)
    assert len(batches) == 100 and sum(len(b["specs"]) for b in batches) == 882


def test_a_short_request_keeps_one_job_per_instance(demo):
    specs = HazardRequest.parse({"model": "DEMO", "sites": ["WLG"], "vs30s": [400], "imts": ["PGA"]}).jobs("3.26.2")
    assert [b["label"] for b in job_batches(specs)] == [s.label for s in specs]
