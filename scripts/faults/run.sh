#!/usr/bin/env bash
# Fault test: the platform as separate processes on PostgreSQL and Redis, 50 simulations
# from 5 organisations, and while they run: kill -9 of the simulation service (restarted
# under a new instance id, so its job is taken over through the lease), a Redis restart
# and a PostgreSQL restart, once each. Then: every run completed with the results of an
# undisturbed run (`ultra run`, same model/seed/iterations/sampling: the engine is
# deterministic), billing's ledger holds one entry per simulation and per-org compute units
# equal the sum over the runs, and no event sits unprocessed (outboxes empty, consumer
# groups with nothing pending and no lag, nothing dead-lettered, each completed event
# processed once by billing and analytics). Prints the counts; exits non-zero on a failure.
#
#   scripts/faults/run.sh                     # builds ultra-cli (release) first, ~2 min run
#   FAULT_PROFILE=dev scripts/faults/run.sh   # the dev build instead (what scripts/test.sh
#                                             # already built; the engine is opt-level 3 there)
#   FAULT_ULTRA_BIN=path/to/ultra scripts/faults/run.sh   # a given binary, no build
#
# Needs: postgresql (initdb, pg_ctl, psql; PostgreSQL 15's /usr/lib/postgresql/*/bin is
# searched), redis-server, python3. As root, PostgreSQL runs as the `postgres` user.
# Knobs (environment): FAULT_ORGS (5), FAULT_PER_ORG (10), FAULT_ITERATIONS (1000000),
# FAULT_SIM_THREADS (1: engine threads per job, keeps the runs long enough to be hit),
# FAULT_LEASE_MS (4000), FAULT_TIMEOUT_S (600), FAULT_SETTLE_TIMEOUT_S (120),
# FAULT_KEEP=1 (keep the temp dir and its logs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/scripts/faults"
ORGS=${FAULT_ORGS:-5}
PER_ORG=${FAULT_PER_ORG:-10}
ITERATIONS=${FAULT_ITERATIONS:-1000000}
SIM_THREADS=${FAULT_SIM_THREADS:-1}
LEASE_MS=${FAULT_LEASE_MS:-4000}
TOTAL=$((ORGS * PER_ORG))
SERVICES=(users files simulation results billing analytics)

say() { echo "[faults $(date +%H:%M:%S)] $*"; }

# Only the variables this script sets reach the platform.
for variable in $(compgen -e | grep '^ULTRA_' || true); do unset "$variable"; done

if [[ -n "${FAULT_ULTRA_BIN:-}" ]]; then
    ULTRA=$(realpath "$FAULT_ULTRA_BIN")
