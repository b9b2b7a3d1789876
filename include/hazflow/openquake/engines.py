"""How disaggregations are computed: the engine choice, and how many sites share one OpenQuake
process. Pure Python, no imports: the DAG's Params read these at parse time.

- `hazardlib` (the default): one *pass* per leaf x VS30 x site group. One OpenQuake process runs
  the engine's own disaggregation calculator once per site with every PoE and IMT of the site at once
  (`hazflow.openquake.onepass`): the leaf's ruptures, contexts and ground-motion means and standard
  deviations are built once per site, not once per PoE, and the sites of a group share the process
  start-up (about 5 s of imports).
- `oq`: `oq engine --run` once per leaf x site x VS30 x PoE with its IMTs (`iml_disagg`), the
  reference path the one-pass engine is tested against.

Sites are not put in one calculation: with few sites, OpenQuake gives every site the full rupture
geometry of a point source as soon as any site is within its `pointsource_distance`, so a site's
result would depend on which other sites share the calculation (checked on DEMO: a CHC bin 0.5
relative apart when computed beside WLG). One calculation per site keeps each job's result equal to
the engine's single-site run, whatever its pass.
"""

from __future__ import annotations

DISAGG_ENGINES: tuple[str, ...] = ("hazardlib", "oq")
DEFAULT_DISAGG_ENGINE = "hazardlib"

# Sites whose calculations one OpenQuake process runs in turn. The process's peak memory is that of
# its largest site calculation (they run one after another); the cap bounds how much one failure
# reruns and lets a batch spread sites over a worker's cores. See docs/PRODUCTION.md for the figures.
SITES_PER_PASS = 5

# The inputs and the result of a one-pass disaggregation (`hazflow.openquake.onepass`).
PASS_FORMAT = "hazflow.onepass/1"
PASS_RESULT = "result.json"

# What OpenQuake says when every source is beyond the distance cut-off: an empty, valid result.
NO_RUPTURE_MARKERS: tuple[str, ...] = (
    "The site is far from all seismic sources",  # OpenQuake 3.26 (exit code 0, no curves)
    "There are no ruptures close to the site",
    "Filtered away all ruptures",
    "Filtered away all sources",
    "There are no sources close to the site",
)
