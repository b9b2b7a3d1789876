from __future__ import annotations

import numpy as np
import pytest

from hazflow.model.sites import resolve_sites
from hazflow.report.plots import hazard_plot_name, plot_hazard_curve
from hazflow.store import HazardAggregate


def test_hazard_plot_is_a_png_that_shows_the_curve(tmp_path):
    site = resolve_sites(["WLG"])[0]
    levels = np.geomspace(1e-4, 10, 44)
    mean = 1e-2 * np.exp(-levels * 4)
    aggs = [
        HazardAggregate("DEMO", site.code, 400.0, "PGA", agg, levels, mean * f)
        for agg, f in (("mean", 1.0), ("0.1", 0.6), ("0.9", 1.5), ("0.5", 0.95))
    ]
    path = plot_hazard_curve(aggs, site, tmp_path / "x.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 400 and image.shape[1] > 600
    # the curve and band are drawn in colour: a fair share of pixels is neither white nor grey
    rgb = image[..., :3]
    coloured = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.15
    assert coloured.mean() > 0.01
    assert hazard_plot_name("DEMO", site, 400, "SA(0.5)") == "hazard/DEMO/WLG/DEMO-WLG-vs400-SA(0.5).png"


def test_disaggregation_plot_shows_target_closure_and_modal_bin(tmp_path):
    from hazflow.report.plots import plot_disaggregation
    from hazflow.report.summary import modal_bin
    from hazflow.store import DisaggAggregate

    site = resolve_sites(["WLG"])[0]
    edges = {
        "Mag": np.linspace(5, 10, 26),
        "Dist": np.array([0, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 140, 180, 220, 260, 320, 380, 500.0]),
        "Eps": np.linspace(-4, 4, 17),
    }
    values = np.zeros((3, 25, 17, 16))
    values[0, 11, 0, 8] = 3e-4
    values[1, 15, 4, 9] = 1e-4
    mean = DisaggAggregate(
        "DEMO",
        site.code,
        400.0,
        "PGA",
        0.1,
        "mean",
        0.2,
        ("TRT", "Mag", "Dist", "Eps"),
        ("ASC", "INTER", "SLAB"),
        edges,
        values,
        1.001,
    )
    mode = modal_bin(mean)
    assert (
        mode.trt == "ASC" and mode.mag == pytest.approx(5 + 11.5 * 0.2) and mode.dist == 2.5 and mode.eps == pytest.approx(0.25)
    )
    path = plot_disaggregation(mean, site, tmp_path / "d.png")
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert path.read_bytes()[:4] == b"\x89PNG" and image.shape[1] > 1000
    rgb = image[..., :3]
    assert ((rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.15).mean() > 0.005
