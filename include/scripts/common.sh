# Sourced by run_local.sh (`make run`) and run_cluster.sh (`make cluster`): free ports, the SP-API emulator, the
# demo accounts with their connections and pools, and the demo Commerce catalog and warehouse.
# Expects ROOT, EMULATOR_PORT and AIRFLOW_HOME; PATH with the project's .venv first.

port_taken() { python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', int(sys.argv[1]))) != 0)" "$1"; }

require_free_ports() {  # $1: the command's name, then the ports
  local who="$1" port
  shift
  for port in "$@"; do
    if port_taken "$port"; then
      echo "$who: port $port is in use (an earlier '$who' still running?). Stop it, or set AIRFLOW_PORT / EMULATOR_PORT." >&2
      exit 1
    fi
  done
}

# The emulator's command line: EMULATOR_PORT, EMULATOR_ARGS (default: one seller in the three regions).
emulator_command() {
  # shellcheck disable=SC2206 # EMULATOR_ARGS is a list of options
  EMULATOR_COMMAND=(python -m amazon_channel.emulator --port "$EMULATOR_PORT" ${EMULATOR_ARGS:---sellers 1})
}

wait_for_emulator() {
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "the SP-API emulator did not start on port $EMULATOR_PORT" >&2
  exit 1
}

# The demo accounts, unless AMAZON_CHANNEL_ACCOUNTS_FILE is set (then its connections are the caller's): the emulated
# seller's authorizations in two regions (its public demo credentials, from /_emulator/sellers) become one
# connection each (AIRFLOW_CONN_AMAZON_SP_API_DEMO_NA, ..._DEMO_EU), declared in $AIRFLOW_HOME/accounts.json.
DEMO_ACCOUNTS=(demo-na demo-eu)
demo_accounts() {
  [ -n "${AMAZON_CHANNEL_ACCOUNTS_FILE:-}" ] && return 0
  export AMAZON_CHANNEL_ACCOUNTS_FILE="$AIRFLOW_HOME/accounts.json"
  local sellers account conn_var
  sellers="$(curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/sellers")"
  for account in "${DEMO_ACCOUNTS[@]}"; do
    conn_var="AIRFLOW_CONN_AMAZON_SP_API_$(echo "$account" | tr 'a-z-' 'A-Z_')"
    export "$conn_var=$(SELLERS="$sellers" python - "${account#demo-}" <<'PY'
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
}

# One pool per account (one seller's SP-API quota in one region: extract/push tasks of all its runs share it), all
# with one `airflow pools import` (each airflow command costs seconds of CPU to start).
create_pools() {
  local pools
  pools="$(mktemp)"
  python - "$pools" <<'PY'
import json, os, sys
from amazon_channel.accounts import read_accounts
accounts, _ = read_accounts(os.environ.get("AMAZON_CHANNEL_ACCOUNTS_FILE"))
description = "One seller's SP-API quota in one region: extract/push tasks of all runs share it"
json.dump({a.pool: {"slots": 1, "description": description} for a in accounts}, open(sys.argv[1], "w"))
PY
  airflow pools import "$pools" >/dev/null
  rm -f "$pools"
}

# Stop everything in PIDS (set by the caller) and all they started, tasks included: TERM to each (each stops its own
# children; Celery workers finish their running tasks first), up to 30 s; then TERM to anything a stopped process left
# behind (standalone's scheduler outlives it), and KILL to whatever is still there 10 s later.
stop_all() {
  trap - INT TERM EXIT
  echo "stopping"
  python - "${PIDS[@]}" <<'PY'
import sys
import psutil
roots, everything = [], []
for pid in map(int, sys.argv[1:]):
    try:
        root = psutil.Process(pid)
        roots.append(root)
        everything += [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
def send(procs, how):
    for proc in procs:
        try:
            getattr(proc, how)()
        except psutil.NoSuchProcess:
            pass
send(roots, "terminate")
psutil.wait_procs(roots, timeout=30)
_, left = psutil.wait_procs(everything, timeout=0)
send(left, "terminate")
_, left = psutil.wait_procs(left, timeout=10)
send(left, "kill")
PY
}
