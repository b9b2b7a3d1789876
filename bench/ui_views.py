"""Benchmark: the UI views' response times over HTTP against a running api-server (local store).
Target: one target's summary plus its mean matrix, and one site's curves (mean plus quantiles, one
IMT), each served in <= 200 ms at the 95th percentile of 200 warm requests.

    .venv/bin/python bench/ui_views.py                      # starts its own stack on a generated NSHM-volume store
    .venv/bin/python bench/ui_views.py --store var/store    # ... on the demo's store (after `make demo`)
    .venv/bin/python bench/ui_views.py --url http://127.0.0.1:8080 --password P --store DIR   # a running stack

The generated store holds one VS30 of NSHM_v1.0.4's production volume: its 35 disaggregation sites
x 5 IMTs x 7 PoEs (1,225 targets), each with six aggregated disaggregations (mean, std, cov and three
quantiles) over 3 regions x 25 magnitudes x 17 distances x 16 epsilons (20,400 bins per region, about
5 % non-zero, as NSHM's are) and its kept summary; and each site's curves (mean, std, cov and nine
quantiles over NSHM's 44 levels) at each IMT. It is written once to var/bench/ui-nshm-store.

The api-server has one worker and also serves the Execution API that tasks call, so the bench also
times /api/v2/monitor/health, idle and while four clients keep loading the disaggregation view.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from hazflow_tools.rest import AirflowApi  # noqa: E402

from hazflow.aggregate.contributions import Contributions, FaultSystemShare  # noqa: E402
from hazflow.model.logic_tree import load_model  # noqa: E402
from hazflow.model.nshm import NSHM_IMTS, NSHM_POES  # noqa: E402
from hazflow.model.settings import NSHM_LEVELS  # noqa: E402
from hazflow.model.sites import Site, resolve_sites  # noqa: E402
from hazflow.report.mre import summarise_mre  # noqa: E402
from hazflow.report.target_summary import DisaggSummary, put_summary  # noqa: E402
from hazflow.store import DisaggAggregate, HazardAggregate  # noqa: E402
from hazflow.store.local import LocalStore  # noqa: E402

logger = logging.getLogger("bench.ui_views")
MODEL = "NSHM_v1.0.4"
VS30 = 400.0
TARGET_MS = 200.0
EDGES = {"Mag": np.round(np.arange(5.0, 10.01, 0.2), 3), "Dist": np.array([0, 5, 10, 15, 20, 30, 40, 50, 60, 80, 100, 140, 200, 300, 400, 500, 600, 800.0]),
         "Eps": np.arange(-4.0, 4.01, 0.5)}  # fmt: skip
HAZARD_AGGS = ("mean", "std", "cov", "0.01", "0.05", "0.1", "0.2", "0.5", "0.8", "0.9", "0.95", "0.99")
DISAGG_AGGS = ("mean", "std", "cov", "0.1", "0.5", "0.9")


def generate(root: Path, sites: list[Site]) -> int:
    """Write the NSHM-volume store under `root` (one VS30); the number of targets."""
    nshm = load_model(MODEL)
    store = LocalStore(root)
    rng = np.random.default_rng(0)
    levels = np.asarray(NSHM_LEVELS)
    curves = []
    for s, site in enumerate(sites):
        for i, imt in enumerate(NSHM_IMTS):
            base = 0.05 * np.exp(-(4.0 + i + 0.1 * s) * levels)
            curves += [HazardAggregate(MODEL, site.code, VS30, imt, agg, levels, base * (0.5 + k / len(HAZARD_AGGS)), "{}")
                       for k, agg in enumerate(HAZARD_AGGS)]  # fmt: skip
    store.put_hazard_aggregates(curves)
    mag, dist, eps = np.meshgrid(np.arange(25), np.arange(17), np.arange(16), indexing="ij")
    systems = sorted({leaf.fault_system for leaf in nshm.leaves})
    shares = {
        f: FaultSystemShare(1e-4, 100 / len(systems), 100 / len(systems), {"0.1": 5.0, "0.5": 25.0, "0.9": 60.0}) for f in systems
    }
    contributions = Contributions(4e-4, {leaf.id: 100 / len(nshm.leaves) for leaf in nshm.leaves}, shares, "sampling", 100_000, 0.0,
                                  {leaf.id: leaf.fault_system for leaf in nshm.leaves})  # fmt: skip
    targets = 0
    with tempfile.TemporaryDirectory() as tmp:
        for site in sites:
            rows = []
            for imt in NSHM_IMTS:
                for poe in NSHM_POES:
                    values = np.zeros((len(nshm.trts), 25, 17, 16))
                    for t in range(len(nshm.trts)):
                        centre = rng.normal([12.0, 5.0, 9.0], [2.0, 1.5, 1.0])
                        bump = np.exp(
                            -(((mag - centre[0]) / 2.5) ** 2 + ((dist - centre[1]) / 1.5) ** 2 + ((eps - centre[2]) / 2.0) ** 2)
                        )
                        values[t] = 10 ** rng.normal(-5, 0.5) * bump * (bump > 0.25)
                    aggs = [DisaggAggregate(MODEL, site.code, VS30, imt, poe, agg, 0.3, ("TRT", "Mag", "Dist", "Eps"), nshm.trts,
                                            EDGES, values * (0.5 + k / len(DISAGG_AGGS)), 1.0) for k, agg in enumerate(DISAGG_AGGS)]  # fmt: skip
                    rows += aggs
                    summary = DisaggSummary(
                        MODEL, site, VS30, imt, poe, 0.3, "mean", "sampling", False, summarise_mre(aggs[0]), contributions
                    )
                    put_summary(store, summary, Path(tmp))
                    targets += 1
            store.put_disagg_aggregates(rows)
    return targets


def _get(url: str, token: str) -> tuple[int, float, int]:
    """(status, seconds, bytes) of one GET with a Bearer token."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            body = r.read()
            return r.status, time.perf_counter() - start, len(body)
    except urllib.error.HTTPError as e:
        return e.code, time.perf_counter() - start, 0


