"""A browser test, a real one: headless Chromium (Debian's) opens the UI of the stack `make airflow`
starts, logs in, triggers `disagg_realizations` from its form with a tiny DEMO request (WLG, PGA, 39 % in
50 years, the three leaves whose hazard the shared `hazard_aggregated` run computed), waits for the run
to succeed and reads the labels of its mapped OpenQuake runs in the UI; the disagg_aggregation it starts
then runs to the end by itself. Screenshots of the form, the
run's grid and the mapped runs are kept under var/browser/."""

from __future__ import annotations

import math
import shutil
from urllib.parse import quote

import pytest

from hazflow.config import PROJECT_ROOT
from hazflow.model.nshm import NSHM_POES
from tests.support.airflow_scheduler import wait_for
from tests.support.airflow_stack import project_stack
from tests.support.browser import AirflowUi, chromium, shown_on_failure

pytestmark = [pytest.mark.browser, pytest.mark.airflow, pytest.mark.openquake]

SCREENSHOTS = PROJECT_ROOT / "var" / "browser"
DAG = "disagg_realizations"


@pytest.fixture(scope="module")
def stack(hazard_aggregated):
    conf, store_root, run = hazard_aggregated
    assert run.code == 0, run.log[-3000:]
    with project_stack() as running:
        shutil.copytree(store_root, running.var / "store")  # the aggregated hazard the targets are read from
        yield running, conf


@pytest.fixture(scope="module")
def browser(stack):
    """One headless Chromium for the module, logged in as the admin, in which each test opens its pages:
    a browser of each test's own compiled the UI's scripts again and logged in again."""
    running, _ = stack
    with chromium(on_failure=SCREENSHOTS / "login-failure.png") as driver:
        ui = AirflowUi(driver, running.url)
        ui.login("admin", running.rest().password)
        yield ui


@pytest.fixture
def ui(browser):
    browser.driver.switch_to.default_content()  # out of any frame a failed test left it in
    return browser


def test_trigger_disagg_realizations_from_the_form(stack, ui):
    stack, hazard = stack
    leaves = hazard["leaves"]
    with shown_on_failure(ui.driver, SCREENSHOTS / "failure.png"):
        ui.open_trigger_form(DAG)

        # what the form offers: the known models, NSHM's seven PoEs with their return periods
        assert "DEMO (6 leaves; runs here)" in ui.options("model")
        assert ui.options("poes") == [f"{p:.0%} in 50 years ({-50 / math.log(1 - p):,.0f}-year return period)" for p in NSHM_POES]
        ui.type_lines("sites", ["WLG"])
        ui.pick("imts", ["PGA"])
        ui.pick("poes", ["39%"])  # a PoE no other test disaggregates: the shared store may hold the others
        ui.type_lines("leaves", leaves)
        ui.screenshot(SCREENSHOTS / "trigger_form.png")
        run_id = ui.submit_trigger()
        ui.leave()  # the run and its aggregation are waited for by REST; the pages below are opened afresh

        api = stack.rest()
        state = wait_for("the run to end", lambda: (api.run(DAG, run_id) or {}).get("state") in ("success", "failed")
                         and api.run(DAG, run_id)["state"], 420, 1)  # fmt: skip
        run = api.run(DAG, run_id)
        assert state == "success", run
        # the form's picks as the run got them: the multi-select sends text, which plan reads
        assert (run["conf"]["sites"], run["conf"]["imts"], run["conf"]["poes"]) == (["WLG"], ["PGA"], ["0.39"])
        assert run["conf"]["leaves"] == leaves and run["conf"]["vs30s"] == [400]

        # the run started its aggregation, for exactly its set, which runs to the end: nobody unpaused it
        # (waited for before reading the UI, so that the pages render on a quiet machine)
        aggregation = f"{run_id}__disagg_aggregation"
        state = wait_for("the aggregation to end", lambda: (api.run("disagg_aggregation", aggregation) or {}).get("state")
                         in ("success", "failed") and api.run("disagg_aggregation", aggregation)["state"], 300, 1)  # fmt: skip
        assert state == "success"
        assert api.run("disagg_aggregation", aggregation)["conf"]["leaves"] == leaves

        tasks = ui.table_column(f"/dags/{DAG}/runs/{quote(run_id)}", "Task ID")  # the run's page, rendered
        assert {"plan", "local.run", "local.ingest", "summary", "start_aggregation"} <= set(tasks)
        ui.screenshot(SCREENSHOTS / "run_grid.png")
        labels = ui.table_column(f"/dags/{DAG}/runs/{quote(run_id)}/tasks/local.run/mapped", "Map Index", len(leaves))
        ui.screenshot(SCREENSHOTS / "mapped_runs.png")

    # one one-pass OpenQuake run per leaf, each named in the UI by its site, VS30, IMT, PoE and leaf
    assert sorted(labels) == sorted(f"WLG vs30=400 PGA 39%/50yr {leaf}" for leaf in leaves)
    instances = api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    assert sorted(labels) == sorted(t["rendered_map_index"] for t in instances if t["task_id"] == "local.run")


