"""OpenQuake's input files as hazflow renders them for a job spec: job.ini, the source and GMM logic
trees, site models. `hazflow.openquake.inputs` hashes them into every job key; `hazflow.openquake.prepare`
writes them into a job's or a pass's folder."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from hazflow.config import Config
from hazflow.model.logic_tree import HazardModel, Leaf
from hazflow.model.sites import Site
from hazflow.openquake.engines import SITE_INDEPENDENT_SOURCES
from hazflow.openquake.spec import JobSpec

NRML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<nrml xmlns:gml="http://www.opengis.net/gml" xmlns="http://openquake.org/xmlns/nrml/0.5">\n'


def z1pt0(vs30: float) -> float:
    """Depth to 1.0 km/s (m) from VS30 (Chiou & Youngs 2014, as NSHM and nzshm-model use)."""
    from nzshm_model.psha_adapter.openquake.hazard_config import calculate_z1pt0

    return round(calculate_z1pt0(vs30), 3)


def z2pt5(vs30: float) -> float:
    """Depth to 2.5 km/s (km) from VS30 (Campbell & Bozorgnia 2014, as NSHM and nzshm-model use)."""
    from nzshm_model.psha_adapter.openquake.hazard_config import calculate_z2pt5

    return round(calculate_z2pt5(vs30), 3)


_SOURCE_TAG = re.compile(rb"<(?:\w+:)?(\w+Source)[\s>/]")


def source_typologies(paths: Iterable[Path]) -> frozenset[str]:
    """The NRML source elements (`simpleFaultSource`, `areaSource`, ...) in the files at `paths`."""
    return frozenset(m.decode() for path in paths for m in _SOURCE_TAG.findall(path.read_bytes()))


def share_sites_allowed() -> bool:
    """The deployment's `Config.onepass_share_sites` (`HAZFLOW_ONEPASS_SHARE_SITES`: 1, the default,
    or 0; `BadRequest` otherwise). Set to 0, every site of a one-pass disaggregation is a calculation
    of its own, whatever its leaf (results equal to the engine's single-site runs to the last bit;
    what NSHM's leaves get anyway)."""
    return Config.from_env().onepass_share_sites


def sites_share_calculation(paths: Iterable[Path]) -> bool:
    """Whether the sources in `paths` let several sites share one calculation without changing any
    site's result: every source a fault of one surface per rupture (`SITE_INDEPENDENT_SOURCES`).
    False without files (sources that cannot be read here, such as NSHM's archives), or when the
    deployment says never (`HAZFLOW_ONEPASS_SHARE_SITES=0`)."""
    if not share_sites_allowed():
        return False
    typologies = source_typologies(paths)
    return bool(typologies) and typologies <= SITE_INDEPENDENT_SOURCES


def site_calculations(sites: Sequence[Site], shared: bool) -> list[tuple[Site, ...]]:
    """The sites of a pass as calculations, in order: one per site, or (`shared`) one for all. (A
    pass never holds two sites at one location: a site's code is its location to 0.001 degree.)"""
    return [tuple(sites)] if shared and sites else [(site,) for site in sites]


def branch_files(model: HazardModel, leaf: Leaf) -> list[str]:
    """The files the leaf's branch lists, relative to the job's folder: `src<i>_<name>` of a model's
    files; `src<i>/<member>` of each archive's NRML members (its geometry model, then its sources),
    as runzi lists an archive's `.xml` members."""
    if model.archived:
        return [f"src{i}/{name}" for i, archive in enumerate(model.source_archives(leaf)) for name in archive.nrml_files]
    return [f"src{i}_{path.name}" for i, path in enumerate(model.source_paths(leaf))]


def source_logic_tree(files: list[str]) -> str:
    return (
        NRML_HEAD
        + '  <logicTree logicTreeID="SLT">\n'
        + '    <logicTreeBranchSet uncertaintyType="sourceModel" branchSetID="BS_SRC">\n'
        + '      <logicTreeBranch branchID="leaf">\n'
        + f"        <uncertaintyModel>{escape(' '.join(files))}</uncertaintyModel>\n"
        + "        <uncertaintyWeight>1.0</uncertaintyWeight>\n"
        + "      </logicTreeBranch>\n    </logicTreeBranchSet>\n  </logicTree>\n</nrml>\n"
    )


def gsim_logic_tree(spec: JobSpec) -> str:
    branches = "".join(
        f'      <logicTreeBranch branchID="g{i}">\n'
        f"        <uncertaintyModel>{escape(uncertainty)}</uncertaintyModel>\n"
        f"        <uncertaintyWeight>{weight!r}</uncertaintyWeight>\n"
        "      </logicTreeBranch>\n"
        for i, (uncertainty, weight) in enumerate(spec.gmms)
    )
    return (
        NRML_HEAD
        + '  <logicTree logicTreeID="GMCM">\n'
        + f'    <logicTreeBranchSet uncertaintyType="gmpeModel" branchSetID="BS_GMM" applyToTectonicRegionType="{escape(spec.trt)}">\n'
        + branches
        + "    </logicTreeBranchSet>\n  </logicTree>\n</nrml>\n"
    )


def site_model(vs30: float, sites: tuple[Site, ...]) -> str:
    rows = ["lon,lat,vs30,z1pt0,z2pt5,vs30measured,backarc,custom_site_id"]
    for site in sites:
        rows.append(f"{site.lon:.3f},{site.lat:.3f},{vs30:g},{z1pt0(vs30)},{z2pt5(vs30)},1,{int(site.backarc)},{site.id[:8]}")
    return "\n".join(rows) + "\n"


def job_ini(spec: JobSpec) -> str:
    s = spec.settings
    # OpenQuake rejects a cut-off for a region that is not in the GMM logic tree of the job.
    max_dist = {spec.trt: [tuple(p) for p in s.maximum_distance[spec.trt]]}
    lines = [
        "[general]",
        f"description = hazflow {spec.kind} {spec.model} {spec.label} key={spec.key}",
        f"calculation_mode = {'classical' if spec.kind == 'hazard' else 'disaggregation'}",
        f"random_seed = {s.random_seed}",
        f"ps_grid_spacing = {s.ps_grid_spacing:g}",
        "",
        "[logic_tree]",
        "number_of_logic_tree_samples = 0",
        "",
        "[erf]",
        f"rupture_mesh_spacing = {s.rupture_mesh_spacing:g}",
        f"width_of_mfd_bin = {s.width_of_mfd_bin:g}",
        f"complex_fault_mesh_spacing = {s.complex_fault_mesh_spacing:g}",
        f"area_source_discretization = {s.area_source_discretization:g}",
        "",
        "[site_params]",
        "site_model_file = site_model.csv",
        "",
        "[calculation]",
        "source_model_logic_tree_file = source_model_logic_tree.xml",
        "gsim_logic_tree_file = gsim_logic_tree.xml",
        f"investigation_time = {s.investigation_time:g}",
        f"truncation_level = {s.truncation_level:g}",
        f"maximum_distance = {max_dist!r}",
    ]
    if spec.kind == "hazard":
        levels = list(s.levels)
        lines += [
            f"intensity_measure_types_and_levels = {json.dumps({imt: levels for imt in spec.imts})}",
            "",
            "[output]",
            "individual_rlzs = true",
            "mean = false",
        ]
    else:
        edges = {"mag": list(s.mag_edges), "dist": list(s.dist_edges), "eps": list(s.eps_edges)}
        lines += [
            "",
            "[disaggregation]",
            f"iml_disagg = {json.dumps(dict(zip(spec.imts, spec.imls, strict=True)))}",
            f"disagg_bin_edges = {json.dumps(edges)}",
            "coordinate_bin_width = 5.0",
            f"disagg_outputs = {' '.join(_disagg_outputs())}",
            "num_rlzs_disagg = 0",
            "max_sites_disagg = 1",
            *(["epsilon_star = true"] if s.epsilon_star else []),
            "",
            "[output]",
            "individual_rlzs = true",
            "mean = true",  # OpenQuake 3.26 disaggregation reads hcurves-stats and fails without it
        ]
    return "\n".join(lines) + "\n"


def _disagg_outputs() -> tuple[str, ...]:
    from hazflow.model.settings import DISAGG_OUTPUTS

    return DISAGG_OUTPUTS
