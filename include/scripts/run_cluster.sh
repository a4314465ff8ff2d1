#!/usr/bin/env bash
# `make cluster`: the production shape on one machine, without Docker, on the PostgreSQL and Redis it already runs:
# Airflow's metadata in its own PostgreSQL database, CeleryExecutor with Redis as broker, api-server, scheduler,
# dag-processor, triggerer and two Celery workers (worker1@<host>, worker2@<host>), the SP-API emulator, the
# Commerce DB on PostgreSQL and the same demo accounts as `make run`. Ctrl-C stops everything.
#
#   include/scripts/run_cluster.sh                 start the cluster in the foreground
#   include/scripts/run_cluster.sh worker NAME     one more Celery worker NAME@<host> for the running cluster
#   include/scripts/run_cluster.sh airflow ARGS..  an airflow command against it, e.g. `airflow backfill create ...`
#
# Settings (environment): CLUSTER_HOME (.cluster: Airflow home, logs, shared staging, cluster.env),
# AIRFLOW_PORT (8080), EMULATOR_PORT (8900), CLUSTER_DATABASE_URL (postgresql+psycopg2://postgres@127.0.0.1:5432),
# CLUSTER_METADATA_DB (airflow_cluster), CLUSTER_COMMERCE_URL (<CLUSTER_DATABASE_URL>/commerce_cluster),
# CLUSTER_REDIS_URL (redis://127.0.0.1:6379/0), CLUSTER_WORKERS (2), CLUSTER_WORKER_CONCURRENCY (4); any AIRFLOW__*
# or AMAZON_CHANNEL_* variable set by the caller wins over the defaults below.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
CLUSTER_HOME="$(mkdir -p "${CLUSTER_HOME:-$ROOT/.cluster}" && cd "${CLUSTER_HOME:-$ROOT/.cluster}" && pwd)"
ENV_FILE="$CLUSTER_HOME/cluster.env"  # every setting of the running cluster, for `worker` and `airflow` (0600)
# shellcheck source=common.sh
source "$ROOT/include/scripts/common.sh"

start_worker() {  # $1: the worker's name; runs in the foreground
  echo "$$" >"$CLUSTER_HOME/$1.pid"
  AMAZON_CHANNEL_WORKER_NAME="$1" exec airflow celery worker --celery-hostname "$1@%h" \
    --concurrency "${CLUSTER_WORKER_CONCURRENCY:-4}" --skip-serve-logs  # logs are on the shared disk
}

if [ "${1:-up}" != up ]; then
  [ -f "$ENV_FILE" ] || { echo "no cluster settings in $ENV_FILE: start it first (make cluster)" >&2; exit 1; }
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  case "$1" in
    worker) start_worker "${2:?usage: run_cluster.sh worker NAME}" ;;
    airflow) shift; exec airflow "$@" ;;
    *) echo "usage: run_cluster.sh [worker NAME | airflow ARGS...]" >&2; exit 2 ;;
  esac
fi

AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
EMULATOR_PORT="${EMULATOR_PORT:-8900}"
DATABASE_URL="${CLUSTER_DATABASE_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432}"
METADATA_URL="$DATABASE_URL/${CLUSTER_METADATA_DB:-airflow_cluster}"
COMMERCE_URL="${CLUSTER_COMMERCE_URL:-$DATABASE_URL/commerce_cluster}"
REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}"
START_EMULATOR="${START_EMULATOR:-1}"  # 0: the accounts' connections point at a running emulator, or at Amazon
if [ "$START_EMULATOR" = 1 ]; then require_free_ports "make cluster" "$AIRFLOW_PORT" "$EMULATOR_PORT"
else require_free_ports "make cluster" "$AIRFLOW_PORT"; fi
mkdir -p "$CLUSTER_HOME/logs" "$CLUSTER_HOME/airflow"