def _percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):.0f} ms, p95 {np.percentile(ms, 95):.0f} ms, max {ms.max():.0f} ms"


def measure(url: str, token: str, model: str, sites: list[Site], targets: list[tuple[str, float]], vs30: float,
            requests: int) -> dict[str, list[float]]:  # fmt: skip
    """Seconds of `requests` warm GETs of each view's data route, rotating over sites, IMTs and PoEs."""
    rnd = random.Random(1)
    routes = {
        "disaggregation: a target's summary + mean matrix": lambda: f"{url}/hazflow/api/disagg/target?" + urllib.parse.urlencode(
            {"model": model, "site": rnd.choice(sites).id, "vs30": vs30, "imt": (t := rnd.choice(targets))[0], "poe": t[1]}),
        "hazard: a site's curves, mean + quantiles, one IMT": lambda: f"{url}/hazflow/api/hazard/curves?" + urllib.parse.urlencode(
            {"model": model, "site": rnd.choice(sites).id, "vs30": vs30, "imt": rnd.choice(targets)[0]}),
    }  # fmt: skip
    out: dict[str, list[float]] = {}
    for name, make in routes.items():
        for _ in range(10):  # warm: the thread's store, numpy, the first page of SQLite
            status, _, _ = _get(make(), token)
            assert status == 200, (name, status)
        times, sizes = [], []
        for _ in range(requests):
            status, seconds, size = _get(make(), token)
            assert status == 200, (name, status)
            times.append(seconds)
            sizes.append(size)
        out[name] = times
        print(f"{name}: {requests} warm requests, {_percentiles(times)} ({np.mean(sizes) / 1024:.0f} KiB each)", flush=True)
    return out


def health_under_load(url: str, token: str, load: Any, clients: int = 4, probes: int = 50) -> tuple[list[float], list[float]]:
    """(/api/v2/monitor/health seconds idle, the same while `clients` threads keep calling `load`)."""
    idle = [_get(f"{url}/api/v2/monitor/health", token)[1] for _ in range(probes)]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            load()

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    loaded = [_get(f"{url}/api/v2/monitor/health", token)[1] for _ in range(probes)]
    stop.set()
    for t in threads:
        t.join(60)
    return idle, loaded


