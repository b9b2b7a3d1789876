"""hazflow: national seismic hazard realizations and disaggregations at scale (domain package).

This package never imports Airflow: every piece runs on its own and from `python -m hazflow`.
"""

__version__ = "0.1.0"
