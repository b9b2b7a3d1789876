"""hazard_realizations' plan and summary: the aggregation it starts gets exactly its realization set."""

from __future__ import annotations

from hazflow.steps.hazard_realizations import summarise_hazard_request


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
