#!/usr/bin/env bash
# `make run`: the SP-API emulator plus `airflow standalone` with this project's DAGs, on embedded defaults
# (SQLite for Airflow's metadata and for the Commerce DB). Ctrl-C stops both.
# Two demo accounts of one emulated seller, `demo-na` (North America) and `demo-eu` (Europe), each with its own
# connection, pool and DAG (amazon_orders_sync__demo-na, amazon_orders_sync__demo-eu), declared in
# $AIRFLOW_HOME/accounts.json. Set AMAZON_CHANNEL_ACCOUNTS_FILE (and its connections) to run your own instead.
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

# Connections the standard way (AIRFLOW_CONN_* JSON).
export AIRFLOW_CONN_COMMERCE_DB="{\"conn_type\": \"generic\", \"extra\": {\"url\": \"sqlite:///$AIRFLOW_HOME/commerce.db\"}}"

python -m amazon_channel.emulator --port "$EMULATOR_PORT" --sellers 1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID ${WAREHOUSE_PID:-} 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/health" >/dev/null && break
  sleep 0.2
done

# The demo accounts: the emulated seller's authorizations in two regions (its public demo credentials, from
# /_emulator/sellers) become one connection each, declared in the accounts file with one pool each.
DEMO_ACCOUNTS=(demo-na demo-eu)
if [ -z "${AMAZON_CHANNEL_ACCOUNTS_FILE:-}" ]; then
  export AMAZON_CHANNEL_ACCOUNTS_FILE="$AIRFLOW_HOME/accounts.json"
  SELLERS="$(curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/sellers")"
  for account in "${DEMO_ACCOUNTS[@]}"; do
    conn_var="AIRFLOW_CONN_AMAZON_SP_API_$(echo "$account" | tr 'a-z-' 'A-Z_')"  # e.g. ..._DEMO_NA
    export "$conn_var=$(SELLERS="$SELLERS" python - "${account#demo-}" <<'PY'
import json, os, sys
seller = json.loads(os.environ["SELLERS"])["sellers"][0]
auth = seller["regions"][sys.argv[1]]
print(json.dumps({"conn_type": "generic", "login": auth["client_id"], "password": auth["client_secret"], "extra": {
    "refresh_token": auth["refresh_token"], "region": sys.argv[1], "marketplace_ids": auth["marketplace_ids"],
    "endpoint": auth["endpoint"], "lwa_endpoint": auth["lwa_endpoint"], "seller_id": seller["seller_id"]}}))
PY
)"
  done
  python -c 'import json, sys; json.dump({"accounts": [
      {"id": a, "conn_id": "amazon_sp_api_" + a.replace("-", "_"), "region": a.removeprefix("demo-")}
      for a in sys.argv[2:]]}, open(sys.argv[1], "w"), indent=2)' "$AMAZON_CHANNEL_ACCOUNTS_FILE" "${DEMO_ACCOUNTS[@]}"
fi

# The Commerce DB with a demo catalog, and a demo warehouse that ships imported merchant orders each minute.
python -m amazon_channel.tools.demo "sqlite:///$AIRFLOW_HOME/commerce.db"
python -m amazon_channel.tools.demo "sqlite:///$AIRFLOW_HOME/commerce.db" --warehouse >/dev/null &
WAREHOUSE_PID=$!
airflow db migrate >/dev/null
# One pool per account (one seller's SP-API quota in one region: extract/push tasks of all its runs share it).
for pool in $(python -c 'import os; from amazon_channel.accounts import read_accounts
accounts, _ = read_accounts(os.environ["AMAZON_CHANNEL_ACCOUNTS_FILE"]); print(" ".join(a.pool for a in accounts))'); do
  airflow pools set "$pool" 1 "One seller's SP-API quota in one region: extract/push tasks of all runs share it" >/dev/null
done

echo "Airflow UI: http://127.0.0.1:$AIRFLOW_PORT  (user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
echo "SP-API emulator: http://127.0.0.1:$EMULATOR_PORT  (ground truth and docs under /_emulator/)"
echo "Accounts: $AMAZON_CHANNEL_ACCOUNTS_FILE  (one DAG amazon_orders_sync__<id> per account)"
( for _ in $(seq 120); do
    f="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
    if [ -s "$f" ]; then echo "Admin login: $(cat "$f")"; break; fi
    sleep 1
  done ) &
airflow standalone
