from __future__ import annotations

import numpy as np

from hazflow.report import hazard_plot_name, plot_hazard_curve
from hazflow.sites import resolve_sites
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
