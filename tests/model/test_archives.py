"""NSHM source archives: found by toshi id (source root, the store, the Toshi API), checked before
any use, hashed by content, kept once in the store; every bad archive refused naming the leaf, the
id and the member, with nothing left behind."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from hazflow.config import Config
from hazflow.exceptions import TransientError
from hazflow.model.archives import ArchiveError, Limits, SourceArchives, content_digest
from hazflow.model.logic_tree import load_model
from hazflow.model.toshi import ToshiApi
from hazflow.openquake.inputs import source_digests
from hazflow.store import open_store
from tests.support.toshi_api import toshi_api

NSHM = load_model("NSHM_v1.0.4")
CRU = NSHM.leaf("CRU-1")
INVERSION, BACKGROUND = CRU.sources
NRML = '<?xml version="1.0"?>\n<nrml xmlns:gml="http://www.opengis.net/gml" xmlns="http://openquake.org/xmlns/nrml/0.5">\n'


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip of `members`, in memory."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def resolver(tmp_path: Path, root: Path | str | None, **kw: object) -> SourceArchives:
    store = open_store("local", str(tmp_path / "store"))
    return SourceArchives(root=str(root) if root else None, cache=tmp_path / "cache", store=store, **kw)  # type: ignore[arg-type]


def members(archive_zip: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive_zip) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_a_leaf_resolves_to_its_checked_archives(nshm_env):
    inversion, background = NSHM.source_archives(CRU)
    assert (inversion.kind, background.kind) == ("inversion", "distributed")
    assert inversion.nrml_files[0].endswith("-ruptures_sections.xml")  # the geometry model before its ruptures
    assert {Path(m).suffix for m in inversion.members} == {".xml", ".hdf5"}
    assert all((inversion.folder / m).is_file() for m in inversion.members)
    assert NSHM.source_paths(CRU) == [inversion.folder / n for n in inversion.nrml_files] + [
        background.folder / n for n in background.nrml_files
    ]
    assert source_digests(NSHM, CRU) == (f"sha256:{inversion.digest}", f"sha256:{background.digest}")


def test_a_zip_and_its_unpacked_folder_have_one_digest(nshm_sources, tmp_path):
    zipped = nshm_sources / f"{INVERSION}.zip"
    folder = tmp_path / "root" / INVERSION
    folder.mkdir(parents=True)
    with zipfile.ZipFile(zipped) as z:
        z.extractall(folder)
    from_folder = resolver(tmp_path, tmp_path / "root").resolve(INVERSION, "inversion", "CRU-1")
    assert from_folder.digest == content_digest(zipped) == content_digest(folder)
    assert from_folder.origin == str(tmp_path / "root")


def test_an_archive_is_kept_once_in_the_store_and_found_there_without_a_root(nshm_sources, tmp_path):
    first = resolver(tmp_path, nshm_sources).resolve(INVERSION, "inversion", "CRU-1")
    again = resolver(tmp_path, nshm_sources).resolve(INVERSION, "inversion", "CRU-1")  # a second process
    kept = sorted(p.name for p in (tmp_path / "store" / "artifacts").glob("*/nshm-source-*"))
    assert len([k for k in kept if "-id-" not in k]) == 1 and again.digest == first.digest
    shutil.rmtree(tmp_path / "cache")  # a worker of its own: no root, no unpacked copy, only the store
    worker = resolver(tmp_path, None).resolve(INVERSION, "inversion", "CRU-1")
    assert worker.digest == first.digest and worker.origin.startswith("the store")
    assert sorted(worker.members) == sorted(first.members)


def test_the_source_root_comes_before_the_store_and_a_changed_archive_changes_the_digest(nshm_sources, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(nshm_sources / f"{BACKGROUND}.zip", root)
    before = resolver(tmp_path, root).resolve(BACKGROUND, "distributed", "CRU-1")
    edited = members(root / f"{BACKGROUND}.zip")
    ((name, xml),) = edited.items()
    (root / f"{BACKGROUND}.zip").write_bytes(zip_bytes({name: xml.replace(b"<b_val>1.0</b_val>", b"<b_val>1.1</b_val>")}))
    after = resolver(tmp_path, root).resolve(BACKGROUND, "distributed", "CRU-1")
    assert after.digest != before.digest and after.origin == str(root)


def test_job_keys_follow_the_archive_content(nshm_sources, nshm_env, tmp_path, monkeypatch, oq_version):
    from hazflow.model.sites import resolve_sites
    from hazflow.plan.jobs import hazard_job

    spec = hazard_job(NSHM, CRU, 400.0, tuple(resolve_sites(["WLG"])), ("PGA",), oq_version)
    root = tmp_path / "edited"
    shutil.copytree(nshm_sources, root)
    edited = members(root / f"{BACKGROUND}.zip")
    ((name, xml),) = edited.items()
    (root / f"{BACKGROUND}.zip").write_bytes(zip_bytes({name: xml.replace(b"<max_mag>7.5", b"<max_mag>7.4")}))
    monkeypatch.setenv("HAZFLOW_NSHM_SOURCES", str(root))
    edited_spec = hazard_job(NSHM, CRU, 400.0, spec.sites, ("PGA",), oq_version)
    assert edited_spec.inputs != spec.inputs and edited_spec.key != spec.key


def test_without_any_place_for_archives_a_plan_keys_on_toshi_ids(tmp_path, monkeypatch):
    for name in ("HAZFLOW_NSHM_SOURCES", "HAZFLOW_TOSHI_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(tmp_path / "work"))
    assert source_digests(NSHM, CRU) == (f"toshi:{INVERSION}", f"toshi:{BACKGROUND}")
    with pytest.raises(ArchiveError, match="set HAZFLOW_NSHM_SOURCES or HAZFLOW_TOSHI_API_URL") as refused:
        NSHM.source_paths(CRU)
    assert refused.value.field == "leaves" and "leaf CRU-1" in str(refused.value) and INVERSION in str(refused.value)


def test_a_missing_archive_names_the_leaf_the_id_and_every_place_looked(nshm_sources, tmp_path, monkeypatch):
    monkeypatch.setenv("HAZFLOW_NSHM_SOURCES", str(tmp_path / "empty"))
    monkeypatch.setenv("HAZFLOW_STORE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("HAZFLOW_WORK_DIR", str(tmp_path / "work"))
    with pytest.raises(ArchiveError) as refused:
        source_digests(NSHM, CRU)  # configured: an error, never a toshi key
    message = str(refused.value)
    assert f"leaf CRU-1, source {INVERSION}" in message
    assert str(tmp_path / "empty") in message and "the store" in message


def _inversion_with(ruptures_xml: str, sections: bool = True, companion: bool = True) -> dict[str, bytes]:
    files = {"r-ruptures.xml": ruptures_xml.encode()}
    if sections:
        files["r-ruptures_sections.xml"] = (
            NRML + '<geometryModel name="s"><section id="0" name="A, Subsection 0"/></geometryModel></nrml>'
        ).encode()
    if companion:
        files["r-ruptures.hdf5"] = b"\x89HDF"
    return files


MULTI_FAULT = (
    NRML
    + '<sourceModel><sourceGroup tectonicRegion="Active Shallow Crust"><multiFaultSource id="1" name="x"/></sourceGroup></sourceModel></nrml>'
)
POINTS = (
    NRML
    + '<sourceModel><sourceGroup tectonicRegion="Active Shallow Crust"><pointSource id="1" name="p"/></sourceGroup></sourceModel></nrml>'
)


def _zip_with_entry(name: str, data: bytes) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


BAD = {
    "not a zip": (b"PK\x03\x04 this is not a zip archive at all", "inversion", "not a readable zip"),
    "a member outside its folder": (
        _zip_with_entry("../../etc/evil.xml", MULTI_FAULT.encode()),
        "inversion",
        "escapes its folder",
    ),
    "an absolute member": (_zip_with_entry("/tmp/evil.xml", MULTI_FAULT.encode()), "inversion", "escapes its folder"),
    "a zip bomb": (zip_bytes({"bomb.xml": b"\0" * (8 << 20)}), "distributed", "times its packed size"),
    "NRML of the wrong typology": (
        zip_bytes(_inversion_with(POINTS)),
        "inversion",
        "holds pointSource, not of a inversion source",
    ),
    "an inversion without a geometry model": (
        zip_bytes(_inversion_with(MULTI_FAULT, sections=False)),
        "inversion",
        "geometryModel",
    ),
    "ruptures without their companion": (
        zip_bytes(_inversion_with(MULTI_FAULT, companion=False)),
        "inversion",
        "no inline ruptures",
    ),
    "multi-fault ruptures as background": (zip_bytes({"bg.xml": MULTI_FAULT.encode()}), "distributed", "holds multiFaultSource"),
    "XML that is not NRML": (zip_bytes({"x.xml": b"<html><body/></html>"}), "distributed", "not readable NRML"),
    "XML that does not parse": (zip_bytes({"x.xml": b"<nrml><unclosed>"}), "distributed", "not readable NRML"),
    "no NRML at all": (zip_bytes({"readme.txt": b"hello"}), "distributed", "no NRML"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_archive_is_refused_naming_it_and_nothing_is_left(case, tmp_path):
    data, kind, reason = BAD[case]
    root = tmp_path / "root"
    root.mkdir()
    (root / "RmlsZTox.zip").write_bytes(data)
    archives = resolver(tmp_path, root)
    with pytest.raises(ArchiveError, match=reason) as refused:
        archives.resolve("RmlsZTox", kind, "CRU-7")
    assert "leaf CRU-7, source RmlsZTox" in str(refused.value) and refused.value.field == "leaves"
    cache = tmp_path / "cache"
    assert not cache.exists() or [p.name for p in cache.iterdir() if p.name != ".downloads"] == []
    assert not (tmp_path / "store" / "artifacts").exists()


def test_a_truncated_zip_is_refused(nshm_sources, tmp_path):
    whole = (nshm_sources / f"{INVERSION}.zip").read_bytes()
    root = tmp_path / "root"
    root.mkdir()
    (root / f"{INVERSION}.zip").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ArchiveError, match="not a readable zip"):
        resolver(tmp_path, root).resolve(INVERSION, "inversion", "CRU-1")


def test_an_archive_larger_than_the_limit_is_refused(nshm_sources, tmp_path):
    archives = resolver(tmp_path, nshm_sources, limits=Limits(max_bytes=10_000))
    with pytest.raises(ArchiveError, match="at most 10,000"):
        archives.resolve(INVERSION, "inversion", "CRU-1")


def test_a_link_in_a_folder_is_refused(tmp_path):
    folder = tmp_path / "root" / "RmlsZTox"
    folder.mkdir(parents=True)
    (folder / "bg.xml").symlink_to("/etc/passwd")
    with pytest.raises(ArchiveError, match="is a link"):
        resolver(tmp_path, tmp_path / "root").resolve("RmlsZTox", "distributed", "CRU-7")


def test_the_toshi_api_serves_an_archive_with_the_key_and_it_is_kept(nshm_sources, tmp_path):
    with toshi_api() as api:
        api.files[BACKGROUND] = ("background.zip", (nshm_sources / f"{BACKGROUND}.zip").read_bytes())
        archives = resolver(tmp_path, None, toshi=ToshiApi(api.url, "k3y", timeout_s=5))
        found = archives.resolve(BACKGROUND, "distributed", "CRU-1")
        assert found.origin == f"the Toshi API {api.url}"
        assert api.requests == [f"POST {BACKGROUND} key=k3y", f"GET {BACKGROUND}"]
        again = resolver(tmp_path, None, toshi=ToshiApi(api.url, "k3y", timeout_s=5)).resolve(BACKGROUND, "distributed", "CRU-1")
        assert again.digest == found.digest and len(api.requests) == 2  # from the store, not asked again
        assert found.digest == content_digest(nshm_sources / f"{BACKGROUND}.zip")


@pytest.mark.parametrize(
    ("status", "delay_s", "error", "reason"),
    [
        (500, 0.0, TransientError, "HTTP 500"),
        (503, 0.0, TransientError, "HTTP 503"),
        (200, 2.0, TransientError, "no answer within 0.5 s"),
        (403, 0.0, ArchiveError, "HTTP 403"),
        (200, 0.0, ArchiveError, "no file"),
    ],
)
def test_a_failing_toshi_api_is_named_and_classed(status, delay_s, error, reason, tmp_path):
    with toshi_api() as api:
        api.status, api.delay_s = status, delay_s
        archives = resolver(tmp_path, None, toshi=ToshiApi(api.url, None, timeout_s=0.5))
        with pytest.raises(error, match=reason) as refused:
            archives.resolve("RmlsZTo5OTk=", "distributed", "SLAB-1")
    assert "leaf SLAB-1, source RmlsZTo5OTk=" in str(refused.value) and api.url in str(refused.value)


def test_the_toshi_api_settings_come_from_config(tmp_path):
    config = Config.from_env(
        {"HAZFLOW_TOSHI_API_URL": "http://127.0.0.1:9/graphql", "HAZFLOW_TOSHI_API_KEY": "x", "HAZFLOW_TOSHI_TIMEOUT": "2.5",
         "HAZFLOW_WORK_DIR": str(tmp_path), "HAZFLOW_STORE_ROOT": str(tmp_path / "store")}
    )  # fmt: skip
    archives = SourceArchives.from_config(config)
    assert archives.toshi == ToshiApi("http://127.0.0.1:9/graphql", "x", 2.5, config.archive_max_bytes)
    assert archives.cache == tmp_path / "nshm-sources"
    assert replace(config, toshi_timeout_s=1.0).toshi_timeout_s == 1.0


def test_an_s3_source_root_is_read_once_and_the_aws_store_keeps_the_copy(nshm_sources, tmp_path, moto_endpoint, fake_credentials):
    """The root as an `s3://` prefix, the store on S3 (moto over HTTP): what an ECS worker meets."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="ap-southeast-2")
    s3.create_bucket(Bucket="nshm-sources", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    s3.upload_file(str(nshm_sources / f"{BACKGROUND}.zip"), "nshm-sources", f"v1.0.4/{BACKGROUND}.zip")
    store = open_store("aws", "s3://hazflow-archives/store", "t", moto_endpoint, "ap-southeast-2", cache=tmp_path / "s3-cache")
    archives = SourceArchives("s3://nshm-sources/v1.0.4", tmp_path / "cache", store, aws_endpoint=moto_endpoint)
    found = archives.resolve(BACKGROUND, "distributed", "CRU-1")
    assert found.origin == "s3://nshm-sources/v1.0.4" and found.digest == content_digest(nshm_sources / f"{BACKGROUND}.zip")
    assert archives.resolve(BACKGROUND, "distributed", "CRU-1") is found  # read once a process
    worker = SourceArchives(None, tmp_path / "worker-cache", store, aws_endpoint=moto_endpoint)  # no root: the store's copy
    assert worker.resolve(BACKGROUND, "distributed", "CRU-1").digest == found.digest
    with pytest.raises(ArchiveError, match=r"looked in s3://nshm-sources/v1.0.4: .*not found; the store"):
        archives.resolve(INVERSION, "inversion", "CRU-1")