else
    case ${FAULT_PROFILE:-release} in
        release) profile_flag=(--release) profile_dir=release ;;
        dev) profile_flag=() profile_dir=debug ;;
        *) echo "FAULT_PROFILE is release or dev" >&2; exit 2 ;;
    esac
    say "building ultra-cli (${FAULT_PROFILE:-release})"
    (cd "$ROOT" && cargo build "${profile_flag[@]}" -p ultra-cli --locked)
    ULTRA="${CARGO_TARGET_DIR:-$ROOT/target}/$profile_dir/ultra"
    [[ "$ULTRA" = /* ]] || ULTRA="$ROOT/$ULTRA"
fi
[[ -x "$ULTRA" ]] || { echo "no ultra binary at $ULTRA" >&2; exit 2; }

PGBIN=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)" 2>/dev/null || true)
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then PGBIN=$(dirname "$(command -v initdb)"); fi
for tool in redis-server redis-cli psql python3; do
    command -v $tool >/dev/null || { echo "$tool is required" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/ultra-faults.XXXXXX)
PGDIR=$(mktemp -d /tmp/ultra-faults-pg.XXXXXX)
LOGS="$WORK/logs"
mkdir -p "$LOGS" "$WORK/redis" "$WORK/objects"
declare -A PIDS=()
REDIS_PID=""
AS_PG=()
if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$PGDIR"
    AS_PG=(runuser -u postgres --)
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_pid() { # pid, signal: signal it and wait (10 s) for it to go
    local pid=$1 signal=${2:-TERM}
    kill -"$signal" "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "${PIDS[gateway]:-}" ]]; then stop_pid "${PIDS[gateway]}"; fi
    for name in "${!PIDS[@]}"; do stop_pid "${PIDS[$name]}"; done
    if [[ -n "$REDIS_PID" ]]; then stop_pid "$REDIS_PID"; fi
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    if [[ $status -ne 0 ]]; then
        echo "--- last lines of the logs ($LOGS) ---"
        for log in "$LOGS"/*.log "$PGDIR/postgres.log"; do
            [[ -f "$log" ]] || continue
            echo "== $(basename "$log")"
            grep -E 'WARN|ERROR|panick|FATAL' "$log" | tail -15 || true
            tail -5 "$log"
        done
    fi
    if [[ "${FAULT_KEEP:-0}" == 1 ]]; then
        cp "$PGDIR/postgres.log" "$LOGS/" 2>/dev/null || true
        echo "kept $WORK (logs in $LOGS)"
    else
        rm -rf "$WORK"
    fi
    rm -rf "$PGDIR"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL -----------------------------------------------------------------------
PG_PORT=$(free_port)
pg_start() {
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/postgres.log" -w -t 60 \
        -o "-p $PG_PORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        start >/dev/null
}
pg_stop() { "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop >/dev/null; }
"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
pg_start
for service in "${SERVICES[@]}"; do
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE ultra_$service" >/dev/null
done
sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "ultra_$1" -Atc "$2"; }
say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT, one database per service"

# --- Redis ----------------------------------------------------------------------------
REDIS_PORT=$(free_port)
redis_start() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" \
        --appendonly yes --appendfsync always --daemonize no >>"$LOGS/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && return 0
        sleep 0.1
    done
    echo "redis-server did not start" >&2
    return 1
}
redis_stop() { # SHUTDOWN: the append-only file is flushed, the stream survives the restart
    redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
    stop_pid "$REDIS_PID"
    REDIS_PID=""
}
redis_start
say "redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT (append-only file)"

# --- the platform ---------------------------------------------------------------------
declare -A PORT=()
for name in "${SERVICES[@]}" gateway; do PORT[$name]=$(free_port); done
export ULTRA_JWT_SECRET
ULTRA_JWT_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export ULTRA_MASTER_KEY
ULTRA_MASTER_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
# Signs the caller metadata of every gRPC request; `ultra service` refuses to start without it.
export ULTRA_SERVICE_SECRET
ULTRA_SERVICE_SECRET=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
for service in "${SERVICES[@]}"; do
    upper=${service^^}
    export "ULTRA_${upper}_URL=http://127.0.0.1:${PORT[$service]}"
    export "ULTRA_${upper}_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/ultra_$service"
done
export ULTRA_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export ULTRA_FILES_STORAGE_DIR="$WORK/objects"
export ULTRA_DB_MAX_CONNECTIONS=5
export ULTRA_SIMULATION_LEASE_MS=$LEASE_MS
export ULTRA_SIMULATION_THREADS=$SIM_THREADS
export ULTRA_SIMULATION_NICE=0
# The gateway's per-organisation request rate and the free plan's limits are not under
# test here (this script polls and submits more than a free organisation may).
export ULTRA_RATE_LIMIT=off
export ULTRA_PLAN_LIMITS='{"free": {"max_concurrent_simulations": 1000, "api_requests_per_minute": 100000, "api_burst": 100000}}'
export RUST_LOG=${RUST_LOG:-info}
export NO_COLOR=1  # plain logs

start_service() { # name [instance id]
    local name=$1
    if [[ $name == simulation ]]; then
        ULTRA_LISTEN="127.0.0.1:${PORT[$name]}" ULTRA_SIMULATION_INSTANCE_ID="$2" \
            "$ULTRA" service simulation >>"$LOGS/simulation.log" 2>&1 &
    else
        ULTRA_LISTEN="127.0.0.1:${PORT[$name]}" "$ULTRA" service "$name" >>"$LOGS/$name.log" 2>&1 &
    fi
    PIDS[$name]=$!
}
for service in "${SERVICES[@]}"; do
    if [[ $service == simulation ]]; then start_service simulation sim-a; else start_service "$service"; fi
done
ULTRA_LISTEN="127.0.0.1:${PORT[gateway]}" "$ULTRA" gateway >>"$LOGS/gateway.log" 2>&1 &
PIDS[gateway]=$!
export FAULT_API="http://127.0.0.1:${PORT[gateway]}"

wait_ready() { # seconds: until /readyz answers 200; prints how long that took
    local start now
    start=$(date +%s%N)
    while true; do
        for name in "${!PIDS[@]}"; do
            kill -0 "${PIDS[$name]}" 2>/dev/null || { echo "$name exited" >&2; return 1; }
        done
        now=$(date +%s%N)
        if [[ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$FAULT_API/readyz")" == 200 ]]; then
            awk -v ns=$((now - start)) 'BEGIN { printf "%.1f", ns / 1e9 }'
            return 0
        fi
        if (((now - start) / 1000000000 >= $1)); then
            echo "not ready within $1 s" >&2
            return 1
        fi
        sleep 0.2
    done
}
wait_ready 120 >/dev/null
say "platform ready: 6 services as separate processes + gateway on $FAULT_API (simulation lease ${LEASE_MS} ms, ${SIM_THREADS} engine thread(s))"

# --- load -----------------------------------------------------------------------------
export FAULT_ORGS=$ORGS FAULT_PER_ORG=$PER_ORG FAULT_ITERATIONS=$ITERATIONS
export FAULT_MODEL="$ROOT/examples/npv10.json" FAULT_ULTRA="$ULTRA"
export FAULT_PG_PORT=$PG_PORT FAULT_REDIS_PORT=$REDIS_PORT
python3 "$HERE/faults.py" populate "$WORK/state.json"

counts() { sql simulation "SELECT status || ' ' || count(*) FROM simulations GROUP BY status ORDER BY status" | paste -sd, -; }
running() { sql simulation "SELECT id || ' at ' || completed_iterations || '/' || iterations || ' iterations' FROM simulations WHERE status = 'running' ORDER BY completed_iterations LIMIT 1"; }
completed() { sql simulation "SELECT count(*) FROM simulations WHERE status = 'completed'"; }
# Waits until at least $1 runs completed and one is running, past its first progress write
# and short of its last iteration (mid-computation).
wait_for_work() {
    local start=$SECONDS
    while ((SECONDS - start < 300)); do
        if (($(completed) >= $1)) &&
            (($(sql simulation "SELECT count(*) FROM simulations WHERE status = 'running' AND completed_iterations > 0 AND completed_iterations < iterations") > 0)); then
            return 0
        fi
        if (($(completed) >= TOTAL)); then
            echo "every run finished before the fault: raise FAULT_ITERATIONS" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "no running work to hit" >&2
    return 1
}

# --- faults, once each, while runs are in flight ---------------------------------------
wait_for_work $((TOTAL / 10))
say "before kill -9: $(counts)"
victim=$(running)
kill -KILL "${PIDS[simulation]}"
wait "${PIDS[simulation]}" 2>/dev/null || true
say "FAULT 1: kill -9 of the simulation service (pid ${PIDS[simulation]}) while running $victim"
sleep 1
start_service simulation sim-b
took=$(wait_ready 120)
say "simulation service restarted as instance sim-b (pid ${PIDS[simulation]}); platform ready after ${took} s"

wait_for_work $((TOTAL * 4 / 10))
say "before the Redis restart: $(counts)"
redis_stop
say "FAULT 2: redis-server shut down while running $(running)"
sleep 3
say "events waiting in the outboxes while Redis is down: simulation $(sql simulation "SELECT count(*) FROM outbox"), users $(sql users "SELECT count(*) FROM outbox"), files $(sql files "SELECT count(*) FROM outbox")"
redis_start
took=$(wait_ready 120)
say "redis-server started again on the same port and data; platform ready after ${took} s"

wait_for_work $((TOTAL * 6 / 10))
say "before the PostgreSQL restart: $(counts)"
busy=$(running)
pg_stop
say "FAULT 3: PostgreSQL stopped (fast shutdown) while running $busy"
sleep 3
pg_start
took=$(wait_ready 120)
say "PostgreSQL started again; platform ready after ${took} s; $(counts)"

# --- checks ---------------------------------------------------------------------------
python3 "$HERE/faults.py" verify "$WORK/state.json"
