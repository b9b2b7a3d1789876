# The OpenQuake worker image: what one ECS task on M5 capacity runs, one batch at a time:
#     python -m hazflow.run.worker run-batch s3://<bucket>/<prefix>/batches/<plan>/<batch>.json
# It is openquake/engine (OpenQuake and its own Python, untouched) plus a venv with hazflow's domain
# package, which renders each job, runs `oq engine --run` in OpenQuake's Python and keeps the results
# in the store (DynamoDB ledger, S3 artifacts). Build from the project root:
#     docker build -f docker/openquake.Dockerfile -t hazflow-openquake:3.26.2 .
ARG OQ_VERSION=3.26.2
FROM openquake/engine:${OQ_VERSION}

# Where the base image keeps OpenQuake's Python. Checked here, so a changed layout fails the build
# rather than every task.
ARG OQ_PYTHON=/opt/openquake/bin/python
USER root
RUN ${OQ_PYTHON} -c "import openquake.commands, openquake.calculators.disaggregation" \
 && ${OQ_PYTHON} -m venv /opt/hazflow/venv

COPY requirements-worker.txt /opt/hazflow/requirements-worker.txt
RUN /opt/hazflow/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /opt/hazflow/requirements-worker.txt
COPY include/ /opt/hazflow/include/

ENV PATH=/opt/hazflow/venv/bin:${PATH} \
    PYTHONPATH=/opt/hazflow/include \
    HAZFLOW_OQ_PYTHON=${OQ_PYTHON} \
    HAZFLOW_WORK_DIR=/tmp/hazflow \
    NUMBA_CACHE_DIR=/opt/hazflow/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib

# Warm numba's cache at build time: a cold first import of OpenQuake compiles for about 80 s, which
# every new task would pay otherwise.
RUN mkdir -p ${NUMBA_CACHE_DIR} \
 && ${OQ_PYTHON} -c "import openquake.calculators.disaggregation, openquake.calculators.classical" \
 && python -c "import hazflow.run.worker" \
 && chown -R openquake ${NUMBA_CACHE_DIR}

USER openquake
WORKDIR /tmp
# As in the base image: the ECS command override is one string run by `bash -c`.
ENTRYPOINT ["/bin/bash", "-c"]
CMD ["python -m hazflow.run.worker --help"]
