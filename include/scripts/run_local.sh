#!/usr/bin/env bash
# `make run`: the SP-API emulator plus `airflow standalone` with this project's DAGs, on embedded defaults
# (SQLite for Airflow's metadata and for the Commerce DB). Ctrl-C stops both.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EMULATOR_PORT="${EMULATOR_PORT:-8900}"
AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
export PATH="$ROOT/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://localhost:$AIRFLOW_PORT/execution/"  # tasks report here
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AMAZON_CHANNEL_STAGING_ROOT="file://$AIRFLOW_HOME/staging"
mkdir -p "$AIRFLOW_HOME"

port_taken() { python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))) != 0)" "$1"; }
for port in "$AIRFLOW_PORT" "$EMULATOR_PORT"; do
  if port_taken "$port"; then
    echo "make run: port $port is in use (an earlier 'make run' still running?). Stop it, or set AIRFLOW_PORT / EMULATOR_PORT." >&2
    exit 1
  fi
done

# Connections the standard way (AIRFLOW_CONN_* JSON). The emulator's demo credentials are its public defaults.
export AIRFLOW_CONN_AMAZON_SP_API="{\"conn_type\": \"generic\", \"login\": \"amzn1.application-oa2-client.emulator\",
  \"password\": \"emulator-secret\", \"extra\": {\"refresh_token\": \"Atzr|emulator-refresh-token\", \"region\": \"na\",
  \"endpoint\": \"http://127.0.0.1:$EMULATOR_PORT\", \"lwa_endpoint\": \"http://127.0.0.1:$EMULATOR_PORT/auth/o2/token\"}}"
export AIRFLOW_CONN_COMMERCE_DB="{\"conn_type\": \"generic\", \"extra\": {\"url\": \"sqlite:///$AIRFLOW_HOME/commerce.db\"}}"

python -m amazon_channel.emulator --port "$EMULATOR_PORT" &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID ${WAREHOUSE_PID:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/health" >/dev/null && break
  sleep 0.2
done

# The Commerce DB with a demo catalog, and a demo warehouse that ships imported merchant orders each minute.
python -m amazon_channel.tools.demo "sqlite:///$AIRFLOW_HOME/commerce.db"
python -m amazon_channel.tools.demo "sqlite:///$AIRFLOW_HOME/commerce.db" --warehouse >/dev/null &
WAREHOUSE_PID=$!
airflow db migrate >/dev/null
airflow pools set amazon_sp_api 1 "One seller's SP-API quota: extract/push tasks of all runs share it" >/dev/null

echo "Airflow UI: http://127.0.0.1:$AIRFLOW_PORT  (user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
echo "SP-API emulator: http://127.0.0.1:$EMULATOR_PORT  (ground truth and docs under /_emulator/)"
( for _ in $(seq 120); do
    f="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    if [ -s "$f" ]; then echo "Admin login: $(cat "$f")"; break; fi
    sleep 1
  done ) &
airflow standalone
