"""Read OpenQuake 3.26 datastores (calc_N.hdf5) with h5py only: no OpenQuake import.

Realizations are mapped to GMM branches through `full_lt/gsim_lt` (OpenQuake keeps each branch's
uncertainty text, not the branch id of the logic-tree file). hazflow renders one tectonic region
per job, so realization r is the r-th GMM branch of that region; anything else is rejected.
Disaggregation arrays are reordered from OpenQuake's Z axis (`best_rlzs`, not in order) to
realization id order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hazflow.exceptions import DataIntegrityError


@dataclass(frozen=True)
class Realization:
    """One OpenQuake realization of a single-region job: one GMM branch."""

    rlz_id: int
    weight: float
    trt: str
    gmm: str  # OpenQuake's uncertainty text, e.g. '[Stafford2022]\nmu_branch = "Central"'


@dataclass(frozen=True)
class SiteInfo:
    id: str
    lon: float
    lat: float
    vs30: float


@dataclass(frozen=True)
class HazardCurves:
    """Hazard curves per realization: `values` has shape (site, rlz, imt, level), annual PoE."""

    sites: tuple[SiteInfo, ...]
    imts: tuple[str, ...]
    levels: np.ndarray  # (level,) g, shared by all IMTs
    values: np.ndarray
    realizations: tuple[Realization, ...]
    engine_version: str
    investigation_time: float


@dataclass(frozen=True)
class Disaggregation:
    """One site's disaggregation per realization.

    `values` has shape (rlz, imt, *axes), e.g. (R, I, TRT, Mag, Dist, Eps): the probability of
    exceeding the IMT's level `imls[i]` within the investigation time, by bin. `bin_edges` holds the
    edges of every numeric axis; `trts` names the TRT bins. `poes` (rlz, imt) is each realization's
    PoE at the level.
    """

    site: SiteInfo
    kind: str
    axes: tuple[str, ...]
    bin_edges: dict[str, np.ndarray]
    trts: tuple[str, ...]
    imts: tuple[str, ...]
    imls: np.ndarray
    values: np.ndarray
    poes: np.ndarray
    realizations: tuple[Realization, ...]
    engine_version: str
    investigation_time: float


@dataclass(frozen=True)
class SourceRates:
    """One site's rates by source and fault at one level per IMT (`hazflow.openquake.by_source`):
    `names` (C,), "the rest" last; `rate`, `mag`, `rrup`, `eps` (rlz, imt, C) in realization id order,
    the rate per year and the rate-weighted means (NaN where the rate is 0); `closest` (C, 3) rrup (km),
    lon and lat of each one's closest rupture point; the relative `floor` under which sources were
    summed into the rest."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]  # fault, background or rest
    rate: np.ndarray
    mag: np.ndarray
    rrup: np.ndarray
    eps: np.ndarray
    closest: np.ndarray
    floor: float
    unsupported: str  # why nothing was recorded ("" when it was)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def open_datastore(path: str | Path) -> Iterator[h5py.File]:
    """Open an OpenQuake datastore; a clear `DataIntegrityError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataIntegrityError(f"{path}: no such datastore file")
    try:
        if not h5py.is_hdf5(path):
            raise DataIntegrityError(f"{path}: not an HDF5 file, so not an OpenQuake datastore")
        handle = h5py.File(path, "r")
    except OSError as e:  # truncated or corrupted files fail here
        raise DataIntegrityError(f"{path}: unreadable HDF5 file (truncated or corrupted?): {e}") from e
    try:
        if "oqparam" not in handle or "engine_version" not in handle.attrs:
            raise DataIntegrityError(f"{path}: an HDF5 file but not an OpenQuake datastore (no oqparam)")
        yield handle
    except (KeyError, OSError) as e:
        raise DataIntegrityError(f"{path}: incomplete OpenQuake datastore: {e}") from e
    finally:
        handle.close()


def _oqparam(f: h5py.File) -> dict[str, Any]:
    return json.loads(f["oqparam"][()])


def _realizations(f: h5py.File) -> tuple[Realization, ...]:
    rows = f["full_lt/gsim_lt"][()]
    trts = {_text(r["trt"]) for r in rows}
    if len(trts) != 1:
        raise DataIntegrityError(f"{f.filename}: expected a GMM logic tree of one tectonic region, found {sorted(trts)}")
    weights = np.asarray(f["weights"][()], dtype=float)
    if len(weights) != len(rows):
        raise DataIntegrityError(f"{f.filename}: {len(weights)} realizations but {len(rows)} GMM branches")
    for r, row in enumerate(rows):
        # `weights` is float32: compare at its precision
        if abs(weights[r] - float(row["weight"])) > 1e-6:
            raise DataIntegrityError(f"{f.filename}: realization {r} weight {weights[r]} != GMM branch weight {row['weight']}")
    return tuple(Realization(r, float(row["weight"]), _text(row["trt"]), _text(row["uncertainty"])) for r, row in enumerate(rows))


def _sites(f: h5py.File) -> tuple[SiteInfo, ...]:
    col = f["sitecol"]
    ids = [_text(x) for x in col["custom_site_id"][()]] if "custom_site_id" in col else [str(s) for s in col["sids"][()]]
    return tuple(
        SiteInfo(i, float(lon), float(lat), float(vs30))
        for i, lon, lat, vs30 in zip(ids, col["lon"][()], col["lat"][()], col["vs30"][()], strict=True)
    )


def read_hazard_curves(path: str | Path) -> HazardCurves:
    """Hazard curves of every realization of a classical calculation."""
    with open_datastore(path) as f:
        if "hcurves-rlzs" not in f:
            raise DataIntegrityError(f"{path}: no hcurves-rlzs (not a classical calculation with individual_rlzs?)")
        oq = _oqparam(f)
        dset = f["hcurves-rlzs"]
        meta = json.loads(dset.attrs["json"])
        imts = tuple(meta["imt"])
        levels = np.asarray(oq["hazard_imtls"][imts[0]], dtype=float)
        for imt in imts:
            if not np.array_equal(np.asarray(oq["hazard_imtls"][imt], dtype=float), levels):
                raise DataIntegrityError(f"{path}: IMTs have different level grids; hazflow uses one grid")
        values = np.asarray(dset[()], dtype=float)
        realizations = _realizations(f)
        if values.shape[1] != len(realizations):
            raise DataIntegrityError(f"{path}: hcurves-rlzs has {values.shape[1]} realizations, logic tree {len(realizations)}")
        return HazardCurves(
            _sites(f), imts, levels, values, realizations, _text(f.attrs["engine_version"]), float(oq["investigation_time"])
        )


def read_disaggregation(
    path: str | Path,
    kind: str = "TRT_Mag_Dist_Eps",
    imls: Sequence[float] | None = None,
    lonlat: tuple[float, float] | None = None,
) -> Disaggregation:
    """One site's disaggregation matrices by realization, in realization id order, at one level per IMT.

    A datastore holds one site or several (a one-pass calculation shared by sites): `lonlat` (degrees,
    to 0.001) picks the site, and is checked against the datastore's sites (the only one when
    `lonlat` is None). It holds one level per IMT (an `oq engine` run,
    `iml_disagg`) or several (a one-pass disaggregation, `hmap3` of shape (site, IMT, level)): `imls`
    (g, one per IMT) picks the level, and is checked against the datastore's own levels either way
    (a mismatch is a `DataIntegrityError`).
    """
    with open_datastore(path) as f:
        name = f"disagg-rlzs/{kind}"
        if name not in f:
            raise DataIntegrityError(f"{path}: no {name} (not a disaggregation with {kind} among disagg_outputs?)")
        dset = f[name]
        descr = [_text(x) for x in dset.attrs["shape_descr"]]
        expected_tail = ["imt", "poe", "Z"]
        if descr[0] != "site_id" or descr[-3:] != expected_tail:
            raise DataIntegrityError(f"{path}: unexpected axes {descr} of {name}")
        axes = tuple(descr[1:-3])
        site_index = _site_index(f, lonlat, path)
        levels = np.asarray(f["hmap3"][site_index], dtype=float)  # (imt, level)
        level = _level_index(levels, imls, path)
        data = np.asarray(dset[site_index], dtype=float)[..., level, :]  # (*axes, imt, Z)
        z_to_rlz = np.asarray(f["best_rlzs"][site_index], dtype=int)
        realizations = _realizations(f)
        if sorted(z_to_rlz.tolist()) != list(range(len(realizations))):
            raise DataIntegrityError(f"{path}: best_rlzs {z_to_rlz.tolist()} does not cover the {len(realizations)} realizations")
        order = np.argsort(z_to_rlz)  # Z positions in realization id order
        values = np.moveaxis(data[..., order], [-1, -2], [0, 1])  # (rlz, imt, *axes)
        poe4 = np.asarray(f["poe4"][site_index], dtype=float)[:, level, :]  # (imt, Z)
        oq = _oqparam(f)
        imts = tuple(oq["iml_disagg"])
        bins = f["disagg-bins"]
        edges = {axis: np.asarray(bins[axis][()], dtype=float) for axis in axes if axis != "TRT"}
        trts = tuple(_text(t) for t in bins["TRT"][()])
        return Disaggregation(
            site=_sites(f)[site_index],
            kind=kind,
            axes=axes,
            bin_edges=edges,
            trts=trts,
            imts=imts,
            imls=levels[:, level],
            values=values,
            poes=poe4[:, order].T,
            realizations=realizations,
            engine_version=_text(f.attrs["engine_version"]),
            investigation_time=float(oq["investigation_time"]),
        )


def read_source_rates(
    path: str | Path, imls: Sequence[float] | None = None, lonlat: tuple[float, float] | None = None
) -> SourceRates | None:
    """The rates by source and fault a one-pass calculation recorded for one site at one level per
    IMT (chosen as in `read_disaggregation`); None when it recorded none."""
    with open_datastore(path) as f:
        if "hazflow-contributors" not in f:
            return None
        group = f["hazflow-contributors"]
        site = _site_index(f, lonlat, path)
        level = _level_index(np.asarray(f["hmap3"][site], dtype=float), imls, path)
        names = tuple(_text(x) for x in group["labels"][()])
        kinds = tuple(_text(x) for x in group["kinds"][()])
        entries = group["entries"][()]
        entries = entries[(entries["site"] == site) & (entries["level"] == level)]
        n_rlz, n_imt = len(_realizations(f)), f["hmap3"].shape[1]
        shape = (n_rlz, n_imt, len(names))
        arrays = {name: np.zeros(shape) if name == "rate" else np.full(shape, np.nan) for name in ("rate", "mag", "rrup", "eps")}
        for name, values in arrays.items():
            values[entries["rlz"], entries["imt"], entries["label"]] = entries[name]
        return SourceRates(
            names=names,
            kinds=kinds,
            closest=np.asarray(group["closest"][site], dtype=float),
            floor=float(group.attrs["floor"]),
            unsupported=_text(group.attrs["unsupported"]),
            **arrays,
        )


def _site_index(f: h5py.File, lonlat: tuple[float, float] | None, path: str | Path) -> int:
    """The index of the site at `lonlat` (to 0.001 degree) in the datastore's site collection; of
    the only site when `lonlat` is None."""
    sites = _sites(f)
    if lonlat is None:
        if len(sites) != 1:
            raise DataIntegrityError(f"{path}: {len(sites)} sites; say which (lonlat)")
        return 0
    where = (round(lonlat[0], 3), round(lonlat[1], 3))
    found = [i for i, s in enumerate(sites) if (round(s.lon, 3), round(s.lat, 3)) == where]
    if len(found) != 1:
        raise DataIntegrityError(f"{path}: {len(found)} sites at lon {where[0]}, lat {where[1]}, not one")
    return found[0]


def _level_index(levels: np.ndarray, imls: Sequence[float] | None, path: str | Path) -> int:
    """The column of `levels` (IMT, level) holding `imls`; the only one when `imls` is None. A level
    repeated in identical columns (a site's last level, repeated to its calculation's P) is read once."""
    if imls is None:
        if levels.shape[1] != 1:
            raise DataIntegrityError(f"{path}: {levels.shape[1]} levels per IMT; say which (imls)")
        return 0
    wanted = np.asarray(imls, dtype=float)
    found = [p for p in range(levels.shape[1]) if np.allclose(levels[:, p], wanted, rtol=1e-9, atol=0)]
    if not found or any(not np.array_equal(levels[:, p], levels[:, found[0]]) for p in found):
        raise DataIntegrityError(f"{path}: the levels {wanted.tolist()} (g) are not one of its levels {levels.T.tolist()}")
    return found[0]
