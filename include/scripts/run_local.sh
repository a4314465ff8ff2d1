#!/usr/bin/env bash
# `make run`: the SP-API emulator plus `airflow standalone` with this project's DAGs, on embedded defaults
# (SQLite for Airflow's metadata and for the Commerce DB). Ctrl-C stops both.
# Two demo accounts of one emulated seller, `demo-na` (North America) and `demo-eu` (Europe), each with its own
# connection, pool and DAG (amazon_orders_sync__demo-na, amazon_orders_sync__demo-eu), declared in
# $AIRFLOW_HOME/accounts.json. Set AMAZON_CHANNEL_ACCOUNTS_FILE (and its connections) to run your own instead.
# The production shape (PostgreSQL, CeleryExecutor, two workers) is `make cluster` (run_cluster.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EMULATOR_PORT="${EMULATOR_PORT:-8900}"
AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$AIRFLOW_PORT/execution/"  # tasks report here
# Airflow gives a task 5 s to hear from the api-server; on a busy small machine a call can take longer, and a
# task that times out fails without its retries
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
# The api-server's access log shows `buyer_name=***`, not the name an operator searched the Amazon Orders view for
export AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES="${AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES:-buyer_name}"
export AMAZON_CHANNEL_STAGING_ROOT="file://$AIRFLOW_HOME/staging"
mkdir -p "$AIRFLOW_HOME"
# Buyer data is sealed at rest (amazon_channel.crypto) with a key made once and kept owner-only in AIRFLOW_HOME;
# losing it loses the buyer data stored so far. A key of your own: AMAZON_CHANNEL_BUYER_DATA_KEYS or the connection.
if [ -z "${AMAZON_CHANNEL_BUYER_DATA_KEYS:-}" ]; then
  [ -f "$AIRFLOW_HOME/buyer_data.key" ] || (umask 077 && python -m amazon_channel.crypto new-key > "$AIRFLOW_HOME/buyer_data.key")
  AMAZON_CHANNEL_BUYER_DATA_KEYS="$(cat "$AIRFLOW_HOME/buyer_data.key")"
  export AMAZON_CHANNEL_BUYER_DATA_KEYS
fi
# shellcheck source=common.sh
source "$ROOT/include/scripts/common.sh"
START_EMULATOR="${START_EMULATOR:-1}"  # 0: the accounts' connections point at a running emulator, or at Amazon
if [ "$START_EMULATOR" = 1 ]; then require_free_ports "make run" "$AIRFLOW_PORT" "$EMULATOR_PORT"; else require_free_ports "make run" "$AIRFLOW_PORT"; fi

# Connections the standard way (AIRFLOW_CONN_* JSON); COMMERCE_URL picks another Commerce DB.
COMMERCE_URL="${COMMERCE_URL:-sqlite:///$AIRFLOW_HOME/commerce.db}"
export AIRFLOW_CONN_COMMERCE_DB="{\"conn_type\": \"generic\", \"extra\": {\"url\": \"$COMMERCE_URL\"}}"

PIDS=()  # what stop_all (common.sh) stops on Ctrl-C or exit
trap stop_all INT TERM EXIT
if [ "$START_EMULATOR" = 1 ]; then
  emulator_command
  "${EMULATOR_COMMAND[@]}" &
  PIDS+=("$!")
  wait_for_emulator
fi
demo_accounts

# The Commerce DB with a demo catalog, and (DEMO_WAREHOUSE=0: none) a demo warehouse that ships imported merchant
# orders each minute.
python -m amazon_channel.tools.demo "$COMMERCE_URL"
if [ "${DEMO_WAREHOUSE:-1}" = 1 ]; then
  python -m amazon_channel.tools.demo "$COMMERCE_URL" --warehouse >/dev/null &
  PIDS+=("$!")
fi
airflow db migrate >/dev/null
create_pools

echo "Airflow UI: http://127.0.0.1:$AIRFLOW_PORT  (user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
echo "SP-API emulator: http://127.0.0.1:$EMULATOR_PORT  (ground truth and docs under /_emulator/)"
echo "Accounts: $AMAZON_CHANNEL_ACCOUNTS_FILE  (one DAG amazon_orders_sync__<id> per account)"
( for _ in $(seq 120); do
    f="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    if [ -s "$f" ]; then echo "Admin login: $(cat "$f")"; break; fi
    sleep 1
  done ) &
# In a session of its own, stopped by stop_all: given Ctrl-C itself, standalone's scheduler waits on its idle
# LocalExecutor workers for ever.
setsid airflow standalone &
PIDS+=("$!")
wait "$!" || true
