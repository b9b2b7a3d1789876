"""A site model instead of one VS30: OpenQuake's site-model CSV, each bad row named by its line."""

from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.extract.site_model import parse_site_model, read_site_model

GOOD = "lon,lat,vs30,z1pt0\n174.7,-41.3,400,40\n174.8001,-41.2,750,10\n"


def test_rows_are_read_rounded_and_extra_columns_ignored():
    assert parse_site_model(GOOD) == [(-41.3, 174.7, 400.0), (-41.2, 174.8, 750.0)]


@pytest.mark.parametrize(
    "text, message",
    [("lon,lat\n174.7,-41.3\n", "needs the columns lon, lat, vs30; missing vs30"),
     ("lon,lat,vs30\n174.7,-41.3,fast\n", "line 2: lon, lat and vs30 must be numbers"),
     ("lon,lat,vs30\n174.7,-41.3,400\n174.7,-41.3,0\n", "line 3: VS30 must be > 0"),
     ("lon,lat,vs30\n174.7,-141.3,400\n", "line 2: latitude -141.3, longitude 174.7 is off the globe"),
     ("lon,lat,vs30\n174.7,-41.3,400\n174.7001,-41.3,750\n", "line 3: the site of line 2 again"),
     ("lon,lat,vs30\n", "no rows")],
    ids=["column", "number", "vs30", "globe", "duplicate", "empty"],
)  # fmt: skip
def test_a_bad_site_model_is_refused_naming_the_line(text, message):
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_site_model(text)
    assert e.value.field == "site_model"


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(BadRequest, match="cannot read .*sites.csv"):
        read_site_model(tmp_path / "sites.csv")
