"""Airflow adapters for hazflow: retry policies, default arguments and task bodies.

DAG files import only from here and `airflow.sdk`; the domain (`hazflow`) is imported inside task
bodies, so parsing a DAG file never loads numpy, h5py or AWS libraries.
"""
