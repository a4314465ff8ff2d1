# The production image: the official Airflow image of the pinned version, with requirements.lock's exact versions
# and this project installed once, at build time (never at container start). docker-compose.yaml builds it; the
# official Helm chart runs it too (images.airflow.repository / tag).
#
#   docker build -t amazon-channel-airflow:latest .
#
# The base is the official *slim* image of the version pinned in requirements.lock (tests/unit/
# test_docker_compose.py keeps them equal): Airflow core only. The regular image adds some 30 providers
# (amazon, google, ...) pinned by Airflow's own constraints, and installing the lock over them would change
# versions under providers we never tested (the lock's botocore, for s3fs, is newer than the one the regular
# image's amazon provider pins). On slim, what the image holds is what requirements.lock says and the tests
# ran with: apache-airflow itself, the Celery provider (CeleryExecutor), psycopg2, s3fs and the rest.
FROM apache/airflow:slim-3.3.2-python3.11

# The official image's documented way to add packages: as the airflow user, with apache-airflow pinned to the
# image's own version (${AIRFLOW_VERSION}, set by the base image) so pip never swaps Airflow out.
USER airflow

# 1. Dependencies: every package at the version in requirements.lock (its constraints), one layer that is rebuilt
#    only when requirements.txt or the lock change. The development tools, listed in requirements.txt after the
#    line "# development and tests" (pytest, ruff, playwright, matplotlib, fastjsonschema; pyyaml
#    comes with Airflow anyway), are left out: some 250 MB that never run in production. What is installed is a
#    subset of the tested set at the tested versions, and `pip check` fails the build if it is not consistent.
COPY --chown=airflow:root requirements.txt requirements.lock /opt/airflow/project/
RUN sed '/^# development and tests/,$d' /opt/airflow/project/requirements.txt \
        > /opt/airflow/project/requirements-runtime.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/project/requirements-runtime.txt -c /opt/airflow/project/requirements.lock \
    && pip check

# 2. This project's package (include/amazon_channel), not editable, without dependencies (all pinned above).
#    sql/ is not needed at run time: the DAG creates the Commerce tables from the schema in the package.
COPY --chown=airflow:root pyproject.toml /opt/airflow/project/
COPY --chown=airflow:root include/ /opt/airflow/project/include/
RUN pip install --no-cache-dir --no-deps /opt/airflow/project

# 3. The DAGs and plugins, where Airflow looks by default: the image runs without bind mounts.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/

# Staging between tasks (AMAZON_CHANNEL_STAGING_ROOT=file:///opt/airflow/staging in docker-compose.yaml). Made
# here, group-writable, so a new named volume mounted on it starts owned by airflow (group 0: any AIRFLOW_UID).
RUN mkdir -p /opt/airflow/staging && chmod 775 /opt/airflow/staging
