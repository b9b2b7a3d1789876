"""NSHM source archives: a leaf's NRML, found by toshi id, checked, hashed by content and kept.

An nzshm-model version names each source of a leaf by the toshi id of an archive of NRML files (an
`InversionSource`: multi-fault ruptures over a fault-section geometry model; a `DistributedSource`:
gridded background seismicity). `SourceArchives.resolve` finds one, in this order:

1. the operator's source root (`HAZFLOW_NSHM_SOURCES`): a folder or an `s3://` prefix holding
   `<toshi id>.zip` or the unpacked folder `<toshi id>/`;
2. the store's own copy (every archive used is kept there, content-addressed: the ECS workers read
   it from there when they have no root);
3. the Toshi API (`HAZFLOW_TOSHI_API_URL`, with its key and time-out), when one is configured.

Every archive is checked before use (`check_members`): no member outside its folder, no link, at
most `max_bytes` unpacked and `max_ratio` times its packed size, NRML that parses, and the
typologies its source kind expects (`KIND_TYPOLOGIES`; an inversion also needs a geometry model,
and the `.hdf5` companion of a ruptures file whose ruptures are not inline). Its digest is the
sha256 of its sorted member names and bytes, so a zip and its unpacked folder agree; the digest
enters every job key of the leaf. Unpacked, it lives in `<cache>/<digest>/`, appearing by rename,
never half-written. Nothing here imports OpenQuake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from hazflow.exceptions import BadRequest, HazflowError, StorageError, TransientError
from hazflow.remote.documents import read_bytes
from hazflow.remote.uris import is_s3, join

if TYPE_CHECKING:
    from hazflow.config import Config
    from hazflow.model.toshi import ToshiApi
    from hazflow.store import Store

logger = logging.getLogger(__name__)

# Source typologies each kind of NSHM source may hold (elements of its NRML files).
KIND_TYPOLOGIES: dict[str, frozenset[str]] = {
    "inversion": frozenset({"multiFaultSource"}),
    "distributed": frozenset({"pointSource", "multiPointSource", "areaSource"}),
}
NRML_NAMESPACES = ("http://openquake.org/xmlns/nrml/0.4", "http://openquake.org/xmlns/nrml/0.5")
MAX_MEMBERS = 1000
STORE_PREFIX = "nshm-source-"  # store artifact keys: nshm-source-<digest>, nshm-source-id-<sha of toshi id>
CHUNK = 1 << 20


class ArchiveError(BadRequest):
    """An archive is missing, unreadable or not what its source kind needs (never retried); field
    `leaves`, the message naming the leaf and the toshi id (`refused`)."""


def refused(leaf: str, toshi_id: str, message: str) -> ArchiveError:
    return ArchiveError("leaves", f"leaf {leaf}, source {toshi_id}: {message}")


@dataclass(frozen=True)
class Limits:
    """What an archive may unpack to: bytes in all, and times its packed size (a zip bomb's ratio)."""

    max_bytes: int = 8 << 30
    max_ratio: float = 200.0


@dataclass(frozen=True)
class SourceArchive:
    """One checked, unpacked archive: its members (relative POSIX names) in `folder`."""

    toshi_id: str
    kind: str
    digest: str  # sha256 hex of the sorted member names and bytes
    folder: Path
    members: tuple[str, ...]
    origin: str  # where it was found
    # the members an OpenQuake branch lists (every `.xml`, as runzi and nzshm-model list them),
    # geometry models first, so the sections are read before the ruptures that name them
    nrml_files: tuple[str, ...] = ()


def branch_order(folder: Path, members: Sequence[str]) -> tuple[str, ...]:
    """The `.xml` members, geometry models first, then by name (read once, when an archive is adopted)."""
    xml = [m for m in members if m.lower().endswith(".xml")]
    return tuple(sorted(xml, key=lambda m: (not _is_geometry(folder / m), m)))


def _is_geometry(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(4096)
    return b"geometryModel" in head


@dataclass(frozen=True)
class _Member:
    name: str
    size: int  # unpacked bytes, as the archive declares them


def member_name(name: str, leaf: str, toshi_id: str) -> str:
    """The member's relative POSIX name; `ArchiveError` if it would land outside its folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]) or not path.parts:
        raise refused(leaf, toshi_id, f"member {name!r} escapes its folder")
    return path.as_posix()


def _zip_members(z: zipfile.ZipFile, leaf: str, toshi_id: str, limits: Limits, packed: int) -> list[_Member]:
    infos = [i for i in z.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise refused(leaf, toshi_id, f"{len(infos)} members; at most {MAX_MEMBERS}")
    members = []
    for info in infos:
        name = member_name(info.filename, leaf, toshi_id)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise refused(leaf, toshi_id, f"member {name!r} is a link")
        members.append(_Member(name, info.file_size))
    _check_size(sum(m.size for m in members), packed, leaf, toshi_id, limits)
    if len({m.name for m in members}) != len(members):
        raise refused(leaf, toshi_id, "two members of one name")
    return members


def _check_size(unpacked: int, packed: int, leaf: str, toshi_id: str, limits: Limits) -> None:
    if unpacked > limits.max_bytes:
        raise refused(leaf, toshi_id, f"unpacks to {unpacked:,} bytes; at most {limits.max_bytes:,} (HAZFLOW_ARCHIVE_MAX_BYTES)")
    if packed > 0 and unpacked > limits.max_ratio * packed:
        raise refused(
            leaf, toshi_id, f"unpacks to {unpacked:,} bytes from {packed:,}: more than {limits.max_ratio:g} times its packed size"
        )


def _copy(src: IO[bytes], dst: Path, budget: int, digest: hashlib._Hash, name: str, leaf: str, toshi_id: str) -> int:
    """Copy `src` to `dst`, feeding `digest`; stops at `budget` bytes (a header may understate a size)."""
    written = 0
    with dst.open("wb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise refused(leaf, toshi_id, f"member {name!r} unpacks past the archive's size limit")
            digest.update(chunk)
            out.write(chunk)
    return written


def unpack(source: Path, staging: Path, leaf: str, toshi_id: str, limits: Limits) -> tuple[str, tuple[str, ...]]:
    """Unpack a zip, or copy a folder, into `staging` (which must not exist); (digest, members).

    The digest hashes, for each member in name order, its name, a NUL, its size (8 bytes) and its
    bytes. Raises `ArchiveError` naming the member for anything `check_members` would refuse."""
    staging.mkdir(parents=True)
    digest = hashlib.sha256()
    if source.is_dir():
        members = _folder_members(source, leaf, toshi_id, limits)
        for m in sorted(members, key=lambda m: m.name):
            target = staging / m.name
            target.parent.mkdir(parents=True, exist_ok=True)
            _feed_name(digest, m.name, m.size)
            with (source / m.name).open("rb") as f:
                _copy(f, target, m.size, digest, m.name, leaf, toshi_id)
        return digest.hexdigest(), tuple(sorted(m.name for m in members))
    try:
        with zipfile.ZipFile(source) as z:
            members = _zip_members(z, leaf, toshi_id, limits, source.stat().st_size)
            by_name = {member_name(i.filename, leaf, toshi_id): i for i in z.infolist() if not i.is_dir()}
            budget = limits.max_bytes
            for m in sorted(members, key=lambda m: m.name):
                target = staging / m.name
                target.parent.mkdir(parents=True, exist_ok=True)
                _feed_name(digest, m.name, m.size)
                with z.open(by_name[m.name]) as f:
                    budget -= _copy(f, target, min(budget, m.size), digest, m.name, leaf, toshi_id)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        raise refused(leaf, toshi_id, f"{source.name} is not a readable zip ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise StorageError(f"leaf {leaf}, source {toshi_id}: cannot unpack {source}: {e}") from e
    return digest.hexdigest(), tuple(sorted(m.name for m in members))


def _feed_name(digest: hashlib._Hash, name: str, size: int) -> None:
    digest.update(name.encode() + b"\0" + size.to_bytes(8, "little"))


def _folder_members(folder: Path, leaf: str, toshi_id: str, limits: Limits) -> list[_Member]:
    members = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise refused(leaf, toshi_id, f"member {path.relative_to(folder).as_posix()!r} is a link")
        if path.is_file():
            members.append(_Member(path.relative_to(folder).as_posix(), path.stat().st_size))
    if len(members) > MAX_MEMBERS:
        raise refused(leaf, toshi_id, f"{len(members)} members; at most {MAX_MEMBERS}")
    _check_size(sum(m.size for m in members), 0, leaf, toshi_id, limits)
    return members


def nrml_typologies(path: Path) -> tuple[set[str], bool, list[str]]:
    """(source typologies, whether it holds a geometry model, ids of multi-fault sources whose
    ruptures are not inline) of one NRML file; `ValueError` if it is not NRML."""
    typologies: set[str] = set()
    geometry = False
    external: list[str] = []
    depth = 0
    pending: dict[int, tuple[str, bool]] = {}
    for event, element in ET.iterparse(path, events=("start", "end")):
        ns, _, tag = element.tag.rpartition("}")
        if event == "start":
            depth += 1
            if depth == 1 and (tag != "nrml" or ns.lstrip("{") not in NRML_NAMESPACES):
                raise ValueError(f"the root element is {element.tag!r}, not NRML's <nrml>")
            if tag.endswith("Source") and tag != "multiFaultSource":
                typologies.add(tag)
            elif tag == "multiFaultSource":
                typologies.add(tag)
                pending[depth] = (element.get("id", ""), False)
            elif tag == "geometryModel":
                geometry = True
            elif depth - 1 in pending and tag.endswith("Rupture"):
                sid, _ = pending[depth - 1]
                pending[depth - 1] = (sid, True)
        else:
            if depth in pending:
                sid, inline = pending.pop(depth)
                if not inline:
                    external.append(sid)
            depth -= 1
            element.clear()
    return typologies, geometry, external


def check_members(folder: Path, members: Sequence[str], kind: str, leaf: str, toshi_id: str) -> None:
    """The archive's NRML parses and holds what its source kind needs; `ArchiveError` otherwise."""
    if kind not in KIND_TYPOLOGIES:
        raise refused(leaf, toshi_id, f"unknown source kind {kind!r}; known: {', '.join(KIND_TYPOLOGIES)}")
    xml = [m for m in members if m.lower().endswith(".xml")]
    if not xml:
        raise refused(leaf, toshi_id, f"no NRML (.xml) member among {list(members)[:5]}")
    found: set[str] = set()
    geometry = False
    missing: list[str] = []
    for name in xml:
        try:
            typologies, has_geometry, external = nrml_typologies(folder / name)
        except (ET.ParseError, ValueError) as e:
            raise refused(leaf, toshi_id, f"member {name!r} is not readable NRML: {e}") from None
        found |= typologies
        geometry |= has_geometry
        companion = str(PurePosixPath(name).with_suffix(".hdf5"))
        if external and companion not in members:
            missing.append(f"member {name!r}: multi-fault source(s) {external} have no inline ruptures and no {companion!r}")
    allowed = KIND_TYPOLOGIES[kind]
    if not found:
        raise refused(leaf, toshi_id, f"no seismic source in its NRML; a {kind} source holds {', '.join(sorted(allowed))}")
    if wrong := found - allowed:
        raise refused(
            leaf, toshi_id, f"holds {', '.join(sorted(wrong))}, not of a {kind} source (which holds {', '.join(sorted(allowed))})"
        )
    if kind == "inversion" and not geometry:
        raise refused(leaf, toshi_id, "an inversion source needs a fault-section geometryModel; none among its members")
    if missing:
        raise refused(leaf, toshi_id, "; ".join(missing))


@dataclass
class SourceArchives:
    """Finds, checks, unpacks and keeps the archives of NSHM leaves (see the module docstring)."""

    root: str | None  # HAZFLOW_NSHM_SOURCES: a folder or s3:// prefix
    cache: Path  # unpacked archives, <cache>/<digest>/
    store: Store | None = None
    toshi: ToshiApi | None = None
    limits: Limits = field(default_factory=Limits)
    aws_endpoint: str | None = None
    aws_region: str = "ap-southeast-2"
    _memo: dict[tuple[str, str, object], SourceArchive] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, config: Config) -> SourceArchives:
        """Where the deployment `config` finds, checks and keeps archives."""
        from hazflow.model.toshi import ToshiApi

        toshi = None
        if config.toshi_api_url:
            toshi = ToshiApi(config.toshi_api_url, config.toshi_api_key, config.toshi_timeout_s, config.archive_max_bytes)
        return cls(
            root=config.nshm_sources,
            cache=config.work_dir / "nshm-sources",
            store=config.open_store(),
            toshi=toshi,
            limits=Limits(max_bytes=config.archive_max_bytes),
            aws_endpoint=config.aws_endpoint,
            aws_region=config.aws_region,
        )

    def resolve(self, toshi_id: str, kind: str, leaf: str) -> SourceArchive:
        """The checked, unpacked archive of `toshi_id`; `ArchiveError` (or `TransientError`, when the
        only trouble was the Toshi API failing for now) naming the leaf, the id and every place looked."""
        looked: list[str] = []
        transient = False
        for place, fetch in self._places(toshi_id):
            try:
                found = fetch()
            except _NotThere as e:
                looked.append(f"{place}: {e}")
                continue
            except TransientError as e:
                looked.append(f"{place}: {e}")
                transient = True
                continue
            return self._adopt(found, toshi_id, kind, leaf, place)
        message = "archive not found; looked in " + "; ".join(looked) if looked else "archive not found"
        if self.root is None and self.toshi is None:
            message += " (no source root or Toshi API: set HAZFLOW_NSHM_SOURCES or HAZFLOW_TOSHI_API_URL)"
        if transient:
            raise TransientError(f"leaf {leaf}, source {toshi_id}: {message}")
        raise refused(leaf, toshi_id, message)

    def _places(self, toshi_id: str) -> Iterator[tuple[str, _Fetch]]:
        if self.root:
            yield self.root, lambda: self._from_root(toshi_id)
        if self.store is not None:
            yield f"the store ({self.store})", lambda: self._from_store(toshi_id)
        if self.toshi is not None:
            yield f"the Toshi API {self.toshi.url}", lambda: self._from_toshi(toshi_id)

    def _from_root(self, toshi_id: str) -> _Found:
        assert self.root is not None
        if is_s3(self.root):
            uri = join(self.root, f"{toshi_id}.zip")
            seen = self._memo.get((toshi_id, uri, ("s3",)))
            if seen is not None:  # an S3 object is read once a process
                return _Found(seen.folder, uri, ("unpacked", seen.digest))
            try:
                data = read_bytes(uri, self.aws_endpoint, self.aws_region)
            except StorageError as e:
                raise _NotThere(str(e)) from None
            return _Found(self._spool(data, toshi_id), uri, None, ("s3",))
        base = Path(self.root)
        for candidate in (base / f"{toshi_id}.zip", base / toshi_id):
            if candidate.is_file():
                st = candidate.stat()
                return _Found(candidate, str(candidate), (st.st_mtime_ns, st.st_size))
            if candidate.is_dir():
                files = sorted(p for p in candidate.rglob("*") if p.is_file() or p.is_symlink())
                signature = tuple((p.as_posix(), p.lstat().st_mtime_ns, p.lstat().st_size) for p in files)
                return _Found(candidate, str(candidate), ("folder", *signature))
        raise _NotThere(f"no {toshi_id}.zip or {toshi_id}/")

    def _from_store(self, toshi_id: str) -> _Found:
        assert self.store is not None
        try:
            index = json.loads(self.store.artifact(_id_key(toshi_id), "archive.json").read_text())
            digest = index["digest"]
            if (self.cache / digest).is_dir():
                return _Found(self.cache / digest, f"{self.cache / digest}", ("unpacked", digest))
            path = self.store.artifact(f"{STORE_PREFIX}{digest}", "archive.zip")
        except StorageError as e:
            raise _NotThere(f"no copy ({e})") from None
        return _Found(path, str(path), None)

    def _from_toshi(self, toshi_id: str) -> _Found:
        assert self.toshi is not None
        from hazflow.model.toshi import ToshiNotFound

        try:
            data = self.toshi.download(toshi_id)
        except ToshiNotFound as e:
            raise _NotThere(str(e)) from None
        return _Found(self._spool(data, toshi_id), f"{self.toshi.url} {toshi_id}", None)

    def _spool(self, data: bytes, toshi_id: str) -> Path:
        downloads = self.cache / ".downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        path = downloads / f"{hashlib.sha256(toshi_id.encode()).hexdigest()[:16]}.{uuid.uuid4().hex}.zip"
        path.write_bytes(data)
        return path

    def _adopt(self, found: _Found, toshi_id: str, kind: str, leaf: str, place: str) -> SourceArchive:
        memo_key = (toshi_id, found.path.as_posix(), found.signature)
        if found.signature is not None and memo_key in self._memo:
            return self._memo[memo_key]
        if found.signature is not None and found.signature[0] == "unpacked":
            digest = str(found.signature[1])
            members = _unpacked_members(self.cache / digest)
        else:
            digest, members = self._unpack(found.path, toshi_id, leaf)
        folder = self.cache / digest
        try:
            check_members(folder, members, kind, leaf, toshi_id)
        except ArchiveError:
            shutil.rmtree(folder, ignore_errors=True)  # never leave a refused archive where the next run finds it
            raise
        archive = SourceArchive(toshi_id, kind, digest, folder, members, place, branch_order(folder, members))
        self._keep(archive, found.path)
        if found.path.parent == self.cache / ".downloads":
            found.path.unlink(missing_ok=True)
        if found.memo_as is not None:  # an S3 object: known by its URI, and as the folder it unpacked to
            self._memo[(toshi_id, found.where, found.memo_as)] = archive
            self._memo[(toshi_id, archive.folder.as_posix(), ("unpacked", archive.digest))] = archive
        self._memo[memo_key] = archive
        logger.info("leaf %s source %s: %d members, digest %s, from %s", leaf, toshi_id, len(members), digest[:16], place)
        return archive

    def _unpack(self, source: Path, toshi_id: str, leaf: str) -> tuple[str, tuple[str, ...]]:
        self.cache.mkdir(parents=True, exist_ok=True)
        staging = self.cache / f".unpack-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            digest, members = unpack(source, staging, leaf, toshi_id, self.limits)
            final = self.cache / digest
            if final.is_dir():  # unpacked before (same content): keep that copy
                shutil.rmtree(staging)
            else:
                try:
                    os.rename(staging, final)
                except OSError:  # another process renamed the same content first
                    shutil.rmtree(staging, ignore_errors=True)
            return digest, members
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _keep(self, archive: SourceArchive, source: Path) -> None:
        """A content-addressed copy in the store (once) and the toshi id's index entry."""
        if self.store is None:
            return
        key = f"{STORE_PREFIX}{archive.digest}"
        try:
            self.store.artifact(key, "archive.zip")
        except StorageError:
            staging = self.cache / f".zip-{uuid.uuid4().hex}.zip"
            try:
                canonical_zip(archive.folder, archive.members, staging)
                self.store.put_artifacts(key, {"archive.zip": staging})
            finally:
                staging.unlink(missing_ok=True)
        index = {"toshi_id": archive.toshi_id, "digest": archive.digest, "kind": archive.kind, "members": list(archive.members)}
        staging = self.cache / f".index-{uuid.uuid4().hex}.json"
        try:
            staging.write_text(json.dumps(index, indent=1))
            self.store.put_artifacts(_id_key(archive.toshi_id), {"archive.json": staging})
        finally:
            staging.unlink(missing_ok=True)


class _NotThere(HazflowError):
    """The archive is not at this place (the next one is tried)."""


@dataclass(frozen=True)
class _Found:
    path: Path
    where: str
    signature: tuple[object, ...] | None  # what lets a second look skip the hashing (file time and size)
    memo_as: tuple[object, ...] | None = None  # remembered under this signature instead (an S3 object)


if TYPE_CHECKING:
    from collections.abc import Callable

    _Fetch = Callable[[], _Found]


def _id_key(toshi_id: str) -> str:
    return f"{STORE_PREFIX}id-{hashlib.sha256(toshi_id.encode()).hexdigest()[:32]}"


def _unpacked_members(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()))


def canonical_zip(folder: Path, members: Sequence[str], target: Path) -> None:
    """A zip of the members in name order with fixed time stamps: one content, one set of bytes."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with (folder / name).open("rb") as src, z.open(info, "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def content_digest(source: Path, limits: Limits | None = None) -> str:
    """The digest of a zip or folder as `unpack` computes it (unpacked to a temporary folder)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        digest, _ = unpack(source, Path(tmp) / "x", "?", source.name, limits or Limits())
    return digest


_resolvers: dict[Config, SourceArchives] = {}


def resolver(config: Config | None = None) -> SourceArchives:
    """The process's archive resolver for `config` (by default the environment's), remembered so that
    an archive is hashed once a process while its file stays as it was."""
    from hazflow.config import Config

    config = config or Config.from_env()
    if config not in _resolvers:
        _resolvers[config] = SourceArchives.from_config(config)
    return _resolvers[config]


def archives_configured(config: Config | None = None) -> bool:
    """Whether the deployment names a place for archives (a source root or the Toshi API)."""
    from hazflow.config import Config

    config = config or Config.from_env()
    return bool(config.nshm_sources or config.toshi_api_url)
