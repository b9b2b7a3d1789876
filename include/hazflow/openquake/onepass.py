"""One pass of OpenQuake over a leaf's ruptures per site (or for all sites): every PoE and IMT of a
site disaggregated from one calculation, the calculations of a pass in turn in one process. Runs in
the OpenQuake venv, as a subprocess, like `oq engine --run`:

    python -m hazflow.openquake.onepass pass.json [pass.json ...]

The engine's disaggregation calculator disaggregates at one level per IMT (`iml_disagg`), so one
engine run per target PoE rebuilds the leaf's ruptures, their contexts and the ground-motion means
and standard deviations every time. Yet the function that does the work,
`openquake.hazardlib.calc.disagg.Disaggregator.disagg_by_magi`, takes several levels per IMT, and
the calculator hands it whatever its `hmap3` dataset (sites, IMTs, levels) holds. This module runs
the engine's own calculator (preclassical, classical with the rupture contexts it stores, the
disaggregation tasks, the projections of `save_disagg_results`) with `hmap3` widened to every level
of the site: it adds no disaggregation arithmetic of its own. One thing is left out: the hazard
curves the classical step computes on the way (a second evaluation of every GMM for every rupture
context). A one-pass disaggregation never reads them: its levels come from hazflow's plan, not from
the curves, and every realization is disaggregated, so the curves would only order them
(`best_rlzs`, which the reader undoes). The pass's process therefore makes `ContextMaker.update`
count the contexts, as the engine's checks need, without computing their probabilities (about a
third of a DEMO site's CPU). The tests compare every stored bin with `oq engine --run` per level. A
calculation's datastore is the engine's layout with P levels per IMT: `disagg-rlzs/<kind>` (site,
*bins, imt, level, Z), `hmap3` (site, imt, level). A calculation is one site, or all the sites of
the pass when the leaf's sources are plain faults only (see `hazflow.openquake.engines`); a site
with fewer PoEs than another of its calculation repeats its last level.

`pass.json` (written by `hazflow.openquake.prepare.render_pass`): the job.ini, the IMTs, per site its
code, coordinates and levels (g, shape (IMTs, PoEs)), and the calculations (their sites and site
model file). Each pass writes `result.json` beside it: per site its state (`done`, or `no_ruptures`
when every source is beyond the cut-off) and its datastore, and the pass's wall and CPU seconds; or
the error that stopped it. Several passes run in turn in one process, so OpenQuake's start-up (3-5 s,
most of it imports) is paid once. Exit status 0 when every pass finished, 1 otherwise.

Imports only the standard library, numpy and OpenQuake: it must run in OpenQuake's own Python.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hazflow.openquake import by_source
from hazflow.openquake.engines import NO_RUPTURE_MARKERS, PASS_FORMAT, PASS_RESULT

logger = logging.getLogger("hazflow.openquake.onepass")


def _count_contexts_only(self: Any, pmap: Any, ctx: Any, rup_mutex: Any = None) -> None:
    """`ContextMaker.update` without the hazard curve: the context count the engine's checks read
    (`cfactor`, as `gen_poes` keeps it), no ground-motion evaluation, no probabilities."""
    self.cfactor += [len(ctx), 1]


def skip_hazard_curves() -> None:
    """In this process, let the classical step build and store rupture contexts without computing
    hazard curves from them (see the module's docstring)."""
    from openquake.hazardlib.contexts import ContextMaker

    ContextMaker.update = _count_contexts_only


class MultiFaultParams:
    """`build_msparams` remembered across the calculations of this process, rupture by rupture.

    A multi-fault rupture's surface parameters (area, dip, strike, width, top and bottom depth, bounding
    box, and `u_max` where a GMM needs Ry0) are averages over its sections *close to the calculation's
    sites* (`close_sec`), which is why each site of an NSHM leaf is a calculation of its own. But the
    parameters are a function of the rupture's close sections and the sections' own parameters only:
    two sites that see the same close sections of a rupture get the same row. So each rupture's row is
    computed once per distinct (section parameters, Ry0, close sections) in the process and reused by
    every other site (and pass) that meets the same key: every site's result stays that of its own
    single-site run, value by value, while the Python loop over a leaf's ruptures (minutes at NSHM's
    330,000) runs once for the sites of a pass instead of once per site. `hits` and `misses` count rows.
    """

    def __init__(self, original: Any) -> None:
        from openquake.hazardlib.geo.surface.multi import MS_DT

        self.original = original
        self.dtype = np.dtype(MS_DT)
        self.rows: dict[tuple[bytes, bool], dict[bytes, Any]] = {}
        self.hits = 0
        self.misses = 0

    def __call__(self, rupture_idxs: Any, secparams: Any, close_sec: Any = None, ry0: bool = False, *monitors: Any) -> Any:
        if close_sec is None:
            close_sec = np.ones(len(secparams), bool)
        known = self.rows.setdefault((secparams.tobytes(), bool(ry0)), {})
        close = [idxs[close_sec[idxs]] for idxs in rupture_idxs]
        keys = [idxs.dtype.char.encode() + idxs.tobytes() for idxs in close]
        todo = [u for u, key in enumerate(keys) if key not in known]
        if todo:
            fresh = self.original([close[u] for u in todo], secparams, None, ry0, *monitors)
            for u, row in zip(todo, fresh, strict=True):
                known[keys[u]] = row
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        out = np.zeros(len(keys), self.dtype)
        for u, key in enumerate(keys):
            out[u] = known[key]
        return out


_multi_fault_params: MultiFaultParams | None = None


def read_sections_once() -> None:
    """In this process, read a multi-fault source's sections once per calculation, not once per
    block of ruptures.

    OpenQuake splits an NSHM inversion into blocks of ruptures (165 for a crustal leaf of 329,921)
    and, for each block, reads and unpickles every section its ruptures touch from the datastore, one
    h5py read each, before skipping those whose distances it already has (`ContextMaker._build_dparam`):
    27 % of an NSHM-size crustal engine run's classical step (py-spy). Here a block reads only the
    sections whose distances are not yet known, from the source's own cache of all its sections
    (`MultiFaultSource.get_sections()`, which `iter_ruptures` fills anyway). Same sections, same
    distances, same order: the tests compare every bin with `oq engine --run`.
    """
    from sys import getsizeof

    from openquake.hazardlib import contexts
    from openquake.hazardlib.source.multi_fault import MultiFaultSource

    if getattr(MultiFaultSource.get_sections, "hazflow", False):
        return
    every = MultiFaultSource.get_sections

    def get_sections(self: Any, idxs: Any = None) -> Any:
        sections = every(self)  # all of them, cached per datastore (the engine's SECTIONS)
        return sections if idxs is None else [sections[idx] for idx in idxs]

    def build_dparam(self: Any, src: Any, sitecol: Any) -> None:
        dparams = {"rjb", "tuw"} | ({"clon_clat"} if self.fewsites else set())
        todo = [idx for idx in src.get_unique_idxs() if (idx, "rrup") not in self.dparam]
        for sec in src.get_sections(todo):
            self.dparam[sec.idx, "rrup"] = contexts.get_dparam(sec, sitecol, "rrup")
            for param in dparams:
                self.dparam[sec.idx, param] = contexts.get_dparam(sec, sitecol, param)
        self.source_mb += getsizeof(src) / contexts.TWO20

    get_sections.hazflow = True  # type: ignore[attr-defined]
    MultiFaultSource.get_sections = get_sections
    contexts.ContextMaker._build_dparam = build_dparam
    find_middle_points_once()


_section_xyz: dict[int, tuple[Any, Any]] = {}  # id(section) -> (section, its finite mesh's xyz)


def find_middle_points_once() -> None:
    """In this process, a multi-fault rupture's hypocentre (`MultiSurface.get_middle_point`: the
    middle of its section closest to its bounding box's centre) from each section's cartesian mesh
    computed once, not once per rupture that holds the section.

    OpenQuake's version asks every section of every rupture for its distance to the centre, and a
    kite section with a ragged edge rebuilds its finite mesh and converts it to cartesian coordinates
    on each ask: 26 % of an NSHM-size interface leaf's one-pass CPU (py-spy). Here the conversion is
    kept per section; the distances are the same `cdist(...).min()` of the same arrays as
    `Mesh.get_min_distance`, so the same section wins, ties included.
    """
    from openquake.hazardlib.geo import utils
    from openquake.hazardlib.geo.mesh import Mesh
    from openquake.hazardlib.geo.surface.base import _get_finite_mesh
    from openquake.hazardlib.geo.surface.multi import MultiSurface
    from scipy.spatial.distance import cdist

    if getattr(MultiSurface.get_middle_point, "hazflow", False):
        return

    def finite_xyz(surface: Any) -> Any:
        known = _section_xyz.get(id(surface))
        if known is None:  # the section is held with its coordinates, so its id is never reused
            known = _section_xyz[id(surface)] = (surface, _get_finite_mesh(surface.mesh).xyz)
        return known[1]

    def get_middle_point(self: Any) -> Any:
        if len(self.surfaces) == 1:
            return self.surfaces[0].get_middle_point()
        west, east, north, south = self.get_bounding_box()
        midlon, midlat = utils.get_middle_point(west, north, east, south)
        centre = Mesh(np.array([midlon]), np.array([midlat])).xyz
        dists = [cdist(finite_xyz(surface), centre).min(axis=0) for surface in self.surfaces]
        return self.surfaces[np.argmin(dists)].get_middle_point()

    get_middle_point.hazflow = True  # type: ignore[attr-defined]
    MultiSurface.get_middle_point = get_middle_point


def share_multi_fault_params() -> MultiFaultParams:
    """In this process, remember multi-fault rupture parameters across calculations (see
    `MultiFaultParams`); idempotent."""
    global _multi_fault_params
    from openquake.hazardlib.source import multi_fault

    if _multi_fault_params is None:
        _multi_fault_params = MultiFaultParams(multi_fault.build_msparams)
        multi_fault.build_msparams = _multi_fault_params
    return _multi_fault_params


class _Heard(logging.Handler):
    """Remembers whether OpenQuake said a site is beyond every source's cut-off."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.no_ruptures = False

    def emit(self, record: logging.LogRecord) -> None:
        if any(marker in record.getMessage() for marker in NO_RUPTURE_MARKERS):
            self.no_ruptures = True


def levels_for(
    lons: np.ndarray, lats: np.ndarray, imts: Sequence[str], sites: Sequence[dict[str, Any]], pass_imts: Sequence[str]
) -> np.ndarray:
    """The levels (N, M, P) of the calculation's N sites (its `sitecol` coordinates, in its order), in
    its IMT order, after checking they are exactly `sites`. A site with fewer PoEs than P repeats its
    last level (disaggregated twice, read once)."""
    by_place = {(round(site["lon"], 3), round(site["lat"], 3)): site for site in sites}
    places = [(round(float(lon), 3), round(float(lat), 3)) for lon, lat in zip(lons, lats, strict=True)]
    found = [by_place[place] for place in places if place in by_place]
    if len(found) != len(places) or sorted(s["code"] for s in found) != sorted(s["code"] for s in sites):
        raise ValueError(f"the calculation's sites {places} are not {[s['code'] for s in sites]}")
    order = [list(pass_imts).index(imt) for imt in imts]
    per_site = []
    for site in found:
        levels = np.asarray(site["levels"], dtype=float)
        if levels.ndim != 2 or levels.shape[0] != len(pass_imts) or levels.shape[1] < 1:
            raise ValueError(f"{site['code']}: levels of shape {levels.shape}, expected ({len(pass_imts)}, n_poes)")
        per_site.append(levels[order])
    P = max(levels.shape[1] for levels in per_site)
    return np.stack([np.pad(levels, ((0, 0), (0, P - levels.shape[1])), mode="edge") for levels in per_site])


def run_calculation(
    job_ini: Path, site_model: str, sites: Sequence[dict[str, Any]], pass_imts: Sequence[str], floor: float = 0.0
) -> list[dict[str, Any]]:
    """One calculation of the engine's calculator over `sites` (one, or several sharing the leaf's
    ruptures), every level of each at once; per site, in order, its state and datastore. Where this
    process records rates by source (`by_source.install`), they go to the datastore too, rows below
    `floor` times their total summed as the rest."""
    from openquake.calculators.disaggregation import DisaggregationCalculator
    from openquake.commonlib import logs, readinput

    class OnePassDisaggregation(DisaggregationCalculator):
        """The engine's calculator, with every level of its sites in `hmap3`."""

        def compute(self) -> Any:
            if by_source.RECORDER is not None:
                by_source.RECORDER.begin(self)
            levels = levels_for(self.sitecol.lons, self.sitecol.lats, self.imts, sites, pass_imts)
            N, M, P = levels.shape
            for name in ("hmap3", "poe4"):  # written by full_disaggregation for one level per IMT
                del self.datastore[name]
            self.datastore["hmap3"] = levels
            self.datastore["poe4"] = np.zeros((N, M, P, self.Z))
            self.shapedic["P"] = P
            self.poes_disagg = (None,) * P
            return super().compute()

    params = readinput.get_params(str(job_ini), {"site_model_file": site_model, "max_sites_disagg": str(len(sites))})
    heard = _Heard()
    log = logs.init(params)
    with log:
        logging.getLogger().addHandler(heard)  # after entering: the log context replaces the root handlers
        calc = OnePassDisaggregation(log.get_oqparam(), log.calc_id)
        recorder = by_source.RECORDER
        if recorder is not None:
            recorder.reset()
        try:
            calc.run(shutdown=False)
        except Exception:
            if heard.no_ruptures:  # every site beyond every cut-off: an empty, valid result, whatever followed
                return [{"code": site["code"], "state": "no_ruptures", "datastore": None} for site in sites]
            raise
        # a site beyond every cut-off: OpenQuake says so (all sites), or stores no rupture context for it
        sids = calc.datastore["rup/sids"][()] if "rup/sids" in calc.datastore else np.zeros(0, dtype=int)
        places = [
            (round(float(lon), 3), round(float(lat), 3)) for lon, lat in zip(calc.sitecol.lons, calc.sitecol.lats, strict=True)
        ]
        if recorder is not None and not heard.no_ruptures:
            recorder.save(calc, floor)
        out = []
        for site in sites:
            sid = places.index((round(site["lon"], 3), round(site["lat"], 3)))
            empty = heard.no_ruptures or not np.any(sids == sid)
            out.append(
                {"code": site["code"], "state": "no_ruptures" if empty else "done", "datastore": str(calc.datastore.filename)}
            )
        return out


