# shellcheck shell=bash
# Starts DynamoDB Local and moto server on free loopback ports, waits until they answer, and stops them
# by PID. Sourced, never run; expects the repo root as the working directory and ensure_installed done.
#
# Globals set here: HERALD_SERVICE_PIDS (array), HERALD_SERVICE_NAMES (array), HERALD_LOG_DIR,
# HERALD_DYNAMODB_PORT, HERALD_MOTO_PORT.

HERALD_SERVICE_PIDS=()
HERALD_SERVICE_NAMES=()
HERALD_LOG_DIR=""
READY_TIMEOUT_SECONDS="${HERALD_TEST_READY_TIMEOUT:-60}"

# Prints two distinct free TCP ports on 127.0.0.1 (both sockets are held open while choosing).
pick_free_ports() {
    python3 -c '
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
'
}

# One readiness probe of DynamoDB Local: a ListTables call that must answer 200 with TableNames.
# DynamoDB Local does not check signatures, but it does want an Authorization header to be present.
probe_dynamodb() {
    python3 - "$1" <<'PY'
import sys, urllib.request
req = urllib.request.Request(
    sys.argv[1] + "/",
    data=b"{}",
    method="POST",
    headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20000101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0",
        "X-Amz-Date": "20000101T000000Z",
    },
)
try:
    with urllib.request.urlopen(req, timeout=2) as resp:
        sys.exit(0 if resp.status == 200 and b"TableNames" in resp.read() else 1)
except Exception:
    sys.exit(1)
PY
}

# One readiness probe of moto server: its dashboard API answers 200.
probe_moto() {
    python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# Prints the last lines of a service's log, for failure messages.
log_tail() {
    local name="$1" file="$2"
    printf -- '----- last 40 lines of %s (%s) -----\n' "$name" "$file" >&2
    tail -n 40 "$file" >&2 || true
    printf -- '----- end of %s log -----\n' "$name" >&2
}

# wait_ready NAME PID LOGFILE PROBE URL: polls PROBE URL until it succeeds, the process dies, or the
# timeout passes (then the log tail is printed and the script fails).
wait_ready() {
    local name="$1" pid="$2" logfile="$3" probe="$4" url="$5"
    local started=$SECONDS
    until "$probe" "$url"; do
        if ! kill -0 "$pid" 2>/dev/null || process_is_zombie "$pid"; then
            log_tail "$name" "$logfile"
            die "$name (pid $pid) exited before it answered on $url; its log is above"
        fi
        if ((SECONDS - started >= READY_TIMEOUT_SECONDS)); then
            log_tail "$name" "$logfile"
            die "$name (pid $pid) did not answer on $url within ${READY_TIMEOUT_SECONDS}s; its log is above"
        fi
        sleep 0.2
    done
    log "$name is ready on $url (pid $pid, $((SECONDS - started))s)"
}

process_is_zombie() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [[ "$state" == Z* ]]
}

record_service() {
    HERALD_SERVICE_NAMES+=("$1")
    HERALD_SERVICE_PIDS+=("$2")
    printf '%s\n' "$2" >"$HERALD_LOG_DIR/$1.pid"
}

# Starts both services in the background and waits for both. Exports the endpoints for the tests.
start_services() {
    HERALD_LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/herald-test.XXXXXX")
    local ports
    ports=$(pick_free_ports)
    read -r HERALD_DYNAMODB_PORT HERALD_MOTO_PORT <<<"$ports"

    local ddb_dir
    ddb_dir=$(dynamodb_local_dir) || die "DynamoDB Local is not installed under node_modules/"
    # DynamoDB Local has no bind-address option: it listens on every interface on this port.
    (
        cd "$ddb_dir" || exit 1
        exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
            -inMemory -sharedDb -disableTelemetry -port "$HERALD_DYNAMODB_PORT"
    ) >"$HERALD_LOG_DIR/dynamodb-local.log" 2>&1 &
    record_service dynamodb-local $!

    .venv/bin/moto_server -H 127.0.0.1 -p "$HERALD_MOTO_PORT" >"$HERALD_LOG_DIR/moto.log" 2>&1 &
    record_service moto $!

    log "service logs in $HERALD_LOG_DIR"
    wait_ready "DynamoDB Local" "${HERALD_SERVICE_PIDS[0]}" "$HERALD_LOG_DIR/dynamodb-local.log" \
        probe_dynamodb "http://127.0.0.1:$HERALD_DYNAMODB_PORT"
    wait_ready "moto server" "${HERALD_SERVICE_PIDS[1]}" "$HERALD_LOG_DIR/moto.log" \
        probe_moto "http://127.0.0.1:$HERALD_MOTO_PORT"
}

# Stops every service this run started, by PID: TERM, then KILL after 10 s. Safe to call twice.
stop_services() {
    local i pid name
    for i in "${!HERALD_SERVICE_PIDS[@]}"; do
        kill -TERM "${HERALD_SERVICE_PIDS[$i]}" 2>/dev/null || true
    done
    for i in "${!HERALD_SERVICE_PIDS[@]}"; do
        pid="${HERALD_SERVICE_PIDS[$i]}"
        name="${HERALD_SERVICE_NAMES[$i]}"
        local waited=0
        while kill -0 "$pid" 2>/dev/null && ! process_is_zombie "$pid"; do
            if ((waited >= 100)); then
                log "$name (pid $pid) ignored TERM for 10 s; sending KILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        wait "$pid" 2>/dev/null || true
    done
    HERALD_SERVICE_PIDS=()
    HERALD_SERVICE_NAMES=()
}
