from __future__ import annotations

import json

import pytest

from hazflow.exceptions import BadRequest
from hazflow.model.settings import NSHM_LEVELS, CalcSettings


def test_nshm_defaults():
    s = CalcSettings()
    assert len(NSHM_LEVELS) == 44 and s.levels == NSHM_LEVELS
    assert len(s.mag_edges) - 1 == 25 and len(s.dist_edges) - 1 == 17 and len(s.eps_edges) - 1 == 16
    assert s.dist_edges[-1] == 500 and s.eps_edges[0] == -4 and s.eps_edges[-1] == 4
    assert s.investigation_time == 1.0 and s.truncation_level == 4


def test_digest_survives_json_and_ignores_number_spelling():
    s = CalcSettings()
    again = CalcSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s and again.digest() == s.digest()
    assert CalcSettings(dist_edges=(0, 10, 20)).digest() == CalcSettings(dist_edges=(0.0, 10.0, 20.0)).digest()


def test_every_setting_changes_the_digest():
    base = CalcSettings().digest()
    assert CalcSettings(rupture_mesh_spacing=5).digest() != base
    assert CalcSettings(levels=NSHM_LEVELS[:-1]).digest() != base
    assert CalcSettings(epsilon_star=True).digest() != base


def test_epsilon_star_left_unset_keeps_the_digest_of_settings_before_it_existed():
    """Results computed before `epsilon_star` existed keep their keys: the default is not in the hashed data."""
    import hashlib
    from dataclasses import asdict

    earlier = {k: v for k, v in json.loads(json.dumps(asdict(CalcSettings()))).items() if k != "epsilon_star"}
    assert CalcSettings().digest() == hashlib.sha256(json.dumps(earlier, sort_keys=True).encode()).hexdigest()[:16]
    star = CalcSettings(epsilon_star=True)
    assert star.to_dict()["epsilon_star"] is True and CalcSettings.from_dict(star.to_dict()) == star


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nope": 1}, "unknown setting"),
        ({"levels": [0.1, 0.05]}, "settings.levels"),
        ({"dist_edges": [0]}, "settings.dist_edges"),
        ({"investigation_time": 0}, "investigation_time"),
        ({"truncation_level": "x"}, "invalid value"),
        ({"epsilon_star": "true"}, "settings.epsilon_star"),
    ],
)
def test_bad_settings(data, message):
    with pytest.raises(BadRequest, match=message):
        CalcSettings.from_dict(data)


def _hazard_config(**changes: dict[str, str]):
    """NSHM_v1.0.4's hazard_config, with sections changed as given."""
    import copy

    import nzshm_model

    config = copy.deepcopy(nzshm_model.get_model_version("NSHM_v1.0.4").hazard_config)
    for section, values in changes.items():
        for key, value in values.items():
            config.config[section][key] = value
    return config


def test_nshm_settings_are_read_from_nzshm_model_and_keep_their_digest():
    from hazflow.model.logic_tree import load_model

    nshm = load_model("NSHM_v1.0.4")
    assert nshm.settings.digest() == "5284e981660a4e2b"  # the digest every NSHM job key was made with
    assert nshm.settings == CalcSettings.from_hazard_config(_hazard_config(), "NSHM_v1.0.4")
    assert nshm.settings.maximum_distance["Subduction Interface"] == ((5.0, 0.0), (6.0, 200.0), (10.0, 500.0))
    assert load_model("NSHM_v1.0.0").settings.digest() == "5284e981660a4e2b"  # v1.0.0's hazard_config is the same


def test_a_version_with_other_settings_gets_its_own():
    other = CalcSettings.from_hazard_config(
        _hazard_config(general={"ps_grid_spacing": "20"}, erf={"rupture_mesh_spacing": "2"}), "TEST"
    )
    assert (other.ps_grid_spacing, other.rupture_mesh_spacing) == (20.0, 2.0)
    assert other.digest() != "5284e981660a4e2b"
    assert other.mag_edges == CalcSettings().mag_edges  # hazflow's disaggregation settings stay hazflow's


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (
            {"calculation": {"pointsource_distance": "50"}},
            r"\[calculation\] pointsource_distance is a setting hazflow does not apply",
        ),
        ({"logic_tree": {"number_of_logic_tree_samples": "100"}}, r"number_of_logic_tree_samples = '100': hazflow writes '0'"),
        ({"site_params": {"reference_vs30_type": "inferred"}}, "reference_vs30_type"),
        ({"calculation": {"maximum_distance": "{'Active Shallow Crust': [(4.0, 0)"}}, "maximum_distance"),
        ({"erf": {"width_of_mfd_bin": "wide"}}, "width_of_mfd_bin = 'wide'"),
    ],
)
def test_a_hazard_config_hazflow_cannot_apply_is_refused_naming_the_key(changes, named):
    with pytest.raises(BadRequest, match=named) as refused:
        CalcSettings.from_hazard_config(_hazard_config(**changes), "TEST")
    assert refused.value.field == "model" and "TEST hazard_config" in str(refused.value)
