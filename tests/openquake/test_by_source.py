"""Rates by source and fault recorded inside the one-pass disaggregation, against OpenQuake's own
`mean_rates_by_src` (a classical run with `disagg_by_src`), and against the pass's own bins.

Both engines run the same inputs with `ps_grid_spacing = 0`, the levels in the classical run's
`intensity_measure_types_and_levels` (so no interpolation) and as the pass's levels. The pass's
GMM-weighted mean over the realizations must equal OpenQuake's within 1e-6 relative for every source
above 1e-3 of the target's rate, and within 1e-6 of the target's rate below that (both engines keep
rupture contexts in float32). Cases: DEMO leaves through hazflow's own render, and OpenQuake's
`disagg/case_6` (six simple faults, a site by the date line), `disagg/case_16` (NZ slab multi-point
sources, sampled in OpenQuake's test, enumerated here) and `classical/case_75` (a multi-fault source
with a `<faults>` block: OpenQuake splits it into `src@A`, `src@B` by the nearest tagged fault; the
pass attributes each rupture by the same rule). case_75's ruptures are not Poissonian
(`probs_occur`), where OpenQuake's disaggregation by epsilon bins is an approximation of its own, so
it runs with one epsilon bin.
"""

from __future__ import annotations

import configparser
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from hazflow.aggregate.stats import prob_to_rate
from hazflow.model.logic_tree import load_model
from hazflow.model.sites import resolve_sites
from hazflow.openquake.by_source import parent_fault
from hazflow.openquake.datastore import read_disaggregation, read_source_rates
from hazflow.openquake.prepare import render_pass
from hazflow.openquake.runner import run_job, run_passes
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job

pytestmark = pytest.mark.openquake

