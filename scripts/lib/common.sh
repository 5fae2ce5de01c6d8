# Shared by the scripts: where things are, the venv, and the emulators' lifecycle.
# Source it; it defines functions and sets no options of the caller's.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
STATE="$ROOT/.local"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Creates .venv and installs scripts/requirements.txt into it, once per change of that file.
bootstrap() {
    local req="$ROOT/scripts/requirements.txt" stamp="$VENV/.requirements.sha256"
    local want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    say "installing moto, localstripe and cargo-lambda into $VENV (first run only)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() { # port name log
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "$2 did not start listening on port $1; its log ($3):" >&2
    tail -n 30 "$3" >&2 || true
    return 1
}

# Starts moto and localstripe on free ports and exports what the SDK, the consumer and the
# tests need to find them. Stop them with stop_emulators (the callers trap it on EXIT).
start_emulators() {
    mkdir -p "$STATE"
    local moto_port stripe_port
    moto_port="$(free_port)"
    stripe_port="$(free_port)"
    "$VENV/bin/python" "$ROOT/scripts/lib/moto_serialized.py" "$moto_port" \
        > "$STATE/moto.log" 2>&1 &
    MOTO_PID=$!
    "$VENV/bin/python" "$ROOT/scripts/lib/localstripe_stripe_fields.py" --port "$stripe_port" --from-scratch \
        > "$STATE/localstripe.log" 2>&1 &
    LOCALSTRIPE_PID=$!
    wait_for_port "$moto_port" moto "$STATE/moto.log"
    wait_for_port "$stripe_port" localstripe "$STATE/localstripe.log"

    export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
    export STRIPE_API_BASE="http://127.0.0.1:$stripe_port/"
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
    say "moto (DynamoDB, SQS, Secrets Manager) on $AWS_ENDPOINT_URL, localstripe on $STRIPE_API_BASE"
}

stop_emulators() {
    local pid
    for pid in "${MOTO_PID:-}" "${LOCALSTRIPE_PID:-}"; do
        if [ -n "$pid" ]; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
}

# A Docker engine for `sam local invoke`: the running one, or Debian's docker.io started here
# (installed first where it is missing and this runs as root). vfs works on any filesystem.
# The payhook CLI with its `dev` commands: PAYHOOK_BIN where the caller has built it (the test
# command hands its own build to every script), else built here.
payhook_cli() {
    if [ -n "${PAYHOOK_BIN:-}" ]; then
        echo "$PAYHOOK_BIN"
        return 0
    fi
    cargo build --quiet -p payhook-cli --bin payhook --features dev >&2
    echo "$ROOT/target/debug/payhook"
}

ensure_docker() {
    if docker info > /dev/null 2>&1; then
        return 0
    fi
    if ! command -v dockerd > /dev/null 2>&1 || ! command -v socat > /dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "no Docker engine runs; start one (or run as root to have docker.io installed)" >&2; return 1; }
        say "installing Debian's docker.io and socat"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io socat > "$STATE/apt.log" 2>&1 \
            || { apt-get update -q > /dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io socat > "$STATE/apt.log" 2>&1; }
    fi
    if ! docker info > /dev/null 2>&1; then
        say "starting dockerd (storage driver vfs)"
        dockerd --storage-driver=vfs > "$STATE/dockerd.log" 2>&1 &
        local i
        for i in $(seq 1 60); do
            docker info > /dev/null 2>&1 && return 0
            sleep 0.5
        done
        echo "dockerd did not start; its log ($STATE/dockerd.log):" >&2
        tail -n 20 "$STATE/dockerd.log" >&2
        return 1
    fi
}

# The address a container reaches this host at: the default bridge's gateway.
docker_host_address() {
    local address
    address="$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1)"
    echo "${address:-172.17.0.1}"
}

# Makes a local port reachable from containers, on the bridge's address, until the caller's
# EXIT trap runs stop_forwards.
forward_to_containers() { # port
    local host
    host="$(docker_host_address)"
    # Some services listen on every address already.
    if (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; then
        return 0
    fi
    socat "TCP-LISTEN:$1,bind=$host,fork,reuseaddr" "TCP:127.0.0.1:$1" &
    FORWARD_PIDS="${FORWARD_PIDS:-} $!"
}

stop_forwards() {
    local pid
    for pid in ${FORWARD_PIDS:-}; do
        kill "$pid" 2>/dev/null || true
    done
}
