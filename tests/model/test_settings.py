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
