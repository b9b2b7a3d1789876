"""Planning: what a request means before anything runs.

- `fields`, `request`: one parser for every request (realizations, aggregations), every error naming
  its field;
- `imtl`: target levels read off aggregated hazard curves;
- `jobs`: job specs and their content keys;
- `hazard`, `disagg`: hazard jobs; disaggregation runs, keys, ledger skips and batches, kept plans;
- `batches`: the one batch splitter and Airflow's map limit;
- `coverage`: coverage manifests and the gaps in them;
- `ths`: aggregated curves from a toshi-hazard-store dataset.

This `__init__` imports nothing, so `hazflow.plan.batches` stays light enough for DAG parsing.
"""