QA = Path(__file__).resolve().parents[2] / ".venv-oq/lib/python3.11/site-packages/openquake/qa_tests_data"
MINI = Path(__file__).resolve().parents[3] / "shared/reference/oq-mini-job"
DROP = {
    "calculation_mode", "sites", "sites_csv", "site_model_file", "poes", "poes_disagg", "iml_disagg", "hazard_maps",
    "uniform_hazard_spectra", "disagg_by_src", "mean", "quantiles", "quantile_hazard_curves", "mean_hazard_curves",
    "export_dir", "disagg_outputs", "num_rlzs_disagg", "individual_rlzs", "num_epsilon_bins", "epsilon_star", "use_rates",
    "number_of_logic_tree_samples", "ps_grid_spacing", "intensity_measure_types_and_levels", "reference_vs30_type",
    "reference_vs30_value", "reference_depth_to_1pt0km_per_sec", "reference_depth_to_2pt5km_per_sec", "rlz_index",
    "mag_bin_width", "distance_bin_width", "coordinate_bin_width", "description", "horiz_comp_to_geom_mean",
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """An OpenQuake job folder, its job file, one site and its site parameters, and levels per IMT (g)."""

    name: str
    folder: Path
    ini: str
    lon: float
    lat: float
    levels: dict[str, list[float]]
    site: tuple[float, float, float] = (800.0, 30.0, 0.57)  # vs30, z1pt0, z2pt5
    eps_bins: int = 4
    extra: tuple[tuple[str, str], ...] = ()  # settings of both jobs


CASES = [
    Case("mini", MINI, "job_iml.ini", 174.78, -41.30, {"PGA": [0.1, 0.25, 0.5], "SA(0.5)": [0.2, 0.45, 0.9]}, (400.0, 275.0, 2.0)),
    Case("case_6", QA / "disagg/case_6", "job.ini", 178.4501, -18.1248, {"PGA": [0.005, 0.01, 0.02]}),
    Case("case_16", QA / "disagg/case_16", "job_dsg.ini", -178.9, -35.34, {"PGA": [0.01, 0.05], "SA(1.0)": [0.005, 0.03]},
         (800.0, 31.07, 0.57)),
    Case("case_75", QA / "classical/case_75", "job.ini", 0.02, 0.15, {"PGA": [0.05, 0.2, 0.5]}, eps_bins=1),
]  # fmt: skip


def settings(ini: Path) -> dict[str, str]:
    """Every key of an OpenQuake job file but those the two jobs set themselves (`DROP`)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ini)
    return {k: v for section in parser.sections() for k, v in parser.items(section) if k not in DROP}


def write_jobs(folder: Path, kept: dict[str, str], case: Case) -> tuple[Path, Path]:
    """The pass (pass.json, its job.ini) and the classical reference job (ref.ini) in `folder`."""
    vs30, z1, z2 = case.site
    (folder / "site_model.csv").write_text(
        f"lon,lat,vs30,z1pt0,z2pt5,vs30measured,backarc\n{case.lon},{case.lat},{vs30},{z1},{z2},1,0\n"
    )
    common = kept | {"site_model_file": "site_model.csv", "number_of_logic_tree_samples": "0", "ps_grid_spacing": "0"}
    common |= dict(case.extra)
    first = {imt: levels[0] for imt, levels in case.levels.items()}
    disagg = {
        "calculation_mode": "disaggregation", "iml_disagg": json.dumps(first), "mag_bin_width": "0.25",
        "distance_bin_width": "10", "coordinate_bin_width": "1.0", "num_epsilon_bins": str(case.eps_bins),
        "disagg_outputs": "TRT_Mag_Dist_Eps", "num_rlzs_disagg": "0", "individual_rlzs": "true",
    }  # fmt: skip
    classical = {
        "calculation_mode": "classical", "intensity_measure_types_and_levels": json.dumps(case.levels),
        "disagg_by_src": "true", "use_rates": "true", "individual_rlzs": "true",
    }  # fmt: skip
    for name, extra in (("job.ini", disagg), ("ref.ini", classical)):
        (folder / name).write_text("[general]\n" + "".join(f"{k} = {v}\n" for k, v in (common | extra).items()))
    n_levels = len(next(iter(case.levels.values())))
    site = {"code": "S", "lon": case.lon, "lat": case.lat, "levels": [case.levels[imt] for imt in case.levels]}
    assert all(len(levels) == n_levels for levels in case.levels.values())
    document = {
        "format": "hazflow.onepass/2", "job_ini": "job.ini", "imts": list(case.levels), "sites": [site],
        "calculations": [{"site_model": "site_model.csv", "sites": ["S"]}], "contributors": {"floor": 0.0},
    }  # fmt: skip
    (folder / "pass.json").write_text(json.dumps(document))
    return folder / "pass.json", folder / "ref.ini"


def compare_with_engine(ours: Path, reference: Path, case: Case) -> tuple[float, float, float]:
    """(largest relative difference over sources above 1e-3 of their target, largest absolute difference
    below that as a share of the target, largest closure error against the pass's bins: relative,
    beyond the float64 rounding of the bins themselves)."""
    with h5py.File(reference, "r") as f:
        mrs = f["mean_rates_by_src/array"][0]  # (IMT, level, source)
        sources = [s.decode() for s in f["mean_rates_by_src/src_id"][()]]
    worst_big = worst_small = worst_closure = 0.0
    for p in range(len(next(iter(case.levels.values())))):
        imls = [case.levels[imt][p] for imt in case.levels]
        rates = read_source_rates(ours, imls, (case.lon, case.lat))
        disagg = read_disaggregation(ours, imls=imls, lonlat=(case.lon, case.lat))
        assert rates is not None and rates.unsupported == "" and rates.floor == 0.0
        weights = np.array([r.weight for r in disagg.realizations])
        mean = np.einsum("r,rmc->mc", weights, rates.rate)  # (IMT, source)
        assert set(rates.names) - {"the rest"} <= set(sources), (sources, rates.names)  # no rest: floor 0
        for m, imt in enumerate(disagg.imts):
            total = mrs[m, p].sum()
            assert total > 0, (case.name, imt, p)
            for j, source in enumerate(sources):  # a source the pass never met (beyond its cut-off) has no rate
                ref = mrs[m, p, j]
                one = mean[m, rates.names.index(source)] if source in rates.names else 0.0
                if ref > 1e-3 * total:
                    worst_big = max(worst_big, abs(one - ref) / ref)
                else:
                    worst_small = max(worst_small, abs(one - ref) / total)
            recovered = prob_to_rate(disagg.values[:, m], disagg.investigation_time).reshape(len(weights), -1).sum(axis=1)
            by_source = rates.rate[:, m].sum(axis=1)
            # the engine's bins hold 1 - prod(pne), and are stored as probabilities, in float64: each carries
            # a rounding of about one machine epsilon (per year), which only a small rate notices; so:
            # relative, beyond that rounding of the target's non-empty bins
            bins = np.count_nonzero(disagg.values[:, m].reshape(len(weights), -1), axis=1)
            excess = np.maximum(np.abs(by_source - recovered) - np.finfo(float).eps * bins, 0.0)
            worst_closure = max(worst_closure, float(np.max(excess / recovered)))
    return worst_big, worst_small, worst_closure


def run_all(cases: list[tuple[Case, Path, Path]], tmp_path: Path, base_config) -> dict[str, tuple[float, float, float]]:
    """Every case's pass in one OpenQuake process, and its reference job; the comparison of each."""
    results = run_passes([p for _, p, _ in cases], tmp_path, base_config.openquake())
    out = {}
    for (case, _, ref_ini), result in zip(cases, results, strict=True):
        assert not isinstance(result, Exception), result
        (site,) = result.sites
        reference = run_job(ref_ini, base_config.openquake())
        out[case.name] = compare_with_engine(site.hdf5, reference.hdf5, case)
        print(f"{case.name}: above 1e-3 {out[case.name][0]:.2e} relative, below {out[case.name][1]:.2e} of the target, "
              f"closure {out[case.name][2]:.2e}")  # fmt: skip
    return out


def test_rates_by_source_equal_openquakes_mean_rates_by_src(base_config, tmp_path):
    cases = []
    for case in CASES:
        folder = tmp_path / case.name
        shutil.copytree(case.folder, folder)
        pass_file, ref_ini = write_jobs(folder, settings(folder / case.ini), case)
        cases.append((case, pass_file, ref_ini))
    for name, (big, small, closed) in run_all(cases, tmp_path, base_config).items():
        assert big <= 1e-6, name
        assert small <= 1e-6, name
        assert closed <= 1e-9, name


@pytest.mark.parametrize("leaf", ["CRU-2", "HIK-1", "SLAB-1"])
def test_demo_leaves_by_source_equal_openquakes(demo, oq_version, base_config, tmp_path, leaf):
    """A DEMO leaf rendered by hazflow (area sources and a simple fault, or the interface), its job
    file with ps_grid_spacing 0 for both engines."""
    (wlg,) = resolve_sites(["WLG"])
    levels = {"PGA": [0.1, 0.3, 0.6], "SA(0.5)": [0.2, 0.5, 1.0]}
    jobs = [
        disagg_job(demo, demo.leaf(leaf), 400, wlg, poe, {imt: levels[imt][p] for imt in levels}, oq_version, "hazardlib")
        for p, poe in enumerate((0.39, 0.1, 0.02))
    ]
    folder = tmp_path / leaf
    folder.mkdir()
    render_pass(DisaggPass(tuple(replace(job, contributors=True) for job in jobs)), demo, folder)
    kept = settings(folder / "job.ini")
    case = Case(leaf, folder, "job.ini", wlg.lon, wlg.lat, levels, (400.0, *_z(folder)))
    pass_file, ref_ini = write_jobs(folder, kept, case)
    ((big, small, closed),) = run_all([(case, pass_file, ref_ini)], tmp_path, base_config).values()
    assert big <= 1e-6 and small <= 1e-6 and closed <= 1e-9


def _z(folder: Path) -> tuple[float, float]:
    """z1pt0 and z2pt5 of the rendered site model (hazflow's, from VS30)."""
    header, row = (folder / "site_model_0.csv").read_text().splitlines()[:2]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    return float(values["z1pt0"]), float(values["z2pt5"])


def test_parent_fault_names_follow_the_nshm_format_convention():
    assert parent_fault("Wellington Hutt Valley, Subsection 3") == "Wellington Hutt Valley"
    assert parent_fault("Alpine: Jacksons to Kaniere, Subsection 12") == "Alpine: Jacksons to Kaniere"
    assert parent_fault("Hikurangi, Subsection 104") == "Hikurangi"
    assert parent_fault("a section without the convention") is None
    assert parent_fault("") is None


def test_nshm_format_parent_faults_equal_openquakes_tagged_faults(nshm_env, oq_version, base_config, tmp_path):
    """An NSHM-format crustal leaf (an inversion's multi-fault ruptures over named sections, and its
    background): the pass names each rupture's parent fault from the sections' names. OpenQuake checks
    it: the same archive with a `<faults>` block tagging each parent's sections, run classical with
    `disagg_by_src`, splits the source into `source@parent` by its own rule, and computes each part on
    its own. Every parent's rate equals OpenQuake's, and the parts sum to the target's rate."""
    nshm = load_model("NSHM_v1.0.4")
    (wlg,) = resolve_sites(["WLG"])
    levels = {"PGA": [0.3, 0.8]}
    jobs = [
        disagg_job(nshm, nshm.leaf("CRU-1"), 400, wlg, poe, {"PGA": levels["PGA"][p]}, oq_version, "hazardlib", "mean", True)
        for p, poe in enumerate((0.1, 0.02))
    ]
    ours, theirs = tmp_path / "pass", tmp_path / "tagged"
    ours.mkdir()
    render_pass(DisaggPass(tuple(jobs)), nshm, ours)
    shutil.copytree(ours, theirs, symlinks=False)  # the archives' folders copied, to be tagged
    parents = tag_parent_faults(theirs)
    assert set(parents) == {"Wellington Hutt Valley", "Ohariu", "Wairarapa Nicholson", "Porters Pass"}
    # the archive's ruptures are Poissonian in a `probs_occur` form; OpenQuake's classical step keeps the
    # probability of no exceedance of such ruptures in float32, which near 1 is good to about 1e-4 of
    # the rate: both run them as the Poissonian rates they are
    case = Case("CRU-1", ours, "job.ini", wlg.lon, wlg.lat, levels, (400.0, *_z(ours)), extra=(("infer_occur_rates", "true"),))
    pass_file, _ = write_jobs(ours, settings(ours / "job.ini"), case)
    _, ref_ini = write_jobs(theirs, settings(theirs / "job.ini"), case)
    ((big, small, closed),) = run_all([(case, pass_file, ref_ini)], tmp_path, base_config).values()
    assert big <= 1e-6 and small <= 1e-6 and closed <= 1e-9
    rates = read_source_rates(next((tmp_path / "oqdata").glob("calc_*[0-9].hdf5")), [0.3], (wlg.lon, wlg.lat))
    assert rates is not None
    named = {name.split("@")[1] for name in rates.names if "@" in name}
    assert named <= set(parents) and "Wellington Hutt Valley" in named  # the parent faults WLG sees, by name

    # brute force: the same pass with every rupture its own label; each parent is the sum of the ruptures
    # the test itself attributes to it (sections' names, distances from OpenQuake's own surfaces)
    by_rupture = tmp_path / "by-rupture"
    shutil.copytree(ours, by_rupture, symlinks=True)
    document = json.loads((by_rupture / "pass.json").read_text())
    document["contributors"]["by_rupture"] = True
    (by_rupture / "pass.json").write_text(json.dumps(document))
    # and a leaf whose sections are named otherwise: its ruptures by source only (OpenQuake's off_rupids)
    unnamed = tmp_path / "unnamed"
    shutil.copytree(ours, unnamed, symlinks=False)
    (sections_file,) = unnamed.glob("src*/*_sections.xml")
    sections_file.write_text(sections_file.read_text().replace(", Subsection ", " part "))
    result, other = run_passes([by_rupture / "pass.json", unnamed / "pass.json"], tmp_path, base_config.openquake())
    assert not isinstance(result, Exception) and not isinstance(other, Exception), (result, other)
    plain = read_source_rates(other.sites[0].hdf5, [0.3], (wlg.lon, wlg.lat))
    assert plain is not None and [n for n in plain.names if "@" in n] == ["CRU-yOTE1MDE@off_rupids"]
    np.testing.assert_allclose(plain.rate.sum(axis=-1), rates.rate.sum(axis=-1), rtol=1e-12)
    single = read_source_rates(result.sites[0].hdf5, [0.3], (wlg.lon, wlg.lat))
    assert single is not None and all("@" not in name for name in single.names)
    attributed = nearest_parents(theirs, wlg, base_config)
    expected: dict[str, np.ndarray] = {}
    for c, name in enumerate(single.names[:-1]):  # the last, the rest, is empty: floor 0
        source, _, index = name.partition("#")
        key = f"{source}@{attributed[int(index)]}" if index else name
        expected[key] = expected.get(key, 0.0) + single.rate[..., c]  # (rlz, IMT)
    assert len([n for n in single.names if "#" in n]) > len(parents)  # many ruptures, summed into few parents
    assert set(expected) == set(rates.names) - {"the rest"}
    for c, name in enumerate(rates.names):
        if name != "the rest":
            np.testing.assert_allclose(rates.rate[..., c], expected[name], rtol=1e-9, atol=0)
    np.testing.assert_allclose(rates.rate.sum(axis=-1), single.rate.sum(axis=-1), rtol=1e-12)  # the shares sum to the total


def nearest_parents(folder: Path, site, base_config) -> dict[int, str]:
    """Each rupture of the archive's multi-fault source (by index) -> the nearest parent fault it
    touches (ties by name): the test's own reading of the archive (its HDF5 and sections' names), with
    each section's distance to the site from OpenQuake's own section surfaces."""
    import re
    import subprocess

    (sections_file,) = folder.glob("src*/*_sections.xml")
    (ruptures_file,) = folder.glob("src*/*-ruptures.hdf5")
    parent_of = {sec_id: name.rsplit(", Subsection", 1)[0]
                 for name, sec_id in re.findall(r'<section name="([^"]+)" id="([^"]+)"', sections_file.read_text())}  # fmt: skip
    spacing = settings(folder / "job.ini")["rupture_mesh_spacing"]
    script = (
        "import json, sys, numpy as np\n"
        "from openquake.hazardlib import nrml\n"
        "from openquake.hazardlib.sourceconverter import SourceConverter\n"
        "from openquake.hazardlib.geo.mesh import Mesh\n"
        "model = nrml.to_python(sys.argv[1], SourceConverter(rupture_mesh_spacing=float(sys.argv[4])))\n"
        "site = Mesh(np.array([float(sys.argv[2])]), np.array([float(sys.argv[3])]))\n"
        "print(json.dumps({k: float(s.get_min_distance(site)[0]) for k, s in model.sections.items()}))\n"
    )
    out = subprocess.run([str(base_config.oq_python), "-c", script, str(sections_file), str(site.lon), str(site.lat), spacing],
                         capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    distance = json.loads(out.stdout.strip().splitlines()[-1])
    by_parent: dict[str, float] = {}
    for sec_id, parent in parent_of.items():
        by_parent[parent] = min(by_parent.get(parent, np.inf), distance[sec_id])
    with h5py.File(ruptures_file, "r") as f:
        (group,) = f.values()
        sections = [x.decode().split() for x in group["rupture_idxs"][()]]
    return {k: min({parent_of[s] for s in ids}, key=lambda p: (by_parent[p], p)) for k, ids in enumerate(sections)}


def tag_parent_faults(folder: Path) -> dict[str, list[str]]:
    """Add to the multi-fault source of `folder` a `<faults>` block: one tag per parent fault (the
    sections' names, `<parent>, Subsection <k>`), its sections' ids. The parents and their sections."""
    import re

    (sections_file,) = folder.glob("src*/*_sections.xml")
    parents: dict[str, list[str]] = {}
    for name, sec_id in re.findall(r'<section name="([^"]+)" id="([^"]+)"', sections_file.read_text()):
        parents.setdefault(name.rsplit(", Subsection", 1)[0], []).append(sec_id)
    (ruptures_file,) = folder.glob("src*/*-ruptures.xml")
    block = "<faults>" + "".join(f'<fault tag="{p}" indexes="{",".join(ids)}"/>' for p, ids in parents.items()) + "</faults>"
    text = re.sub(r"(<multiFaultSource [^>]*?)/>", rf"\1>{block}</multiFaultSource>", ruptures_file.read_text())
    assert "<faults>" in text
    ruptures_file.write_text(text)
    return parents


def test_collapsed_point_sources_are_named_by_the_sources_of_their_points(demo, oq_version, base_config, tmp_path):
    """DEMO's crustal leaf as hazflow runs it, with NSHM's ps_grid_spacing (30 km): the engine collapses
    the area sources' points onto a grid (`cps-...` sources); each is labelled by its points' sources."""
    (wlg,) = resolve_sites(["WLG"])
    jobs = [disagg_job(demo, demo.leaf("CRU-2"), 400, wlg, 0.1, {"PGA": 0.3}, oq_version, "hazardlib", "mean", True)]
    render_pass(DisaggPass(tuple(jobs)), demo, tmp_path)
    assert "ps_grid_spacing = 30" in (tmp_path / "job.ini").read_text()
    (result,) = run_passes([tmp_path / "pass.json"], tmp_path, base_config.openquake())
    assert not isinstance(result, Exception), result
    rates = read_source_rates(result.sites[0].hdf5, [0.3], (wlg.lon, wlg.lat))
    assert rates is not None
    live = [name for c, name in enumerate(rates.names) if rates.rate[..., c].any()]
    with h5py.File(result.sites[0].hdf5, "r") as f:  # the engine did collapse them
        assert any(x.startswith(b"cps-") for x in f["source_info"]["source_id"][()])
    assert not [name for name in rates.names if name.startswith("cps-")]
    assert {"WF_mid", "BG_WLG_1"} <= set(live) and set(live) <= {"WF_mid", "BG_WLG_1", "BG_CAN_1", "BG_AKL_1", "the rest"}
    assert rates.kinds[rates.names.index("BG_WLG_1")] == "background" and rates.kinds[rates.names.index("WF_mid")] == "fault"
