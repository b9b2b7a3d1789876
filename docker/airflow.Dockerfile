# The Airflow image: apache/airflow 3.3.2 with the project's lock (the same pins as `make setup`),
# an OpenQuake venv for the local runner, and the DAGs, plugins and domain package.
# Build from the project root:
#     docker build -f docker/airflow.Dockerfile -t hazflow-airflow:3.3.2 .
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root requirements.txt requirements-oq.txt /opt/hazflow/
RUN pip install --no-cache-dir --disable-pip-version-check -r /opt/hazflow/requirements.txt

# OpenQuake in its own venv, as `make setup` does (its numpy pin differs from Airflow's).
ARG OQ_VERSION=3.26.2
RUN python -m venv /opt/hazflow/venv-oq \
 && /opt/hazflow/venv-oq/bin/pip install --no-cache-dir --disable-pip-version-check -r /opt/hazflow/requirements-oq.txt \
 && /opt/hazflow/venv-oq/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps openquake.engine==${OQ_VERSION}

ENV HAZFLOW_OQ_PYTHON=/opt/hazflow/venv-oq/bin/python \
    NUMBA_CACHE_DIR=/opt/hazflow/numba-cache \
    PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins
# /opt/airflow/secrets: the admin's password file (a named volume takes this folder's owner and mode)
RUN mkdir -p ${NUMBA_CACHE_DIR} \
 && mkdir -m 700 /opt/airflow/secrets \
 && ${HAZFLOW_OQ_PYTHON} -c "import openquake.calculators.disaggregation, openquake.calculators.classical"

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/

# The aggregation's numba kernels, compiled once into the image's numba cache (as `make setup` does),
# so that a task loads them instead of compiling them.
RUN python -c "from hazflow.aggregate.quantiles import warm_kernels; warm_kernels()"