def test_the_run_view_of_the_aggregation_shows_its_targets_summary_and_charts(stack, ui):
    """The aggregation the form's run started (the test above) has a "hazflow results" tab: in its iframe
    the Disaggregation view lists the run's targets from its plan XCom, and shows the kept summary and
    the M-R-eps chart of the store's mean disaggregation."""
    import json

    from selenium.webdriver.common.by import By

    from hazflow.store import open_store

    stack, _ = stack
    api = stack.rest()
    (run,) = [r for r in api.call("GET", "/dags/disagg_aggregation/dagRuns")["dag_runs"] if r["state"] == "success"]
    store = open_store("local", str(stack.var / "store"))
    summary = json.loads(store.read_report("disagg/DEMO/WLG/DEMO-WLG-vs400-PGA-poe39-summary.json"))
    driver = ui.driver
    with shown_on_failure(driver, SCREENSHOTS / "run-view-failure.png"):
        driver.get(f"{stack.url}/dags/disagg_aggregation/runs/{quote(run['dag_run_id'])}/plugin/hazflow-run")
        frame = ui.element("iframe")
        assert "/hazflow/run?dag_id=disagg_aggregation&run_id=" in frame.get_attribute("src")
        driver.switch_to.frame(frame)
        ui.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") in ("yes", "error"))
        assert driver.find_element(By.ID, "error").text == ""
        options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#target option")]
        assert options == ["WLG VS30 400 PGA 39% in 50 yr"]  # the run's one target, from its plan
        table = driver.find_element(By.ID, "summary").text
        s = summary["summary"]
        assert f"{s['target_return_period']:.0f} yr" in table and f"{s['closure']:.4f}" in table
        assert f"M{s['mean_mag']:.2f}, {s['mean_dist']:.1f} km, {s['mean_eps']:.2f}" in table
        shown = driver.execute_script(
            "const t = document.getElementById('mre').data[0];"
            "return {n: t.x.length, type: t.type, bars: document.getElementById('fault-systems').data[0].x};"
        )
        assert shown["type"] == "scatter3d" and shown["n"] > 0
        assert sorted(shown["bars"]) == sorted(summary["contributions"]["by_fault_system"])
        # which sources drive it: the kept contributors table, row by row, largest first and the rest last
        cells = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in driver.find_elements(By.CSS_SELECTOR, "#contributors tr")[1:]
        ]
        assert [c[0] for c in cells] == [row["name"] for row in summary["contributors"]] and cells[-1][0] == "the rest"
        assert [c[2] for c in cells] == [f"{row['percent']:.2f}" for row in summary["contributors"]]
        assert "Wellington fault" in [c[0] for c in cells]
        driver.switch_to.default_content()
        driver.save_screenshot(str(SCREENSHOTS / "run-view.png"))


