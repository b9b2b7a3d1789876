"""The numbers of the NZ NSHM 2022 disaggregation campaign that requests, forms and benchmarks use.

Pure Python, no imports: the Airflow Params (parsed with every DAG file) read these too.
"""

from __future__ import annotations

# Probabilities of exceedance in 50 years NSHM disaggregates at.
NSHM_POES: tuple[float, ...] = (0.02, 0.05, 0.1, 0.18, 0.39, 0.63, 0.86)

# Intensity measure types of NSHM's disaggregations.
NSHM_IMTS: tuple[str, ...] = ("PGA", "SA(0.2)", "SA(0.5)", "SA(1.5)", "SA(3.0)")

# The 18 VS30 values (m/s) of NSHM's hazard curves.
NSHM_VS30S: tuple[int, ...] = (150, 175, 200, 225, 250, 275, 300, 350, 375, 400, 450, 500, 525, 600, 750, 900, 1000, 1500)

# Quantiles of the composite-branch distribution stored besides mean, std and cov.
DEFAULT_QUANTILES: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 0.995,
)  # fmt: skip

# The VS30s (m/s) a model's ground-motion models are meant for: NSHM 2022 published 150 to 1500 m/s
# (DEMO shares NSHM's GMMs). A deployment may set another range (HAZFLOW_VS30_RANGE, "min,max").
NSHM_VS30_RANGE: tuple[float, float] = (150.0, 1500.0)

# NSHM's 0.1 degree grid of New Zealand (nzshm-common), the default sites of an area extract.
NSHM_GRID = "NZ_0_1_NB_1_1"

# The most sites one area extract (one bundle) takes; a larger area is refused with the advice to split it.
EXTRACT_MAX_SITES = 500
# An extract's asset_hazard_distance (km): how far from a site an asset may be and still get its
# hazard (OpenQuake's default is 15 km; NSHM's 0.1 degree grid is about 11 x 8 km).
EXTRACT_ASSET_HAZARD_DISTANCE_KM = 10.0

# The models a request may name: DEMO (runs here) and the nzshm-model versions (the trigger forms'
# dropdown; a test checks this against nzshm-model, which DAG parsing must not import).
KNOWN_MODELS: tuple[str, ...] = ("DEMO", "NSHM_v1.0.0", "NSHM_v1.0.4")
