"""The h5py reader against OpenQuake's own CSV export of the same calculations, value by value."""

from __future__ import annotations

import csv
import re
import shutil

import h5py
import numpy as np
import pytest

from hazflow.exceptions import DataIntegrityError
from hazflow.model.logic_tree import gmm_identity
from hazflow.openquake.datastore import _level_index, read_disaggregation, read_hazard_curves
from tests.conftest import oq_export

pytestmark = pytest.mark.openquake


def _csv_rows(path):
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines))


def test_hazard_curves_match_oq_export(classical_run, tmp_path):
    curves = read_hazard_curves(classical_run.result.hdf5)
    files = oq_export(classical_run, "hcurves", tmp_path / "export")
    assert len(files) == len(curves.realizations) * len(curves.imts)
    compared = 0
    for path in files:
        match = re.match(r"hazard_curve-rlz-(\d+)-(.+)_\d+\.csv", path.name)
        rlz, imt = int(match.group(1)), match.group(2)
        i = curves.imts.index(imt)
        for row in _csv_rows(path):
            s = [site.id for site in curves.sites].index(row["custom_site_id"])
            levels = [float(k[4:]) for k in row if k.startswith("poe-")]
            expected = np.array([float(row[f"poe-{lvl:.7f}"]) for lvl in levels])
            np.testing.assert_allclose(levels, curves.levels, rtol=1e-9)
            # the CSV has 7 significant digits
            np.testing.assert_allclose(curves.values[s, rlz, i], expected, rtol=5e-7, atol=1e-12)
            compared += len(expected)
    assert compared == curves.values.size


def test_hazard_curves_metadata(classical_run, demo):
    curves = read_hazard_curves(classical_run.result.hdf5)
    assert [s.id for s in curves.sites] == ["WLG", "AKL"]
    assert curves.imts == ("PGA", "SA(0.5)")
    assert curves.values.shape == (2, 2, 2, 44)
    assert curves.engine_version == "3.26.2"
    # each realization is one GMM branch of the interface region, in the order of the logic tree
    expected = [(gmm_identity(g.uncertainty), g.weight) for g in demo.gmms_for("Subduction Interface")]
    assert [(gmm_identity(r.gmm), r.weight) for r in curves.realizations] == expected
    # annual probabilities: decreasing with level, positive at WLG near the interface
    assert np.all(np.diff(curves.values, axis=-1) <= 1e-12)
    assert curves.values[0, :, 0, 0].min() > 1e-3


def _bin_index(edges: np.ndarray, centre: float) -> int:
    mids = (edges[:-1] + edges[1:]) / 2
    index = int(np.argmin(np.abs(mids - centre)))
    assert abs(mids[index] - centre) < 1e-3, (centre, mids)
    return index


def test_disaggregation_matches_oq_export(disagg_run, tmp_path):
    d = read_disaggregation(disagg_run.result.hdf5, "TRT_Mag_Dist_Eps")
    files = oq_export(disagg_run, "disagg-rlzs", tmp_path / "export")
    path = next(p for p in files if p.name.startswith("TRT_Mag_Dist_Eps"))
    rows = _csv_rows(path)
    rlz_columns = [k for k in rows[0] if k.startswith("rlz")]
    assert sorted(int(c[3:]) for c in rlz_columns) == [r.rlz_id for r in d.realizations]
    seen = np.zeros(d.values.shape, dtype=bool)
    for row in rows:
        i = d.imts.index(row["imt"])
        assert float(row["iml"]) == pytest.approx(d.imls[i], rel=1e-5)
        index = (
            d.trts.index(row["trt"]),
            _bin_index(d.bin_edges["Mag"], float(row["mag"])),
            _bin_index(d.bin_edges["Dist"], float(row["dist"])),
            _bin_index(d.bin_edges["Eps"], float(row["eps"])),
        )
        for column in rlz_columns:
            r = int(column[3:])
            # the CSV has 6 significant digits
            assert d.values[(r, i) + index] == pytest.approx(float(row[column]), rel=1e-5, abs=1e-15)
            seen[(r, i) + index] = True
    assert seen.all(), "every bin of every realization appears in OpenQuake's export"
    assert d.values.max() > 0


