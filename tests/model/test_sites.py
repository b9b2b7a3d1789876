from __future__ import annotations

import pytest

from hazflow.exceptions import BadRequest
from hazflow.model.sites import resolve_sites, site_code


def test_ids_resolve_to_nzshm_common_sites():
    wlg, chc, akl = resolve_sites(["WLG", "CHC", "AKL"])
    assert (wlg.id, wlg.code, wlg.name) == ("WLG", "-41.300~174.780", "Wellington")
    assert chc.code == "-43.530~172.630"
    assert akl.code == "-36.870~174.770"


@pytest.mark.parametrize("site_id, backarc", [("WLG", False), ("CHC", False), ("AKL", True), ("HLZ", True), ("DUD", False)])
def test_backarc_flags_follow_the_nzshm_polygon(site_id, backarc):
    assert resolve_sites([site_id])[0].backarc is backarc


def test_nz_list_has_36_sites_and_the_known_backarc_ones():
    sites = resolve_sites(["NZ"])
    assert len(sites) == 36
    assert {s.id for s in sites if s.backarc} == {"AKL", "HAW", "HLZ", "KKE", "NPL", "TKZ", "TMZ", "TRG", "TUO", "ROT", "WRE"}


@pytest.mark.parametrize(
    "text, code",
    [("-41.3~174.78", "-41.300~174.780"), (" -41.3004 ~ 174.7801 ", "-41.300~174.780"), ("-43.95~-176.56", "-43.950~-176.560")],
)
def test_codes_are_rounded_to_the_nshm_grid(text, code):
    site = resolve_sites([text])[0]
    assert site.code == code == site.id
    assert site_code(site.lat, site.lon) == code


@pytest.mark.parametrize(
    "sites, message",
    [
        (["XXX"], "unknown site or list 'XXX'"),
        (["12~abc"], "malformed location '12~abc'"),
        (["-41.3"], "unknown site or list"),
        (["95~170"], "off the globe"),
        ([], "no sites given"),
        (["WLG", "-41.3~174.78"], "more than once: -41.300~174.780"),
        (["NZ", "AKL"], "more than once: -36.870~174.770"),
    ],
)
def test_bad_sites_name_the_field(sites, message):
    with pytest.raises(BadRequest, match=message) as info:
        resolve_sites(sites, field="sites")
    assert info.value.field == "sites"


def test_a_minus_leaves_a_site_out_nshm_35():
    sites = resolve_sites(["NZ", "-WRE"])
    assert len(sites) == 35 and "WRE" not in {s.id for s in sites}
    assert [s.id for s in resolve_sites(["NZ2", "-NZ2", "GIS"])] == ["GIS"]  # a list can be left out too


@pytest.mark.parametrize(
    "sites, message",
    [
        (["WLG", "-CHC"], "cannot leave out CHC"),
        (["WLG", "-WLG"], "every site requested is left out"),
        (["-XXX"], "unknown site"),
    ],
)
def test_leaving_out_what_was_not_asked_for_is_an_error(sites, message):
    with pytest.raises(BadRequest, match=message) as info:
        resolve_sites(sites)
    assert info.value.field == "sites"


# --- one place, one code: longitudes as OpenQuake keeps them, [-180, 180) ---
@pytest.mark.parametrize(
    "code, expected",
    [("-43.95~183.5", "-43.950~-176.500"), ("-43.95~-176.5", "-43.950~-176.500"), ("-41.3~174.78", "-41.300~174.780"),
     ("-44~180", "-44.000~-180.000"), ("-44~-180", "-44.000~-180.000"), ("0~360", "0.000~0.000"), ("-41.3~-0.0001", "-41.300~0.000")],
)  # fmt: skip
def test_a_location_takes_its_canonical_place(code, expected):
    (site,) = resolve_sites([code])
    assert site.code == expected and -180.0 <= site.lon < 180.0


def test_one_place_written_two_ways_is_one_site_requested_twice():
    with pytest.raises(BadRequest, match=r"sites: site\(s\) requested more than once: -43.950~-176.500"):
        resolve_sites(["-43.95~183.5", "-43.95~-176.5"])


@pytest.mark.parametrize("code", ["-41.3~nan", "inf~174.7", "-91~174", "-41~361", "-41~-181"])
def test_a_location_off_the_globe_or_not_finite_is_refused(code):
    with pytest.raises(BadRequest) as e:
        resolve_sites([code])
    assert e.value.field == "sites"
