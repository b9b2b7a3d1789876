"""Ingest: a finished OpenQuake job's HDF5 into stored realizations and its `done` ledger entry."""
