"""One batch of real DEMO disaggregations: parallel runs, a failure that spares the others, reuse."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hazflow.exceptions import BadRequest, OpenQuakeError
from hazflow.ingest.realizations import ingest_batch
from hazflow.model.sites import resolve_sites
from hazflow.openquake.spec import DisaggPass
from hazflow.plan.jobs import disagg_job, respec
from hazflow.run.batch import run_batch

pytestmark = pytest.mark.openquake


@pytest.mark.parametrize("engine", ["oq", "hazardlib"])
def test_a_failed_run_spares_the_batch_and_a_rerun_repeats_only_it(config, demo, oq_version, engine):
    site = resolve_sites(["WLG"])[0]
    good = disagg_job(demo, demo.leaf("SLAB-1"), 400, site, 0.1, {"PGA": 0.3}, oq_version, engine)
    bad = disagg_job(demo, demo.leaf("HIK-1"), 400, site, 0.1, {"PGA": 0.3}, oq_version, engine)
    bad = respec(bad, demo, settings=bad.settings.with_overrides(rupture_mesh_spacing=0.0))  # OpenQuake refuses it
    store, parallel = config.open_store(), replace(config, oq_parallel=2)
    with pytest.raises(
        OpenQuakeError, match=r"1 of 2 OpenQuake runs failed \(WLG vs30=400 PGA 10%/50yr HIK-1 \[OpenQuakeError\]\)"
    ) as info:
        run_batch([DisaggPass((good,)), DisaggPass((bad,))], store, parallel)
    assert info.value.log_tail  # the failing job's own log
    assert store.ledger_get(good.key).state == "ran" and store.ledger_get(bad.key).state == "failed"
    assert store.ledger_get(bad.key).error.count("OpenQuake") >= 1 and store.ledger_get(good.key).engine == engine
    assert store.ledger_get(bad.key).error_class == "OpenQuakeError" and store.ledger_get(bad.key).log_tail
    assert (store.ledger_get(good.key).error_class, store.ledger_get(good.key).log_tail) == ("", "")

    again = run_batch([DisaggPass((good,))], store, parallel)  # the retry: what ran is reused, not run again
    assert again[0].skipped and again[0].oq_seconds == store.ledger_get(good.key).oq_seconds
    done = ingest_batch([good], store)
    assert done[0].state in {"done", "no_ruptures"} and done[0].rows == len(demo.gmms_for("Subduction Intraslab"))
    assert ingest_batch([good], store)[0].skipped


def test_the_deployment_chooses_the_disaggregation_engine():
    from hazflow.config import Config

    assert Config.from_env({}).disagg_engine == "hazardlib"
    assert Config.from_env({"HAZFLOW_DISAGG_ENGINE": "oq"}).disagg_engine == "oq"
    with pytest.raises(BadRequest, match="HAZFLOW_DISAGG_ENGINE: expected one of hazardlib, oq, got 'fast'"):
        Config.from_env({"HAZFLOW_DISAGG_ENGINE": "fast"})


@pytest.mark.parametrize("value, ok", [("3", 3), ("0", None), ("two", None)])
def test_parallel_jobs_setting(value, ok):
    from hazflow.config import Config

    if ok is None:
        with pytest.raises(BadRequest, match="HAZFLOW_OQ_PARALLEL"):
            Config.from_env({"HAZFLOW_OQ_PARALLEL": value})
    else:
        assert Config.from_env({"HAZFLOW_OQ_PARALLEL": value}).oq_parallel == ok


@pytest.mark.parametrize("value, warm", [(None, True), ("1", True), ("0", False), ("yes", None), ("", None)])
def test_warm_openquake_setting(value, warm):
    """HAZFLOW_OQ_WARM: runs fork a warm OpenQuake process (1, the default) or start cold (0)."""
    from hazflow.config import Config

    env = {} if value is None else {"HAZFLOW_OQ_WARM": value}
    if warm is None:
        with pytest.raises(BadRequest, match="HAZFLOW_OQ_WARM: expected 0 or 1"):
            Config.from_env(env)
    else:
        assert Config.from_env(env).oq_warm is warm and Config.from_env(env).openquake().warm is warm


@pytest.mark.parametrize("value, socket", [(None, None), ("", None), ("/run/hazflow/oq.sock", Path("/run/hazflow/oq.sock"))])
def test_shared_warm_openquake_socket_setting(value, socket):
    """HAZFLOW_OQ_WARM_SOCKET: the socket of a warm OpenQuake process the host shares, or none."""
    from hazflow.config import Config

    env = {} if value is None else {"HAZFLOW_OQ_WARM_SOCKET": value}
    assert Config.from_env(env).oq_warm_socket == socket and Config.from_env(env).openquake().warm_socket == socket


def test_passes_share_processes_by_sites_and_keep_their_order(demo, oq_version):
    from hazflow.run.batch import lanes

    def pass_of(leaf: str, sites: list[str], engine: str = "hazardlib") -> DisaggPass:
        return DisaggPass(tuple(
            disagg_job(demo, demo.leaf(leaf), 400, site, 0.1, {"PGA": 0.3}, oq_version, engine) for site in resolve_sites(sites)
        ))  # fmt: skip

    passes = [
        pass_of("CRU-1", ["WLG", "CHC", "AKL"]),
        pass_of("CRU-2", ["WLG"]),
        pass_of("CRU-3", ["CHC"]),
        pass_of("HIK-1", ["WLG", "AKL"]),
    ]
    assert lanes(passes, 2) == [[0, 2], [1, 3]]  # largest first, each to the lighter lane: 3 + 1 sites, 2 + 1
    assert lanes(passes, 8) == [[0], [1], [2], [3]] and lanes([], 2) == []
    assert lanes([pass_of("CRU-1", ["WLG"], "oq"), pass_of("CRU-2", ["WLG"], "oq")], 1) == [[0], [1]]  # oq: one job each
