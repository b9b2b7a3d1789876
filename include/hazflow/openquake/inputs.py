"""What OpenQuake reads for a leaf's jobs, as one digest that every job key of the leaf includes.

A key must change when anything OpenQuake reads changes, not only when the spec's fields do: a
source file edited in place keeps its name, and a change to how hazflow renders its inputs keeps
every spec field. The digest therefore hashes

- the bytes of every source file of the leaf, or the content digest of every archive of an NSHM
  leaf (`hazflow.model.archives`; planned without archives, the toshi id stands for it);
- the source and GMM logic trees, rendered as `render` writes them;
- the job.ini and site model rendered for a probe target of the leaf (a fixed site, VS30, IMT, PoE
  and level), its `description` line left out (it names the key);
- for the one-pass engine, whether the leaf's sites share a calculation (`render.site_calculations`:
  a shared calculation agrees with the single-site ones to about 1e-8, not to the last bit).

A job's own targets (site, VS30, IMTs, PoE, levels) are in its key already. File digests are
remembered per (path, modification time, size), so planning 216,090 runs hashes each file once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

from hazflow.exceptions import DataIntegrityError
from hazflow.model.logic_tree import HazardModel, Leaf
from hazflow.model.sites import Site
from hazflow.openquake import render
from hazflow.openquake.spec import JobSpec

logger = logging.getLogger(__name__)

PROBE_SITE = Site(id="probe", lat=-41.3, lon=174.78, name="probe", backarc=False)
_file_digests: dict[tuple[str, int, int], str] = {}
_leaf_digests: dict[tuple[object, ...], str] = {}


def file_digest(path: Path) -> str:
    """sha256 (hex) of a file's bytes, remembered while its path, modification time and size stay."""
    stat = path.stat()
    signature = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if signature not in _file_digests:
        _file_digests[signature] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _file_digests[signature]


def source_digests(model: HazardModel, leaf: Leaf) -> tuple[str, ...]:
    """One digest per source of the leaf: `sha256:<hex>` of a local file or of an archive's content
    (`hazflow.model.archives`); `toshi:<id>` of an archive that no configured place holds (planning
    without archives: the NSHM cost benches, `plan --without-levels`). Where a source root or the
    Toshi API is configured, an archive that cannot be had is an error, never a `toshi:` key."""
    if model.archived:
        from hazflow.model.archives import ArchiveError, archives_configured

        try:
            return tuple(f"sha256:{archive.digest}" for archive in model.source_archives(leaf))
        except ArchiveError:
            if archives_configured():
                raise
            return tuple(f"toshi:{source}" for source in leaf.sources)
    return tuple(f"sha256:{file_digest(path)}" for path in model.source_paths(leaf))


def inputs_digest(spec: JobSpec, model: HazardModel) -> str:
    """The digest (16 hex characters) of what OpenQuake reads for `spec`'s leaf beyond the spec's
    targets; the same for every job of one leaf, kind and engine. Raises `BadRequest` (field
    `model`) when a local source file is missing."""
    leaf = model.leaf(spec.leaf)
    sources = source_digests(model, leaf)
    memo = (
        model.name,
        model.source_dir,
        model.archived,
        spec.leaf,
        spec.trt,
        spec.kind,
        spec.engine,
        spec.settings.digest(),
        spec.gmms,
        spec.oq_version,
        sources,
        render.share_sites_allowed(),
    )
    if memo in _leaf_digests:
        return _leaf_digests[memo]
    probe = replace(
        spec,
        sites=(PROBE_SITE,),
        vs30=400.0,
        imts=("PGA",),
        poe=None if spec.kind == "hazard" else 0.1,
        imls=() if spec.kind == "hazard" else (0.1,),
        inputs="",
    )
    job_ini = "\n".join(line for line in render.job_ini(probe).splitlines() if not line.startswith("description ="))
    runnable = not any(d.startswith("toshi:") for d in sources)
    local_names = render.branch_files(model, leaf) if runnable else [f"src{i}/{s}" for i, s in enumerate(leaf.sources)]
    h = hashlib.sha256()
    shared = spec.kind == "disagg" and spec.engine == "hazardlib" and runnable
    shared = shared and render.sites_share_calculation(model.source_paths(leaf))
    for part in (
        *sources,
        *(["one-pass: the sites of a pass share a calculation"] if shared else []),
        render.source_logic_tree(local_names),
        render.gsim_logic_tree(probe),
        render.site_model(probe.vs30, probe.sites),
        job_ini,
    ):
        h.update(part.encode())
        h.update(b"\0")
    digest = h.hexdigest()[:16]
    _leaf_digests[memo] = digest
    logger.debug("inputs of %s %s (%s): %s", spec.model, spec.leaf, spec.kind, digest)
    return digest


def check_inputs(spec: JobSpec, model: HazardModel) -> None:
    """Refuse to render a job whose inputs changed after it was planned (a source file edited, hazflow
    upgraded between plan and run): its key would name results of other inputs. Specs planned before
    keys had an inputs digest (`inputs` empty) are not checked."""
    if spec.inputs and (now := inputs_digest(spec, model)) != spec.inputs:
        raise DataIntegrityError(
            f"{spec.model} {spec.leaf}: what OpenQuake would read changed since the job was planned "
            f"(inputs digest {spec.inputs} then, {now} now: a source file or hazflow's rendering); plan again"
        )
