"""A job's or a pass's folder of OpenQuake inputs, written only after checking that what OpenQuake
would read is still what the job's key was made of (`hazflow.openquake.inputs.check_inputs`): the
pieces are `hazflow.openquake.render`'s; for a one-pass disaggregation `pass.json` adds the levels of
every site."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hazflow.model.logic_tree import HazardModel
from hazflow.openquake import render
from hazflow.openquake.engines import PASS_FORMAT
from hazflow.openquake.inputs import check_inputs
from hazflow.openquake.spec import CONTRIBUTORS_FLOOR, DisaggPass, JobSpec


def render_job(spec: JobSpec, model: HazardModel, jobdir: Path) -> Path:
    """Write the inputs of `spec` into `jobdir` (which must exist) and return the job.ini path."""
    _render_sources(spec, model, jobdir)
    (jobdir / "site_model.csv").write_text(render.site_model(spec.vs30, spec.sites))
    path = jobdir / "job.ini"
    path.write_text(render.job_ini(spec))
    return path


def render_pass(p: DisaggPass, model: HazardModel, passdir: Path) -> Path:
    """Write the inputs of a one-pass disaggregation into `passdir` (which must exist): the leaf's
    sources and logic trees, a site model per calculation (`site_model_<k>.csv`: one per site, or one
    for all the sites when the leaf's sources let them share a calculation, see
    `hazflow.openquake.engines`), a job.ini (disaggregation settings as for one job; its
    `iml_disagg`, the first job's levels, passes OpenQuake's checks), and `pass.json` with every
    site's levels and the calculations. Returns the path of `pass.json`."""
    first = p.jobs[0]
    _render_sources(first, model, passdir)
    shared = render.sites_share_calculation(model.source_paths(model.leaf(p.leaf)))
    calculations = []
    for k, group in enumerate(render.site_calculations(p.sites, shared)):
        name = f"site_model_{k}.csv"
        (passdir / name).write_text(render.site_model(p.vs30, group))
        calculations.append({"site_model": name, "sites": [site.code for site in group]})
    sites = [{"code": s.code, "lon": s.lon, "lat": s.lat, "levels": p.levels(s)} for s in p.sites]
    (passdir / "job.ini").write_text(
        render.job_ini(first).replace("site_model_file = site_model.csv", "site_model_file = site_model_0.csv")
    )
    document: dict[str, Any] = {
        "format": PASS_FORMAT, "job_ini": "job.ini", "imts": list(p.imts), "sites": sites, "calculations": calculations,
    }  # fmt: skip
    if first.contributors:  # rates by source and fault too (`hazflow.openquake.by_source`)
        document["contributors"] = {"floor": CONTRIBUTORS_FLOOR}
    (passdir / "pass.json").write_text(json.dumps(document, indent=1))
    return passdir / "pass.json"


def _render_sources(spec: JobSpec, model: HazardModel, jobdir: Path) -> None:
    """The leaf's NRML files and the two logic trees of one leaf and its region's GMM branches,
    after checking that they are still what the job's key was made of."""
    check_inputs(spec, model)
    leaf = model.leaf(spec.leaf)
    if model.archived:  # each archive's folder as it is, members under their own names (.hdf5 companions)
        for i, archive in enumerate(model.source_archives(leaf)):
            link = jobdir / f"src{i}"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(archive.folder.resolve(), target_is_directory=True)
    else:
        for i, src in enumerate(model.source_paths(leaf)):
            shutil.copyfile(src, jobdir / f"src{i}_{src.name}")
    (jobdir / "source_model_logic_tree.xml").write_text(render.source_logic_tree(render.branch_files(model, leaf)))
    (jobdir / "gsim_logic_tree.xml").write_text(render.gsim_logic_tree(spec))
