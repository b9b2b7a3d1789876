"""The hazflow plugin of the Airflow UI: the `/hazflow` app (hazflow_airflow.ui.app) and its views
in the UI's navigation, rendered in an iframe (`url_route`).

Every Airflow process loads plugins (a task process for their macros), so this module stays light:
the app, with FastAPI and the api-server's security module, is imported only when the api-server
asks for `fastapi_apps`. A plugin whose dict fails validation silently disappears from
/api/v2/plugins (the tests check it is listed)."""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin


class HazflowUiPlugin(AirflowPlugin):
    name = "hazflow"
    external_views = [
        {"name": "Hazard", "href": "/hazflow/hazard", "url_route": "hazflow-hazard", "destination": "nav", "category": "hazflow"},
        {"name": "Disaggregation", "href": "/hazflow/disaggregation", "url_route": "hazflow-disaggregation", "destination": "nav",
         "category": "hazflow"},
        {"name": "Campaign", "href": "/hazflow/campaign", "url_route": "hazflow-campaign", "destination": "nav", "category": "hazflow"},
        {"name": "Area extract", "href": "/hazflow/extracts", "url_route": "hazflow-extracts", "destination": "nav", "category": "hazflow"},
        # a tab on the runs of every DAG; the app answers "no hazflow results" for DAGs that are not hazflow's
        {"name": "hazflow results", "href": "/hazflow/run?dag_id={DAG_ID}&run_id={RUN_ID}", "url_route": "hazflow-run",
         "destination": "dag_run"},
    ]  # fmt: skip

    @property  # type: ignore[override]
    def fastapi_apps(self) -> list[dict[str, Any]]:
        from hazflow_airflow.ui.app import app

        return [{"app": app, "url_prefix": "/hazflow", "name": "hazflow results"}]