@contextmanager
def own_stack(store: Path) -> Iterator[tuple[str, str]]:
    """`make airflow`'s stack in a throw-away folder under var/, its store `store`: (url, admin password)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-stack-", dir=ROOT / "var"))
    folder.chmod(0o755)

    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    env = {**os.environ, "HAZFLOW_VAR": str(folder / "var"), "HAZFLOW_PG_PORT": str(free()), "HAZFLOW_AIRFLOW_PORT": str(free()),
           "HAZFLOW_STORE_ROOT": str(store), "HAZFLOW_WORK_DIR": str(folder / "work")}  # fmt: skip
    script = [sys.executable, str(ROOT / "scripts" / "airflow_stack.py")]
    try:
        started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, timeout=600)
        if started.returncode != 0:
            raise SystemExit(f"the stack did not start: {started.stdout[-2000:]}{started.stderr[-2000:]}")
        passwords = json.loads((folder / "var" / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
        yield f"http://127.0.0.1:{env['HAZFLOW_AIRFLOW_PORT']}", passwords["admin"]
    finally:
        subprocess.run([*script, "stop"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="an existing local store to read (default: the generated NSHM-volume one)")
    parser.add_argument("--model", default=MODEL, help="the model of --store's results (DEMO for the demo's)")
    parser.add_argument("--sites", nargs="+", default=["NZ", "-WRE"], help="sites of the generated store (NSHM's 35)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--url", help="a running stack's UI address (its api-server must read --store)")
    parser.add_argument("--password", help="the running stack's admin password")
    parser.add_argument("--generate", action="store_true", help="write the NSHM-volume results of --sites into --store first")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.store is None or args.generate:
        sites = resolve_sites(args.sites)
        args.store = args.store or ROOT / "var" / "bench" / f"ui-nshm-store-{len(sites)}"
        if args.generate or not (args.store / "hazflow.sqlite").exists():
            start = time.perf_counter()
            n = generate(args.store, sites)
            print(f"generated {n:,} targets of {MODEL} at VS30 {VS30:g} ({len(sites)} sites x {len(NSHM_IMTS)} IMTs x "
                  f"{len(NSHM_POES)} PoEs) in {time.perf_counter() - start:.0f} s: {args.store}", flush=True)  # fmt: skip
    store = LocalStore(args.store)
    summaries = [n for n in store.reports(f"disagg/{args.model}/") if n.endswith("-summary.json")]
    if not summaries:
        raise SystemExit(f"{args.store} holds no disaggregation summaries of {args.model}")
    documents = [json.loads(store.read_report(n)) for n in summaries[:50]]
    vs30 = float(documents[0]["vs30"])
    sites = resolve_sites(sorted({n.split("/")[2] for n in summaries}))  # disagg/<model>/<site id>/...
    targets = sorted({(d["imt"], float(d["poe"])) for d in documents if float(d["vs30"]) == vs30})
    print(f"store {args.store}: {len(summaries):,} target summaries of {args.model}; timing over {len(sites)} sites, "
          f"{len(targets)} (IMT, PoE) pairs at VS30 {vs30:g}", flush=True)  # fmt: skip

    def run(url: str, password: str) -> int:
        token = AirflowApi(url, "admin", password).token()
        times = measure(url, token, args.model, sites, targets, vs30, args.requests)
        rnd = random.Random(2)

        def load() -> None:
            imt, poe = rnd.choice(targets)
            _get(f"{url}/hazflow/api/disagg/target?" + urllib.parse.urlencode(
                {"model": args.model, "site": rnd.choice(sites).id, "vs30": vs30, "imt": imt, "poe": poe}), token)  # fmt: skip

        idle, loaded = health_under_load(url, token, load)
        print(
            f"/api/v2/monitor/health idle: {_percentiles(idle)}; while 4 clients load the disaggregation view: {_percentiles(loaded)}"
        )
        worst = max(float(np.percentile(np.asarray(t) * 1000, 95)) for t in times.values())
        verdict = "met" if worst <= TARGET_MS else "NOT met"
        print(f"slowest view p95 {worst:.0f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
        return 0 if worst <= TARGET_MS else 1

    if args.url:
        return run(args.url, args.password or "")
    with own_stack(args.store.resolve()) as (url, password):
        return run(url, password)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
