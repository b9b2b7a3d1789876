"""How disaggregations are computed: what each engine does (their names, a deployment setting, are
`hazflow.choices.DISAGG_ENGINES`), and how many sites share one OpenQuake process. Pure Python, no
imports: the one-pass process (OpenQuake's own Python) reads these.

- `hazardlib` (the default): one *pass* per leaf x VS30 x site group. One OpenQuake process runs
  the engine's own disaggregation calculator with every PoE and IMT of a site at once
  (`hazflow.openquake.onepass`), once per site or once for all the sites (below): the leaf's
  ruptures, contexts and ground-motion means and standard deviations are built once per site (or
  once), not once per PoE, and the sites of a group share the process start-up (about 5 s of imports).
- `oq`: `oq engine --run` once per leaf x site x VS30 x PoE with its IMTs (`iml_disagg`), the
  reference path the one-pass engine is tested against.

Sites share one calculation only where that cannot change their results: when every source of the
leaf is a fault whose ruptures have the same geometry whatever the sites
(`SITE_INDEPENDENT_SOURCES`: simple, complex, characteristic and kite faults), the sites of a pass
are one calculation, so the leaf's ruptures and their contexts are built once for all of them
(DEMO's interface leaves: about half the CPU of a 3-site pass). Point-like sources (point, area,
multi-point) are not: with few sites, OpenQuake gives every site the full rupture geometry of a
point source as soon as any site is within its `pointsource_distance`, so a site's result would
depend on which other sites share the calculation (checked on DEMO: a CHC bin 0.5 relative apart
when computed beside WLG); nor are multi-fault sources (NSHM's inversion ruptures: their dip, width
and top depth average the sections close to any site of the calculation). A leaf with any of these
(every NSHM leaf: inversion ruptures and multi-point background seismicity) gets one calculation per
site, each equal to the engine's single-site run, whatever its pass. A shared calculation agrees
with the single-site ones to about 1e-8 relative (the order of float32 rounding of the contexts),
and the choice is part of every job key of the leaf (`hazflow.openquake.inputs`).
"""

from __future__ import annotations

# NRML source typologies whose rupture contexts at a site do not depend on the calculation's other
# sites (faults of one surface per rupture); a leaf of these only lets its sites share a calculation.
# Not `multiFaultSource`: a rupture's dip, width and top depth average its sections close to *any*
# site of the calculation (`multi.build_msparams`, `close_sec`).
SITE_INDEPENDENT_SOURCES: frozenset[str] = frozenset(
    {"simpleFaultSource", "complexFaultSource", "characteristicFaultSource", "kiteFaultSource"}
)

# Sites whose calculations one OpenQuake process runs in turn (or as one, see above). The process's
# peak memory is that of its largest calculation (they run one after another; a shared one holds
# the contexts of all its sites); the cap bounds how much one failure reruns and lets a batch
# spread sites over a worker's cores. See docs/PRODUCTION.md for the figures.
SITES_PER_PASS = 5

# The inputs and the result of a one-pass disaggregation (`hazflow.openquake.onepass`).
PASS_FORMAT = "hazflow.onepass/2"
PASS_RESULT = "result.json"

# What OpenQuake says when every source is beyond the distance cut-off: an empty, valid result.
NO_RUPTURE_MARKERS: tuple[str, ...] = (
    "The site is far from all seismic sources",  # OpenQuake 3.26 (exit code 0, no curves)
    "The sites are far from all seismic sources",  # OpenQuake 3.26, classical (exit code 1: NSHM's PUY at WLG)
    "There are no ruptures close to the site",
    "Filtered away all ruptures",
    "Filtered away all sources",
    "There are no sources close to the site",
)
