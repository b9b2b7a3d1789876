"""hazflow's results inside the Airflow UI: a FastAPI app the api-server mounts at `/hazflow`
(`app.py`), its pages (`pages/`), and the plugin that registers both (plugins/hazflow_ui.py)."""