# Both servers must answer before anything starts; the databases are made on first use.
python - "$METADATA_URL" "$COMMERCE_URL" "$REDIS_URL" <<'PY'
import sys
import redis
from sqlalchemy import create_engine, make_url, text
for url in map(make_url, sys.argv[1:3]):
    server = url.set(database="postgres" if url.get_backend_name() == "postgresql" else None)
    try:
        with create_engine(server, isolation_level="AUTOCOMMIT").connect() as conn:
            if url.get_backend_name() == "postgresql":
                exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": url.database})
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            else:
                conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{url.database}`"))
    except Exception as exc:
        sys.exit(f"make cluster: database server {server.render_as_string(hide_password=True)} unreachable: "
                 f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
try:
    redis.Redis.from_url(sys.argv[3], socket_connect_timeout=3).ping()
except Exception as exc:
    sys.exit(f"make cluster: Redis {sys.argv[3]} unreachable: {type(exc).__name__}: {exc}")
PY

# The secrets every process must share, made once and kept in CLUSTER_HOME (owner-only).
SECRETS="$CLUSTER_HOME/secrets.env"
if [ ! -f "$SECRETS" ]; then
  (umask 077 && python -c 'import secrets; from cryptography.fernet import Fernet
print("AIRFLOW__CORE__FERNET_KEY=" + Fernet.generate_key().decode())
print("AIRFLOW__API_AUTH__JWT_SECRET=" + secrets.token_urlsafe(32))' > "$SECRETS")
fi
# Buyer data is sealed at rest (amazon_channel.crypto): the keys given in the environment, else one made once here.
GIVEN_BUYER_DATA_KEYS="${AMAZON_CHANNEL_BUYER_DATA_KEYS:-}"
if ! grep -q '^AMAZON_CHANNEL_BUYER_DATA_KEYS=' "$SECRETS"; then
  (umask 077 && echo "AMAZON_CHANNEL_BUYER_DATA_KEYS=$(python -m amazon_channel.crypto new-key)" >> "$SECRETS")
fi
set -a
# shellcheck disable=SC1090
source "$SECRETS"
set +a
if [ -n "$GIVEN_BUYER_DATA_KEYS" ]; then export AMAZON_CHANNEL_BUYER_DATA_KEYS="$GIVEN_BUYER_DATA_KEYS"; fi

export AIRFLOW_HOME="$CLUSTER_HOME/airflow"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$METADATA_URL"
export AIRFLOW__CELERY__BROKER_URL="$REDIS_URL"
export AIRFLOW__CELERY__RESULT_BACKEND="db+$METADATA_URL"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$CLUSTER_HOME/logs/tasks"  # one disk: the api-server reads every worker's
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_PORT/execution/"  # workers report here
# Airflow gives a task 5 s to hear from the api-server; on a busy small machine a call can take longer, and a
# task that times out fails without its retries
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
# Each worker imports pandas and Great Expectations once, not every task (plugins/celery_config.py).
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="${AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS:-celery_config.CELERY_CONFIG}"
# Several workers on one host: each is recorded as <name>@<host> (amazon_channel.worker_name).
export AIRFLOW__CORE__HOSTNAME_CALLABLE=amazon_channel.worker_name.worker_hostname
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# The api-server's access log shows `buyer_name=***`, not the name an operator searched the Amazon Orders view for
export AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES="${AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES:-buyer_name}"
export AMAZON_CHANNEL_STAGING_ROOT="${AMAZON_CHANNEL_STAGING_ROOT:-file://$CLUSTER_HOME/staging}"  # every worker reads it
export AIRFLOW_CONN_COMMERCE_DB="{\"conn_type\": \"generic\", \"extra\": {\"url\": \"$COMMERCE_URL\"}}"

PIDS=()  # what stop_all (common.sh) stops on Ctrl-C or exit
trap stop_all INT TERM EXIT

start() {  # $1: name (log file, pid file); the rest: the command, in its own process group
  local name="$1"
  shift
  setsid "$@" >"$CLUSTER_HOME/logs/$name.log" 2>&1 &
  PIDS+=("$!")
  echo "$!" >"$CLUSTER_HOME/$name.pid"
}

if [ "$START_EMULATOR" = 1 ]; then
  emulator_command
  start emulator "${EMULATOR_COMMAND[@]}"
  wait_for_emulator
fi
demo_accounts
airflow db migrate >"$CLUSTER_HOME/logs/db-migrate.log" 2>&1
create_pools
python -m amazon_channel.tools.demo "$COMMERCE_URL"  # schema and demo catalog
if [ "${DEMO_WAREHOUSE:-1}" = 1 ]; then  # a demo warehouse ships imported merchant orders each minute
  start warehouse python -m amazon_channel.tools.demo "$COMMERCE_URL" --warehouse
fi
(umask 077 && export -p | grep -E '^declare -x (AIRFLOW|AMAZON_CHANNEL|CLUSTER_|PATH=)' >"$ENV_FILE")

start api-server airflow api-server --port "$AIRFLOW_PORT"
start scheduler airflow scheduler
start dag-processor airflow dag-processor
start triggerer airflow triggerer
for n in $(seq "${CLUSTER_WORKERS:-2}"); do
  start "worker$n" "$0" worker "worker$n"
done

for _ in $(seq 240); do
  curl -fs "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null && break
  sleep 0.5
done
PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "Airflow UI: http://127.0.0.1:$AIRFLOW_PORT  (CeleryExecutor, ${CLUSTER_WORKERS:-2} workers; login: $(cat "$PASSWORDS" 2>/dev/null || echo "see $PASSWORDS"))"
echo "SP-API emulator: http://127.0.0.1:$EMULATOR_PORT  (ground truth and docs under /_emulator/)"
echo "Metadata: $METADATA_URL  Broker: $REDIS_URL  Commerce DB: $COMMERCE_URL"
echo "Logs: $CLUSTER_HOME/logs  Staging: $AMAZON_CHANNEL_STAGING_ROOT  Accounts: $AMAZON_CHANNEL_ACCOUNTS_FILE"
echo "Airflow CLI on the cluster: include/scripts/run_cluster.sh airflow ...   Ctrl-C stops everything."
wait || true
