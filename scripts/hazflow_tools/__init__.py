"""Tooling around a running Airflow, for the demo, the benchmarks and the tests, never loaded by
Airflow itself (so not a plugin): `rest` (the REST API with the simple auth manager's login) and
`runs` (`python -m hazflow_tools.runs`: runs, XComs and task seconds from Airflow's database)."""