def run(pass_file: Path) -> dict[str, Any]:
    """Every site of one pass in turn; the result (each site's state and datastore, the pass's wall and
    CPU seconds in this process), also written to `result.json` beside `pass.json`."""
    start, cpu = time.monotonic(), time.process_time()
    document = json.loads(pass_file.read_text())
    if document.get("format") != PASS_FORMAT:
        raise ValueError(f"{pass_file}: not a {PASS_FORMAT} pass")
    by_code = {site["code"]: site for site in document["sites"]}
    contributors = document.get("contributors")
    if contributors is not None:
        names = by_source.section_names(pass_file.parent)
        by_source.install(by_source.Recorder(names, by_rupture=bool(contributors.get("by_rupture", False))))
    else:
        by_source.RECORDER = None
    floor = float((contributors or {}).get("floor", 0.0))
    results: dict[str, dict[str, Any]] = {}
    for calculation in document["calculations"]:
        members = [by_code[code] for code in calculation["sites"]]
        for result in run_calculation(
            pass_file.parent / document["job_ini"], calculation["site_model"], members, document["imts"], floor
        ):
            results[result["code"]] = result
            logger.warning("%s: site %s %s", pass_file.parent.name, result["code"], result["state"])
    sites = [results[site["code"]] for site in document["sites"]]
    return {"sites": sites, "seconds": time.monotonic() - start, "cpu_seconds": time.process_time() - cpu}