def test_disaggregation_axes_and_levels(disagg_run, demo):
    d = read_disaggregation(disagg_run.result.hdf5)
    s = demo.settings
    assert d.axes == ("TRT", "Mag", "Dist", "Eps")
    assert d.trts == ("Active Shallow Crust",)
    np.testing.assert_allclose(d.bin_edges["Mag"], s.mag_edges)
    np.testing.assert_allclose(d.bin_edges["Dist"], s.dist_edges)
    np.testing.assert_allclose(d.bin_edges["Eps"], s.eps_edges)
    assert d.values.shape == (3, 2, 1, len(s.mag_edges) - 1, len(s.dist_edges) - 1, len(s.eps_edges) - 1)
    np.testing.assert_allclose(d.imls, [0.3, 0.5])
    # each realization's PoE at the level is (to rounding) the probability that at least one
    # bin's rupture exceeds it; with small probabilities that is close to the sum over bins
    total = d.values.sum(axis=(2, 3, 4, 5))
    np.testing.assert_allclose(total, d.poes, rtol=0.05)


def test_disaggregation_realizations_follow_best_rlzs(disagg_run):
    """OpenQuake's Z axis is in `best_rlzs` order, not realization order: the reader undoes that."""
    d = read_disaggregation(disagg_run.result.hdf5)
    with h5py.File(disagg_run.result.hdf5) as f:
        raw = f["disagg-rlzs/TRT_Mag_Dist_Eps"][0]  # (trt, mag, dist, eps, imt, poe, Z)
        z_to_rlz = f["best_rlzs"][0]
    for z, rlz in enumerate(z_to_rlz):
        np.testing.assert_array_equal(d.values[rlz], np.moveaxis(raw[..., 0, z], -1, 0))


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda p: p.write_text("not a datastore"), "not an HDF5 file"),
        (lambda p: h5py.File(p, "w").close(), "not an OpenQuake datastore"),
        (None, "truncated or corrupted"),
    ],
    ids=["text-file", "hdf5-without-oqparam", "truncated"],
)
def test_bad_files_get_a_clear_error(make_bad, message, tmp_path, classical_run):
    path = tmp_path / "calc_1.hdf5"
    if make_bad is None:
        data = classical_run.result.hdf5.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        make_bad(path)
    with pytest.raises(DataIntegrityError, match=message) as info:
        read_hazard_curves(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataIntegrityError, match="no such datastore"):
        read_hazard_curves(tmp_path / "nope.hdf5")


def test_classical_file_is_not_a_disaggregation(classical_run, tmp_path):
    copy = tmp_path / "c.hdf5"
    shutil.copy(classical_run.result.hdf5, copy)
    with pytest.raises(DataIntegrityError, match="disagg-rlzs"):
        read_disaggregation(copy)


@pytest.mark.parametrize(
    ("levels", "imls", "column"),
    [
        ([[0.1, 0.3], [0.2, 0.5]], (0.3, 0.5), 1),
        ([[0.1, 0.3, 0.3], [0.2, 0.5, 0.5]], (0.3, 0.5), 1),  # a site's last level, repeated to its calculation's P
        ([[0.1, 0.3, 0.3], [0.2, 0.5, 0.5]], (0.1, 0.2), 0),
        ([[0.1], [0.2]], None, 0),
    ],
)
def test_the_level_is_picked_by_value_and_a_repeated_one_read_once(levels, imls, column):
    assert _level_index(np.array(levels), imls, "calc.hdf5") == column


@pytest.mark.parametrize(
    ("levels", "imls", "message"),
    [
        ([[0.1, 0.3], [0.2, 0.5]], (0.3, 0.2), "are not one of its levels"),
        ([[0.1, 0.3], [0.2, 0.5]], None, "2 levels per IMT; say which"),
        ([[0.3, 0.3 * (1 + 1e-12)], [0.5, 0.5]], (0.3, 0.5), "are not one of its levels"),  # two columns, not one repeated
    ],
)
def test_a_level_that_is_not_exactly_one_of_the_datastores_is_refused(levels, imls, message):
    with pytest.raises(DataIntegrityError, match=message):
        _level_index(np.array(levels), imls, "calc.hdf5")
