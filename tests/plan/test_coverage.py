"""Coverage manifests, gaps and the requests that fill them (the DAG test fills a real one)."""

from __future__ import annotations

import json
import re

import pytest

from hazflow.exceptions import BadRequest
from hazflow.plan.coverage import Gap, describe, fill_requests, find_gaps, load_manifest

ENTRY = {"model": "DEMO", "sites": ["WLG", "CHC"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1]}


@pytest.mark.parametrize(
    "content, field",
    [
        (None, "manifest"),
        ("{not json", "manifest"),
        ("[]", "manifest"),
        (json.dumps([ENTRY, ENTRY | {"colour": "red"}]), r"\[1\]"),
        (json.dumps([ENTRY, ENTRY | {"sites": ["WLG", "ATLANTIS"]}]), r"\[1\]\.sites"),
        (json.dumps([ENTRY | {"poes": [1.5]}]), r"\[0\]\.poes"),
    ],
    ids=["missing", "not-json", "empty", "unknown-key", "unknown-site", "bad-poe"],
)
def test_a_bad_manifest_names_file_entry_and_field(tmp_path, content, field):
    path = tmp_path / "coverage.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadRequest) as info:
        load_manifest(path)
    assert info.value.field.startswith("manifest") or info.value.field.startswith(str(path))
    assert re.search(field, str(info.value)), str(info.value)


def test_the_demo_manifest_is_valid():
    from hazflow.config import DATA_DIR

    (request,) = load_manifest(DATA_DIR / "coverage" / "demo.json")
    assert [s.id for s in request.sites] == ["WLG", "CHC", "AKL"] and request.poes == (0.1, 0.02)


def _gap(site: str, runs: int, entry: int = 0, vs30: float = 400, needs: str = "") -> Gap:
    return Gap(entry, "DEMO", vs30, site, ("PGA",), (0.1,), ("CRU-1", "HIK-1"), runs, 2, needs)


def test_fill_requests_takes_whole_sites_up_to_the_bound_and_groups_them():
    gaps = [_gap("WLG", 2), _gap("CHC", 1, needs="no curve"), _gap("AKL", 2), _gap("WLG", 2, vs30=750), _gap("DUD", 2)]
    assert fill_requests(gaps, 4) == [
        {"model": "DEMO", "sites": ["WLG", "AKL"], "vs30s": [400], "imts": ["PGA"], "poes": [0.1], "leaves": ["CRU-1", "HIK-1"]}
        | {"disagg_engine": "hazardlib"}
    ]
    every = fill_requests(gaps, 100)
    assert [(c["sites"], c["vs30s"]) for c in every] == [(["WLG", "AKL", "DUD"], [400]), (["WLG"], [750])]
    assert fill_requests([_gap("WLG", 9)], 4)[0]["sites"] == ["WLG"]  # bigger than the bound: alone, still filled
    assert fill_requests([_gap("CHC", 0, needs="no curve")], 4) == []
    with pytest.raises(BadRequest, match="max_runs"):
        fill_requests(gaps, 0)


def test_sites_without_hazard_curves_are_listed_not_filled(tmp_path):
    from hazflow.store import open_store

    (request,) = load_manifest(_write(tmp_path, [ENTRY]))
    gaps = find_gaps([request], open_store("local", str(tmp_path / "store")), "3.26.2")
    assert [(g.site, g.runs) for g in gaps] == [("WLG", 0), ("CHC", 0)]
    assert all("run hazard_aggregation first" in g.needs for g in gaps)
    assert fill_requests(gaps, 100) == []
    assert "2 site(s), 0 OpenQuake runs to do" in describe(gaps) and "needs: " in describe(gaps)
    assert describe([]) == "coverage complete: nothing to fill"


def _write(tmp_path, entries) -> str:
    path = tmp_path / "coverage.json"
    path.write_text(json.dumps(entries))
    return str(path)
