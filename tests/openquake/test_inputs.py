"""Job keys follow what OpenQuake reads: source bytes and rendered inputs, not only spec fields."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hazflow.config import SHARE_SITES_ENV
from hazflow.exceptions import BadRequest, DataIntegrityError
from hazflow.model.logic_tree import HazardModel, load_model
from hazflow.model.sites import resolve_sites
from hazflow.openquake import inputs, prepare, render
from hazflow.openquake.spec import JobSpec
from hazflow.plan.jobs import disagg_job, hazard_job

WLG = resolve_sites(["WLG"])[0]


@pytest.fixture
def model(demo, tmp_path) -> HazardModel:
    """DEMO with its source files in a folder of the test's own, free to edit."""
    assert demo.source_dir is not None
    sources = tmp_path / "sources"
    shutil.copytree(demo.source_dir / "sources", sources / "sources")
    for name in ("source_logic_tree.json", "gmcm_logic_tree.json", "calc_settings.json"):
        shutil.copyfile(demo.source_dir / name, sources / name)
    return replace(demo, source_dir=sources)


def jobs(model: HazardModel, leaf: str) -> dict[str, JobSpec]:
    return {
        "hazard": hazard_job(model, model.leaf(leaf), 400, (WLG,), ("PGA",), "3.26.2"),
        "disagg oq": disagg_job(model, model.leaf(leaf), 400, WLG, 0.1, {"PGA": 0.3}, "3.26.2", "oq"),
        "disagg hazardlib": disagg_job(model, model.leaf(leaf), 400, WLG, 0.1, {"PGA": 0.3}, "3.26.2", "hazardlib"),
    }


def edit(model: HazardModel, leaf: str) -> Path:
    """Change one source file of `leaf` in place, its name kept (a comment: bytes, not meaning)."""
    path = model.source_paths(model.leaf(leaf))[0]
    text = path.read_text()
    assert "<nrml" in text
    path.write_text(text.replace("<nrml", "<!-- rates revised -->\n<nrml", 1))
    return path


@pytest.mark.parametrize("kind", ["hazard", "disagg oq", "disagg hazardlib"])
def test_editing_a_source_file_changes_the_keys_of_its_leaf_only(model, kind):
    before = {leaf: jobs(model, leaf)[kind].key for leaf in model.leaf_ids}
    edit(model, "CRU-2")
    after = {leaf: jobs(model, leaf)[kind].key for leaf in model.leaf_ids}
    changed = {leaf for leaf in before if before[leaf] != after[leaf]}
    shares_the_file = {leaf for leaf in model.leaf_ids if set(model.leaf(leaf).sources) & {model.leaf("CRU-2").sources[0]}}
    assert "CRU-2" in changed and changed == shares_the_file


def test_the_key_does_not_depend_on_where_the_files_are(model, demo):
    assert jobs(model, "HIK-1")["disagg hazardlib"].key == jobs(demo, "HIK-1")["disagg hazardlib"].key


@pytest.mark.parametrize("renderer", ["site_model", "gsim_logic_tree", "source_logic_tree", "job_ini"])
def test_a_change_to_how_inputs_are_rendered_changes_the_key(model, monkeypatch, renderer):
    before = jobs(model, "SLAB-1")
    original = getattr(render, renderer)
    monkeypatch.setattr(render, renderer, lambda *args: original(*args) + "\n# rendered differently\n")
    monkeypatch.setattr(inputs, "_leaf_digests", {})  # a new hazflow is a new process
    after = jobs(model, "SLAB-1")
    assert all(after[kind].key != before[kind].key for kind in before)


@pytest.mark.parametrize("leaf", ["HIK-1", "CRU-1"])  # its sites share a calculation, or not
def test_whether_sites_share_a_calculation_is_in_the_one_pass_keys_only(model, monkeypatch, leaf):
    before = jobs(model, leaf)
    shared = render.sites_share_calculation(model.source_paths(model.leaf(leaf)))
    assert shared is (leaf == "HIK-1")
    monkeypatch.setattr(render, "sites_share_calculation", lambda paths: not shared)
    monkeypatch.setattr(inputs, "_leaf_digests", {})  # a new hazflow is a new process
    after = jobs(model, leaf)
    assert {kind for kind in before if after[kind].key != before[kind].key} == {"disagg hazardlib"}


@pytest.mark.parametrize(("leaf", "changed"), [("HIK-1", {"disagg hazardlib"}), ("CRU-1", set())])
def test_a_deployment_keeping_sites_apart_changes_the_keys_of_leaves_whose_sites_would_share(model, monkeypatch, leaf, changed):
    before = jobs(model, leaf)
    monkeypatch.setenv(SHARE_SITES_ENV, "0")
    after = jobs(model, leaf)
    assert {kind for kind in before if after[kind].key != before[kind].key} == changed


def test_a_bad_share_sites_setting_is_refused_naming_it(model, monkeypatch):
    monkeypatch.setenv(SHARE_SITES_ENV, "yes")
    with pytest.raises(BadRequest) as e:
        jobs(model, "HIK-1")
    assert e.value.field == "HAZFLOW_ONEPASS_SHARE_SITES" and "0 or 1" in str(e.value)


def test_a_job_whose_sources_changed_after_planning_is_refused_before_anything_is_written(model, tmp_path):
    spec = jobs(model, "CRU-2")["disagg oq"]
    path = edit(model, "CRU-2")
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    with pytest.raises(DataIntegrityError, match=r"DEMO CRU-2: what OpenQuake would read changed.*plan again"):
        prepare.render_job(spec, model, jobdir)
    assert list(jobdir.iterdir()) == []
    path.write_text(path.read_text().replace("<!-- rates revised -->\n", "", 1))
    assert prepare.render_job(spec, model, jobdir).is_file()  # the same bytes again: the planned key holds


def test_nshm_keys_digest_the_toshi_ids_of_sources_that_cannot_be_read_here():
    nshm = load_model("NSHM_v1.0.4")
    leaf = nshm.leaves[0]
    assert inputs.source_digests(nshm, leaf) == tuple(f"toshi:{s}" for s in leaf.sources)
    spec = disagg_job(nshm, leaf, 400, WLG, 0.1, {"PGA": 0.3}, "3.26.2")
    assert (
        len(spec.inputs) == 16 and spec.inputs != disagg_job(nshm, nshm.leaves[1], 400, WLG, 0.1, {"PGA": 0.3}, "3.26.2").inputs
    )


def test_the_digest_is_kept_in_the_spec_and_survives_the_ledger(model):
    spec = jobs(model, "HIK-2")["disagg hazardlib"]
    again = JobSpec.from_json(spec.to_json())
    assert again.inputs == spec.inputs and again.key == spec.key
    assert replace(spec, inputs="0" * 16).key != spec.key
