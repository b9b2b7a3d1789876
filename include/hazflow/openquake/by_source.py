"""Exceedance rates by source (and by fault inside a multi-fault source), recorded inside a one-pass
disaggregation from the same rupture contexts and the same probabilities as its bins.

The engine's disaggregation composes, per rupture context u (one site, one magnitude bin, one GMM),
the probability of no exceedance `pnes[u, e, m, p]` (epsilon bin, IMT, level) and multiplies those of
a bin: a bin's rate is `-log(prod pnes) = sum_u -log(pnes[u])` (per investigation time). So the
rate of a source at a level is the same sum restricted to its ruptures. This module wraps the two
functions that see both the contexts and their `pnes` (`Disaggregator._disagg6D`, which knows the
context, and `disagg._build_disagg_matrix`, which receives the `pnes`) and adds, per contributor,
the rate and the rate-weighted magnitude, rupture distance (`rrup`, km) and epsilon (bin centres):
no arithmetic of the engine is changed. Where the engine drops a bin (its rate under
`mean_rates.CUTOFF`, 1e-12 per investigation time), the parts in it are dropped too, so the sums
close on the stored bins (to their own float64 rounding).

Who a rupture contributes to (its *label*):
- a source's core name (OpenQuake's `corename`, as in `mean_rates_by_src`: without the `.k` or `:k`
  of a split block);
- a multi-fault rupture goes whole to the nearest tagged fault it touches, OpenQuake's own rule for
  `disagg_by_src` (`multi_fault._set_rupids_by_tag`: tags ordered by the distance from the site to
  their closest section, ties by tag), labelled `<source>@<tag>`. The tags are the source's
  `<faults>` block where it has one, else the parent faults named by its sections (`name="<parent
  fault>, Subsection <k>"`, the NSHM-format convention, `parent_fault`); a rupture touching no tag is
  `<source>@off_rupids`, as in OpenQuake.

For a check of that rule, a recorder `by_rupture` labels each multi-fault rupture by itself instead,
`<source>#<index in the source>`.

A multi-fault context's `rup_id` (stored as `src_id * 2**30 + rup_id`) counts only the ruptures its
calculation did not skip as far away (`MultiFaultSource.iter_ruptures`), plus the block's offset;
the wrapper of `iter_ruptures` remembers which ruptures were kept, so `rup_id` is mapped back to the
rupture (and its sections).

With `ps_grid_spacing` (NSHM's settings: 30 km) the engine collapses the point sources of a group
(split from area and multi-point sources) onto a grid, `cps-...` sources of their own: a collapsed
source is labelled by the sources its points came from (their core names, `+`-joined where a cell
holds points of several; OpenQuake's own `disagg_by_src` needs `ps_grid_spacing = 0` for that reason).

Each label has a kind: `background` for point, multi-point, area and collapsed point sources
(distributed seismicity), `fault` for the others, `rest` for the rest.

What a calculation stores (`save`), in its datastore, under `hazflow-contributors/`: `labels` and
`kinds` (C,);
`entries`, one row per (site, realization, IMT, level, label) whose rate is at least `floor` times
the rate of its (site, realization, IMT, level), the others summed in one row labelled `the rest`
(all rows kept with `floor` 0); `closest` (site, C, 3): rrup (km), lon, lat of each label's closest
rupture point. Imports only numpy and OpenQuake: it runs in OpenQuake's own Python.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np

logger = logging.getLogger("hazflow.openquake.by_source")

REST = "the rest"
TWO30 = 2**30
DISTRIBUTED = (b"P", b"M", b"A", b"p")  # point, multi-point, area and collapsed point sources: background seismicity
OFF_TAG = "off_rupids"  # OpenQuake's tag for multi-fault ruptures that touch no tagged fault
SUBSECTION = re.compile(r"^(?P<parent>.+?),\s*Subsection\s+\S+\s*$")
ENTRY_DT = np.dtype(
    [("site", "<u4"), ("rlz", "<u4"), ("imt", "<u2"), ("level", "<u2"), ("label", "<u4"),
     ("rate", "<f8"), ("mag", "<f8"), ("rrup", "<f8"), ("eps", "<f8")]
)  # fmt: skip
"""A stored row: `rate` per year; `mag`, `rrup`, `eps` rate-weighted means."""


def parent_fault(section_name: str) -> str | None:
    """The parent fault of a section named `<parent fault>, Subsection <k>` (NSHM-format sections,
    OpenSHA's subsection naming); None for any other name."""
    match = SUBSECTION.match(section_name or "")
    return match.group("parent").strip() if match else None


def basename(source_id: str) -> str:
    """OpenQuake's core name of a source id (`valid.corename`: without the `.k`, `:k`, `;k` or `!b` of a
    split block, copy or branch), the name `mean_rates_by_src` gives it."""
    from openquake.hazardlib.valid import corename

    return str(corename(source_id))


def section_names(folder: Path) -> dict[str, str]:
    """Section id -> name of every `<section>` in the NRML files under `folder` (links followed: a
    pass's sources are links to their archives' folders)."""
    names: dict[str, str] = {}
    paths = [Path(top) / name for top, _, files in os.walk(folder, followlinks=True) for name in files]
    for path in sorted(p for p in paths if p.suffix == ".xml"):
        with path.open("rb") as handle:
            if b"geometryModel" not in handle.read(4096):
                continue
        for _, element in ElementTree.iterparse(path):
            if element.tag.rsplit("}", 1)[-1] == "section" and element.get("id") is not None:
                names[element.get("id", "")] = element.get("name", "")
            element.clear()
    return names


class _Fragment:
    """One block of a multi-fault source as its calculation saw it: the ruptures it kept."""

    def __init__(self, src: Any, kept: np.ndarray) -> None:
        self.offset = int(src.offset)
        self.kept = kept  # (n_kept,) index of each yielded rupture in the block
        self.source = basename(src.source_id)
        self.src = src
        self._rupture_idxs: Any = None

    def sections(self, local: np.ndarray) -> list[np.ndarray]:
        """The section indices (into the calculation's `mf_sections`) of the block's ruptures."""
        if self._rupture_idxs is None:
            self._rupture_idxs = self.src.rupture_idxs  # read from the calculation's HDF5 each time
        return [np.asarray(self._rupture_idxs[i]) for i in local]


class Recorder:
    """Rates by label, per (site, group, GMM, magnitude bin), for the calculation under way."""

    def __init__(self, section_names: dict[str, str] | None = None, by_rupture: bool = False) -> None:
        self.section_names = dict(section_names or {})  # section id -> name (from the geometry models)
        self.by_rupture = by_rupture  # a multi-fault rupture labelled by itself, `<source>#<index>` (to check the rule)
        self.reset()

    def reset(self) -> None:
        """Forget the previous calculation (before a calculation runs: the classical step registers
        the multi-fault blocks it reads)."""
        self.labels: list[str] = []
        self.kinds: list[str] = []
        self.label_index: dict[str, int] = {}
        self.parts: dict[tuple[int, int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.closest: dict[tuple[int, int], tuple[float, float, float]] = {}
        self.fragments: dict[int, list[_Fragment]] = defaultdict(list)
        self.section_ids: dict[str, list[str]] = {}  # the calculation's sections file -> section ids, in order
        self.section_rrup: dict[tuple[int, int], float] = {}  # (section index, site) -> rrup (km)
        self.basenames: dict[int, tuple[str, bytes]] = {}  # src_id -> core name, typology code
        self.ctx_labels: dict[tuple[int, int, int], np.ndarray] = {}
        self.groups: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.tag_ranks: dict[tuple[str, int], tuple[np.ndarray, list[str]]] = {}
        self.collapsed: dict[str, list[str]] = {}  # a collapsed point source -> the sources of its points
        self.bins: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.unsupported = ""
        self.current: tuple[Any, int] | None = None
        self.sites: Any = None

    def begin(self, calc: Any) -> None:
        """The disaggregation step of `calc` starts: its sources' base names and its sites."""
        self.basenames = {int(src.id): (basename(src.source_id), src.code) for src in calc.csm.get_sources()}
        self.sites = calc.sitecol

    def save(self, calc: Any, floor: float) -> int:
        """Store the calculation's rows in its datastore (`hazflow-contributors/`); how many."""
        from openquake.hazardlib.contexts import read_cmakers

        rlzs_of = {
            (grp, g): np.asarray(rlzs, dtype=int)
            for grp, cmaker in enumerate(read_cmakers(calc.datastore).to_array())
            for g, rlzs in enumerate(cmaker.gsims.values())
        }
        entries = self.entries(rlzs_of, float(calc.oqparam.investigation_time), floor)
        if not self.parts and "rup/sids" in calc.datastore and len(calc.datastore["rup/sids"]):
            # contexts disaggregated in other processes are out of reach (the runner sets OQ_DISTRIBUTE=no)
            self.unsupported = self.unsupported or "no disaggregation call was seen in this process"
        labels = [*self.labels, REST]
        closest = np.full((len(calc.sitecol), len(labels), 3), np.nan)
        for (sid, c), point in self.closest.items():
            closest[sid, c] = point
        dstore = calc.datastore
        dstore["hazflow-contributors/entries"] = entries
        dstore["hazflow-contributors/labels"] = np.array([label.encode() for label in labels])
        dstore["hazflow-contributors/kinds"] = np.array([kind.encode() for kind in [*self.kinds, "rest"]])
        dstore["hazflow-contributors/closest"] = closest
        dstore["hazflow-contributors"].attrs["floor"] = floor
        dstore["hazflow-contributors"].attrs["unsupported"] = self.unsupported
        return len(entries)

    # --- what the wrappers call ---
    def kept_ruptures(self, src: Any, kept: np.ndarray) -> None:
        frags = [f for f in self.fragments[int(src.id)] if f.offset != int(src.offset)]
        self.fragments[int(src.id)] = sorted([*frags, _Fragment(src, kept)], key=lambda f: f.offset)

    def label(self, name: str, kind: str) -> int:
        """The index of label `name` (of `kind`: fault or background), added if new."""
        if name not in self.label_index:
            self.label_index[name] = len(self.labels)
            self.labels.append(name)
            self.kinds.append(kind)
        return self.label_index[name]

    def _labels_of(self, dis: Any) -> np.ndarray:
        """(U,) label index of each context of the disaggregator's current magnitude bin."""
        key = (int(dis.sid), int(dis.ctx.grp_id[0]), int(dis.magi))
        known = self.ctx_labels.get(key)
        if known is not None and len(known) == len(dis.ctx):
            return known
        ctx = dis.ctx
        out = np.empty(len(ctx), dtype=np.int64)
        src_ids = np.asarray(ctx.src_id)
        for src_id in np.unique(src_ids):
            rows = np.flatnonzero(src_ids == src_id)
            frags = self.fragments.get(int(src_id))
            if frags:
                rup_ids = np.asarray(ctx.rup_id)[rows] % TWO30  # stored as src_id * 2**30 + rup_id (`store_ctxs`)
                out[rows] = self._fault_labels(frags, rup_ids, int(dis.sid))
            else:
                name, code = self.basenames.get(int(src_id), (f"src#{int(src_id)}", b""))
                name = "+".join(self.collapsed.get(name, [name]))  # a collapsed point source: the sources it holds
                out[rows] = self.label(name, "background" if code in DISTRIBUTED else "fault")
        self.ctx_labels[key] = out
        return out

    def _fault_labels(self, frags: list[_Fragment], rup_ids: np.ndarray, sid: int) -> np.ndarray:
        """The label of each multi-fault context (`rup_ids` within the source): its rupture's nearest tag."""
        offsets = np.array([f.offset for f in frags])
        which = np.searchsorted(offsets, rup_ids, side="right") - 1
        out = np.empty(len(rup_ids), dtype=np.int64)
        for k in np.unique(which):
            frag = frags[int(k)]
            rows = np.flatnonzero(which == k)
            local = frag.kept[rup_ids[rows] - frag.offset]
            if self.by_rupture:
                out[rows] = [self.label(f"{frag.source}#{index}", "fault") for index in frag.offset + local]
                continue
            rank, tags = self._tag_ranks(frag, sid)
            sections = frag.sections(local)
            starts = np.r_[0, np.cumsum([len(s) for s in sections])[:-1]]
            best = np.minimum.reduceat(rank[np.concatenate(sections)], starts)  # the nearest tag each touches
            best[~np.isfinite(best)] = len(tags)  # none: OpenQuake's off_rupids
            used, inverse = np.unique(best.astype(np.int64), return_inverse=True)
            names = [*tags, OFF_TAG]
            out[rows] = np.array([self.label(f"{frag.source}@{names[r]}", "fault") for r in used])[inverse.ravel()]
        return out

    def _tag_ranks(self, frag: _Fragment, sid: int) -> tuple[np.ndarray, list[str]]:
        """For the source of `frag` seen from site `sid`: per section (index into `mf_sections`) the rank
        of the nearest tag holding it (inf: none), and the tags by rank. The tags ordered as OpenQuake
        orders them: by the distance to their closest section, then by name; a rupture's tag is then
        the tag of least rank among its sections' (the first it touches)."""
        key = (frag.source, sid)
        known = self.tag_ranks.get(key)
        if known is not None:
            return known
        sections = frag.src.get_sections()
        index_of = {sec_id: i for i, sec_id in enumerate(self.section_ids[frag.src.hdf5path])}
        if frag.src.faults:
            members = {tag: [index_of[str(s)] for s in idxs] for tag, idxs in frag.src.faults.items()}
        else:
            members = defaultdict(list)
            for sec_id, i in index_of.items():
                parent = parent_fault(self.section_names.get(sec_id, ""))
                if parent is not None:
                    members[parent].append(i)
        tags = sorted((min(self._section_rrup(sections[i], i, sid) for i in idxs), tag, idxs) for tag, idxs in members.items())
        rank = np.full(len(sections), np.inf)
        for r, (_, _, idxs) in enumerate(tags):
            rank[idxs] = np.minimum(rank[idxs], r)
        self.tag_ranks[key] = (rank, [tag for _, tag, _ in tags])
        return self.tag_ranks[key]

    def _section_rrup(self, section: Any, index: int, sid: int) -> float:
        """The distance (km) from site `sid` to the section (OpenQuake's `get_min_distance`)."""
        known = self.section_rrup.get((index, sid))
        if known is None:
            mesh = self.sites.mesh
            depths = None if mesh.depths is None else mesh.depths[sid : sid + 1]
            from openquake.hazardlib.geo.mesh import Mesh

            site = Mesh(mesh.lons[sid : sid + 1], mesh.lats[sid : sid + 1], depths)
            known = self.section_rrup[index, sid] = float(section.get_min_distance(site)[0])
        return known

    def _groups(self, dis: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The contexts of the disaggregator's magnitude bin grouped by label, once per bin (every GMM
        reuses it): (labels, the contexts' order by label then nearest first, where each label starts);
        each label's nearest rupture point noted on the way."""
        key = (int(dis.sid), int(dis.ctx.grp_id[0]), int(dis.magi))
        known = self.groups.get(key)
        if known is not None and len(known[1]) == len(dis.ctx):
            return known
        ctx = dis.ctx
        uniq, inverse = np.unique(self._labels_of(dis), return_inverse=True)
        order = np.lexsort((ctx.rrup, inverse))
        starts = np.r_[0, np.flatnonzero(np.diff(inverse[order])) + 1]
        for u, row in zip(uniq, order[starts], strict=True):
            point = (int(dis.sid), int(u))
            if point not in self.closest or ctx.rrup[row] < self.closest[point][0]:
                self.closest[point] = (float(ctx.rrup[row]), float(ctx.clon[row]), float(ctx.clat[row]))
        self.groups[key] = (uniq, order, starts)
        return uniq, order, starts

    def record(self, dis: Any, g: int, pnes: np.ndarray) -> None:
        """Add the rates of one disaggregator call: `pnes` (U, E, M, P) of its contexts for GMM `g`."""
        if len(pnes) != len(dis.ctx) or dis.src_mutex:
            self.unsupported = "mutually exclusive sources"
            return
        uniq, order, starts = self._groups(dis)
        with np.errstate(divide="ignore"):
            x = -np.log(np.maximum(pnes[order], 1e-300))  # (U, E, M, P) rate x investigation time, by label
        x[~self._kept_by_engine(dis, order, x)] = 0.0
        edges = np.asarray(dis.bin_edges[4], dtype=float)
        xu = x.sum(axis=1)  # (U, M, P)
        xe = np.einsum("uemp,e->ump", x, (edges[:-1] + edges[1:]) / 2)
        mag, rrup = dis.ctx.mag[order], dis.ctx.rrup[order]
        stacked = np.stack([xu, xu * mag[:, None, None], xu * rrup[:, None, None], xe])  # (4, U, M, P)
        sums = np.add.reduceat(stacked, starts, axis=1)  # (4, labels, M, P)
        self.parts[int(dis.sid), int(dis.ctx.grp_id[0]), int(g), int(dis.magi)] = (uniq, sums)

    def _kept_by_engine(self, dis: Any, order: np.ndarray, x: np.ndarray) -> np.ndarray:
        """(U, E, M, P) whether each context's part survives in its bin: the engine turns a call's bin
        (distance, lon, lat, epsilon, IMT, level) into a rate and drops it below `mean_rates.CUTOFF`
        (1e-12 per investigation time; `to_rates`), so the sources' parts in it are dropped too and the
        contributions stay what the stored bins hold."""
        from openquake.hazardlib.calc.mean_rates import CUTOFF

        by_bin, starts, which = self._bins(dis, order)
        totals = np.add.reduceat(x[by_bin], starts, axis=0)  # (bins met, E, M, P)
        return totals[which] >= CUTOFF

    def _bins(self, dis: Any, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The (distance, lon, lat) bin of each context (in `order`) as `_build_disagg_matrix` finds it,
        once per magnitude bin: (the contexts by bin, where each bin starts, each context's bin)."""
        from openquake.hazardlib.calc import disagg

        key = (int(dis.sid), int(dis.ctx.grp_id[0]), int(dis.magi))
        known = self.bins.get(key)
        if known is not None and len(known[0]) == len(order):
            return known
        _, dist_bins, lon_bins, lat_bins, _ = dis.bin_edges
        shape = (len(dist_bins) - 1, len(lon_bins) - 1, len(lat_bins) - 1)
        ctx = dis.ctx
        idx = [
            np.digitize(ctx.rrup[order], dist_bins) - 1,
            np.asarray(disagg._digitize_lons(ctx.clon[order], lon_bins)),
            np.digitize(ctx.clat[order], lat_bins) - 1,
        ]
        for k, n in enumerate(shape):
            idx[k][idx[k] == n] = n - 1  # on the last edge: the last bin, as the engine does
        flat = np.ravel_multi_index(tuple(idx), shape, mode="wrap")  # -1 is the last bin there too (numpy indexing)
        by_bin = np.argsort(flat, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(flat[by_bin])) + 1]
        which = np.empty(len(flat), dtype=np.int64)
        which[by_bin] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(flat)]))
        self.bins[key] = (by_bin, starts, which)
        return by_bin, starts, which

    # --- the calculation's result ---
    def entries(self, rlzs_of: dict[tuple[int, int], np.ndarray], itime: float, floor: float) -> np.ndarray:
        """The stored rows (`ENTRY_DT`), see the module's docstring. `rlzs_of[(grp, g)]`: the
        realizations of GMM g of group grp."""
        totals: dict[tuple[int, int], np.ndarray] = {}  # (site, rlz) -> (4, C, M, P)
        C = len(self.labels) + 1  # the last: the rest
        for (sid, grp, g, _magi), (uniq, sums) in self.parts.items():
            for rlz in rlzs_of[grp, g]:
                acc = totals.get((sid, int(rlz)))
                if acc is None:
                    acc = totals[sid, int(rlz)] = np.zeros((4, C, *sums.shape[2:]))
                acc[:, uniq] += sums
        rows = []
        rest = C - 1
        for (sid, rlz), acc in sorted(totals.items()):
            rate = acc[0]  # (C, M, P)
            total = rate.sum(axis=0)
            small = rate < floor * total
            acc[:, rest] = np.where(small[None], acc, 0).sum(axis=1)
            keep = ~small
            keep[rest] = acc[0, rest] > 0
            for c, m, p in zip(*np.nonzero(keep), strict=True):
                r = acc[0, c, m, p]
                if r <= 0:
                    continue
                rows.append((sid, rlz, m, p, c, r / itime, acc[1, c, m, p] / r, acc[2, c, m, p] / r, acc[3, c, m, p] / r))
        return np.array(rows, dtype=ENTRY_DT)


RECORDER: Recorder | None = None


def install(recorder: Recorder) -> None:
    """Record with `recorder` in this process (the wrappers are installed once)."""
    global RECORDER
    RECORDER = recorder
    from openquake.hazardlib import source_reader
    from openquake.hazardlib.calc import disagg
    from openquake.hazardlib.source.multi_fault import MultiFaultSource
    from openquake.hazardlib.source.point import CollapsedPointSource

    if getattr(disagg.Disaggregator._disagg6D, "hazflow", False):
        return
    disagg6d, build_matrix, iter_ruptures = (
        disagg.Disaggregator._disagg6D,
        disagg._build_disagg_matrix,
        MultiFaultSource.iter_ruptures,
    )
    save_and_split = source_reader.save_and_split
    collapse = CollapsedPointSource.__init__

    def _disagg6D(self: Any, imldic: Any, g: int) -> Any:
        if RECORDER is None:
            return disagg6d(self, imldic, g)
        RECORDER.current = (self, g)
        try:
            return disagg6d(self, imldic, g)
        finally:
            RECORDER.current = None

    def _build_disagg_matrix(bdata: Any, bins: Any) -> Any:
        if RECORDER is not None and RECORDER.current is not None:
            dis, g = RECORDER.current
            RECORDER.record(dis, g, bdata.pnes)
        return build_matrix(bdata, bins)

    def _collapse(self: Any, source_id: str, pointsources: Any) -> None:
        if RECORDER is not None:
            RECORDER.collapsed[source_id] = sorted({basename(p.source_id) for p in pointsources})
        collapse(self, source_id, pointsources)

    def _save_and_split(mfsources: Any, sectiondict: Any, hdf5path: str, *args: Any, **kwargs: Any) -> Any:
        if RECORDER is not None:  # the order that makes a rupture's section indices
            RECORDER.section_ids[hdf5path] = [str(sec_id) for sec_id in sectiondict]
        return save_and_split(mfsources, sectiondict, hdf5path, *args, **kwargs)

    def _iter_ruptures(self: Any, **kwargs: Any) -> Any:
        if RECORDER is not None and kwargs.get("step", 1) == 1:
            RECORDER.kept_ruptures(self, np.flatnonzero(self.msparams["area"] != 0))
        return iter_ruptures(self, **kwargs)

    _disagg6D.hazflow = True  # type: ignore[attr-defined]
    disagg.Disaggregator._disagg6D = _disagg6D
    disagg._build_disagg_matrix = _build_disagg_matrix
    MultiFaultSource.iter_ruptures = _iter_ruptures
    source_reader.save_and_split = _save_and_split
    CollapsedPointSource.__init__ = _collapse
