"""Calculation settings: everything besides the leaf, site, VS30 and targets that shapes a result.

They enter every job key through `digest()`, so two results are only combined when they were
computed the same way. Defaults are those of NSHM 2022 (FIELD_NOTES.md); a model may override some
(DEMO coarsens the rupture mesh so that it runs in seconds).
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from hazflow.exceptions import BadRequest

# The 44-level intensity grid of NSHM 2022 hazard curves (g), the same for every IMT.
NSHM_LEVELS: tuple[float, ...] = (
    0.0001, 0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.002, 0.004, 0.006, 0.008,
    0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.2, 0.3, 0.4, 0.5,
    0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0,
    2.2, 2.4, 2.6, 2.8, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0,
    7.0, 8.0, 9.0, 10.0,
)  # fmt: skip

# Magnitude-dependent distance cut-offs per tectonic region: (magnitude, km) pairs.
NSHM_MAXIMUM_DISTANCE: dict[str, tuple[tuple[float, float], ...]] = {
    "Active Shallow Crust": ((4.0, 0.0), (5.0, 100.0), (6.0, 200.0), (9.5, 300.0)),
    "Subduction Interface": ((5.0, 0.0), (6.0, 200.0), (10.0, 500.0)),
    "Subduction Intraslab": ((5.0, 0.0), (6.0, 200.0), (10.0, 500.0)),
}

# Fixed disaggregation bin edges, so that results of different leaves can be added bin by bin.
NSHM_MAG_EDGES: tuple[float, ...] = tuple(round(5.0 + 0.1999 * k, 4) for k in range(26))
NSHM_DIST_EDGES: tuple[float, ...] = (0, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 140, 180, 220, 260, 320, 380, 500)
NSHM_EPS_EDGES: tuple[float, ...] = tuple(float(x) for x in np.linspace(-4.0, 4.0, 17))

DISAGG_OUTPUTS: tuple[str, ...] = ("TRT", "Mag", "Dist", "Mag_Dist", "TRT_Mag_Dist_Eps")


# The keys of an nzshm-model `hazard_config` that become CalcSettings fields ...
HAZARD_CONFIG_SETTINGS: dict[tuple[str, str], str] = {
    ("general", "random_seed"): "random_seed",
    ("general", "ps_grid_spacing"): "ps_grid_spacing",
    ("erf", "rupture_mesh_spacing"): "rupture_mesh_spacing",
    ("erf", "width_of_mfd_bin"): "width_of_mfd_bin",
    ("erf", "complex_fault_mesh_spacing"): "complex_fault_mesh_spacing",
    ("erf", "area_source_discretization"): "area_source_discretization",
    ("calculation", "investigation_time"): "investigation_time",
    ("calculation", "truncation_level"): "truncation_level",
    ("calculation", "maximum_distance"): "maximum_distance",
}
# ... and those hazflow writes itself per job: the value NSHM's config must have (None: any, hazflow
# sets it per job kind). `reference_vs30_type = measured` is the site model's vs30measured = 1;
# `individual_curves = true` is `individual_rlzs = true`.
HAZARD_CONFIG_FIXED: dict[tuple[str, str], str | None] = {
    ("general", "calculation_mode"): None,
    ("logic_tree", "number_of_logic_tree_samples"): "0",
    ("site_params", "reference_vs30_type"): "measured",
    ("output", "individual_curves"): "true",
}


@dataclass(frozen=True)
class CalcSettings:
    """OpenQuake settings shared by all jobs of a model run (NSHM 2022 values by default)."""

    investigation_time: float = 1.0
    truncation_level: float = 4.0
    rupture_mesh_spacing: float = 4.0
    complex_fault_mesh_spacing: float = 10.0
    area_source_discretization: float = 10.0
    width_of_mfd_bin: float = 0.1
    ps_grid_spacing: float = 30.0
    random_seed: int = 25
    levels: tuple[float, ...] = NSHM_LEVELS
    maximum_distance: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=lambda: dict(NSHM_MAXIMUM_DISTANCE))
    mag_edges: tuple[float, ...] = NSHM_MAG_EDGES
    dist_edges: tuple[float, ...] = NSHM_DIST_EDGES
    eps_edges: tuple[float, ...] = NSHM_EPS_EDGES
    # Disaggregate by epsilon* (OpenQuake's `epsilon_star`: the epsilon of the ground motion at the
    # target level, one per rupture) instead of by the epsilon of every exceeding ground motion.
    epsilon_star: bool = False

    def __post_init__(self) -> None:
        # Normalise types so that a spec's key survives a JSON round trip (400 and 400.0 hash differently).
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "maximum_distance":
                value = {str(t): tuple((float(m), float(d)) for m, d in pairs) for t, pairs in value.items()}
            elif f.name == "random_seed":
                value = int(value)
            elif f.name == "epsilon_star":
                if not isinstance(value, bool):
                    raise BadRequest("settings.epsilon_star", f"expected true or false, got {value!r}")
            elif isinstance(value, (list, tuple)):
                value = tuple(float(x) for x in value)
            else:
                value = float(value)
            object.__setattr__(self, f.name, value)
        for name in ("levels", "mag_edges", "dist_edges", "eps_edges"):
            values = np.asarray(getattr(self, name), dtype=float)
            if values.ndim != 1 or len(values) < 2 or np.any(np.diff(values) <= 0):
                raise BadRequest(f"settings.{name}", "must be at least two strictly increasing numbers")
        if self.investigation_time <= 0:
            raise BadRequest("settings.investigation_time", f"must be > 0, got {self.investigation_time}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalcSettings:
        """Build from JSON-like data; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadRequest("settings", f"unknown setting(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as e:
            raise BadRequest("settings", f"invalid value: {e}") from None

    @classmethod
    def from_hazard_config(cls, config: Any, name: str) -> CalcSettings:
        """The settings of an nzshm-model version's `hazard_config` (an `OpenquakeConfig`, whose
        `config` is a ConfigParser of job.ini sections); hazflow's disaggregation settings (levels,
        bin edges, epsilon*) keep their defaults. A key hazflow neither applies nor writes the same
        way itself is an error naming it, so a new NSHM setting is never silently dropped."""
        parser = config.config
        values: dict[str, Any] = {}
        for section in parser.sections():
            for key, text in parser[section].items():
                where = f"{name} hazard_config [{section}] {key}"
                if (section, key) in HAZARD_CONFIG_SETTINGS:
                    target = HAZARD_CONFIG_SETTINGS[(section, key)]
                    try:
                        values[target] = ast.literal_eval(text) if target == "maximum_distance" else float(text)
                    except (ValueError, SyntaxError):
                        raise BadRequest("model", f"{where} = {text!r} is not a value hazflow can read") from None
                elif (section, key) in HAZARD_CONFIG_FIXED:
                    expected = HAZARD_CONFIG_FIXED[(section, key)]
                    if expected is not None and text.strip().lower() != expected:
                        raise BadRequest("model", f"{where} = {text!r}: hazflow writes {expected!r} (see model/settings.py)")
                else:
                    raise BadRequest("model", f"{where} is a setting hazflow does not apply; add it to CalcSettings first")
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """As JSON data; `epsilon_star` only when set, so that the digests and job keys of every result
        computed before the setting existed stay what they were."""
        data = json.loads(json.dumps(asdict(self)))
        if not self.epsilon_star:
            del data["epsilon_star"]
        return data

    def digest(self) -> str:
        """Content hash of the settings (16 hex characters)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_overrides(self, **overrides: Any) -> CalcSettings:
        return replace(self, **overrides)