def run_all(pass_files: Sequence[str]) -> bool:
    """The passes in turn, in one process (OpenQuake's start-up paid once); a pass that fails leaves
    its error in its `result.json` and the next one runs. Whether every pass finished."""
    from openquake.commonlib import logs

    logs.dbcmd("upgrade_db")  # the process's own database (openquake.cfg), created as `oq engine --run` creates it
    skip_hazard_curves()
    read_sections_once()
    shared = share_multi_fault_params()
    ok = True
    for name in pass_files:
        path = Path(name).resolve()
        try:
            result = run(path)
        except Exception:  # noqa: BLE001 - this pass fails, not the others; the error goes to its result
            result = {"error": traceback.format_exc(limit=8)[-4000:]}
            logger.error("%s failed:\n%s", path, result["error"])
            ok = False
        (path.parent / PASS_RESULT).write_text(json.dumps(result, indent=1))
    if shared.hits or shared.misses:
        logger.warning("multi-fault rupture parameters: %d computed, %d reused", shared.misses, shared.hits)
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hazflow.openquake.onepass", description=__doc__.split("\n\n")[0])
    parser.add_argument("pass_files", nargs="+", help="the pass.json files render_pass wrote, run in turn")
    return 0 if run_all(parser.parse_args(argv).pass_files) else 1


if __name__ == "__main__":
    sys.exit(main())