def test_the_campaign_tab_of_the_form_run_opens_a_failed_cell_on_its_log_tail(stack, ui):
    """The form's disagg_realizations run (the first test) has a "hazflow results" tab: the Campaign grid
    of its plan, leaf x site. One of its runs is then recorded failed on purpose (a ledger entry as
    `run.job.failure` writes one: class, message, OpenQuake's log tail); its cell turns failed, and a
    click shows the class and the tail."""
    from dataclasses import replace

    from selenium.webdriver.common.by import By

    from hazflow.store import open_store

    stack, hazard = stack
    api = stack.rest()
    (run,) = [r for r in api.call("GET", f"/dags/{DAG}/dagRuns")["dag_runs"] if r["state"] == "success"]
    plan_id = api.xcom(DAG, run["dag_run_id"], "plan", key="plan")["plan_id"]
    store = open_store("local", str(stack.var / "store"))
    plan = store.get_plan(plan_id)
    failed_leaf = plan["request"]["leaves"][plan["runs"][0][0]]
    entry = store.ledger_get(plan["keys"][0])
    tail = "\n".join(f"[oq] step {n}" for n in range(35)) + "\nMemoryError: the test's own failure"
    store.ledger_record(replace(entry, state="failed", error="OpenQuake job failed with exit code 1: MemoryError",
                                error_class="OpenQuakeError", log_tail=tail))  # fmt: skip
    driver = ui.driver
    with shown_on_failure(driver, SCREENSHOTS / "campaign-failure.png"):
        driver.get(f"{stack.url}/dags/{DAG}/runs/{quote(run['dag_run_id'])}/plugin/hazflow-run")
        driver.switch_to.frame(ui.element("iframe"))
        ui.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") in ("yes", "error"))
        assert driver.find_element(By.ID, "error").text == ""
        cells = {(td.get_attribute("data-leaf"), td.get_attribute("data-site")): td.get_attribute("data-state")
                 for td in driver.find_elements(By.CSS_SELECTOR, "td.cell")}  # fmt: skip
        ledger = {
            plan["request"]["leaves"][leaf]: store.ledger_get(key)
            for (leaf, _), key in zip(plan["runs"], plan["keys"], strict=True)
        }
        expected = {leaf: "failed" if e.state == "failed" else "no ruptures" if e.empty or e.state == "no_ruptures" else e.state
                    for leaf, e in ledger.items()}  # fmt: skip
        assert sorted(expected) == sorted(hazard["leaves"]) and expected[failed_leaf] == "failed"
        assert cells == {(leaf, "WLG"): state for leaf, state in expected.items()}
        driver.find_element(By.CSS_SELECTOR, "td.cell.failed").click()
        shown = ui.element("pre.log-tail").text
        assert shown.splitlines()[-1] == "MemoryError: the test's own failure" and len(shown.splitlines()) == 30
        assert "OpenQuakeError" in driver.find_element(By.ID, "failure").text
        assert "left (to do or failed) 1" in [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#totals tr")]
        driver.switch_to.default_content()
        driver.save_screenshot(str(SCREENSHOTS / "campaign.png"))


def test_the_hazard_view_in_the_ui_plots_the_stores_curves_and_spectra(stack, ui):
    """The Hazard entry of the UI's navigation opens hazflow's page in an iframe; plotly's `gd.data` there
    holds the store's curves: the real mean and quantiles of the shared hazard run at WLG (PGA), and a
    spectrum over PGA and six SA periods (curves written for VS30 750), each level as `plan.imtl` reads it."""
    import numpy as np
    from selenium.webdriver.common.by import By

    from hazflow.plan.imtl import level_at_poe
    from hazflow.store import HazardAggregate, open_store

    stack, _ = stack
    store = open_store("local", str(stack.var / "store"))
    levels = np.geomspace(1e-3, 5.0, 25)
    imts = ("PGA", "SA(0.1)", "SA(0.2)", "SA(0.5)", "SA(1.0)", "SA(2.0)", "SA(3.0)")
    store.put_hazard_aggregates(
        [HazardAggregate("DEMO", "-41.300~174.780", 750.0, imt, "mean", levels, 0.1 * np.exp(-levels / (0.06 + 0.01 * i)), "{}")
         for i, imt in enumerate(imts)]
    )  # fmt: skip

    def plotted(ui: AirflowUi, query: str) -> dict:
        ui.driver.get(f"{stack.url}/plugin/hazflow-hazard")  # the navigation's entry: the page in an iframe
        frame = ui.element("iframe")
        assert frame.get_attribute("src").endswith("/hazflow/hazard")
        ui.driver.switch_to.frame(frame)
        try:
            ui.driver.execute_script(f"history.replaceState(null, '', '?{query}'); location.reload()")
            ui.wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") in ("yes", "error"))
            assert ui.driver.find_element(By.ID, "error").text == ""
            return ui.driver.execute_script(
                "const pick = id => document.getElementById(id).data.map(t => ({name: t.name, x: t.x, y: t.y}));"
                "return {curves: pick('curves'), spectra: pick('spectra')};"
            )
        finally:
            ui.driver.switch_to.default_content()

    driver = ui.driver
    with shown_on_failure(driver, SCREENSHOTS / "hazard-failure.png"):
        shown = plotted(ui, "model=DEMO&site=WLG&vs30=400&imt=PGA&band=0.1,0.9")
        stored = {r.agg: r for r in store.get_hazard_aggregates("DEMO", "-41.300~174.780", 400.0, "PGA")}
        curves = {t["name"]: t for t in shown["curves"]}
        assert curves["mean"]["x"] == stored["mean"].levels.tolist() and curves["mean"]["y"] == stored["mean"].values.tolist()
        assert curves["0.1-0.9 quantiles"]["y"] == stored["0.1"].values.tolist()  # the band's lower edge
        driver.save_screenshot(str(SCREENSHOTS / "hazard-view.png"))

        shown = plotted(ui, "model=DEMO&site=WLG&vs30=750&imt=SA(1.0)&poes=0.1,0.02")
        assert [t["name"] for t in shown["spectra"]] == ["10% in 50 yr", "2% in 50 yr"]
        for trace, poe in zip(shown["spectra"], (0.1, 0.02), strict=True):
            assert trace["x"] == [0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0]
            means = {r.imt: r for r in store.get_hazard_aggregates("DEMO", "-41.300~174.780", 750.0, agg="mean")}
            assert trace["y"] == [level_at_poe(means[imt].levels, means[imt].values, poe) for imt in imts]
