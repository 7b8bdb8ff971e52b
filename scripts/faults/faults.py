#!/usr/bin/env python3
"""Client side of the fault test (scripts/faults/run.sh). Standard library only.

  faults.py populate STATE  -- register the organisations, upload the model, submit the runs
  faults.py verify STATE    -- wait for every run and for the events to settle, then check

Settings come from the environment run.sh exports (FAULT_*); STATE is a JSON file that
carries the tokens and simulation ids from one step to the next.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

API = os.environ.get("FAULT_API", "http://127.0.0.1:8080")
TERMINAL = {"completed", "failed", "cancelled"}
SAMPLINGS = ["mc", "lhs", "sobol"]
# Statistics compared with the undisturbed run (ultra run), relative tolerance 1e-12.
STATISTICS = ["count", "errors", "mean", "std", "min", "max", "skewness", "kurtosis", "std_error"]
REL_TOL = 1e-12


def log(message):
    print(f"[faults {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- HTTP -------------------------------------------------------------------------------


def http(method, path, token=None, body=None, content_type="application/json", timeout=30):
    """(status, parsed JSON or text). Connection errors come back as status 0."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["content-type"] = content_type
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except (urllib.error.URLError, OSError) as error:
        return 0, str(error)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def http_ok(method, path, token=None, body=None, content_type="application/json", expect=(200,),
            attempts=30):
    """Like http(), retrying 0/5xx answers (a service restarting) with a back-off."""
    for attempt in range(attempts):
        status, payload = http(method, path, token, body, content_type)
        if status in expect:
            return payload
        if status != 0 and status < 500 and status != 429:
            raise SystemExit(f"{method} {path}: HTTP {status}: {payload}")
        time.sleep(min(0.2 * (attempt + 1), 2.0))
    raise SystemExit(f"{method} {path}: still failing after {attempts} attempts: {status} {payload}")


def multipart(field, filename, content, content_type):
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# --- Redis (a minimal RESP client) ------------------------------------------------------


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def __call__(self, *args):
        out = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = self.file.read(length + 2)[:-2]
            return data
        if kind == b"*":
            length = int(rest)
            return None if length < 0 else [self._read() for _ in range(length)]
        raise RuntimeError(f"unexpected RESP reply {line!r}")


def text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def pairs(values):
    return {text(values[i]): values[i + 1] for i in range(0, len(values), 2)}


# --- PostgreSQL (through psql) -----------------------------------------------------------


def psql(database, sql):
    """Rows of `sql` as lists of strings; None when the relation does not exist."""
    command = ["psql", "-h", "127.0.0.1", "-p", os.environ["FAULT_PG_PORT"], "-U", "postgres",
               "-d", database, "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        if "does not exist" in done.stderr:
            return None
        raise SystemExit(f"psql {database}: {sql}: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


# --- populate ----------------------------------------------------------------------------


def seed_of(index):
    # Distinct 64-bit seeds, most above 2^63 (stored as two's-complement BIGINT).
    return (0x9E3779B97F4A7C15 * (index + 1)) % (1 << 64)


def populate(state_path):
    orgs = int(os.environ["FAULT_ORGS"])
    per_org = int(os.environ["FAULT_PER_ORG"])
    iterations = int(os.environ["FAULT_ITERATIONS"])
    model_path = os.environ["FAULT_MODEL"]
    with open(model_path, "rb") as handle:
        model_bytes = handle.read()
    state = {"orgs": [], "model": model_path}
    run_tag = uuid.uuid4().hex[:8]
    for org in range(orgs):
        email = f"owner{org}-{run_tag}@faults.example.com"
        password = f"a long password number {org}"
        http_ok("POST", "/v1/auth/register", body={
            "email": email, "password": password,
            "organization_name": f"Fault Org {org}"}, expect=(200, 201))
        tokens = http_ok("POST", "/v1/auth/token", body={"email": email, "password": password})
        token = tokens["access_token"]
        me = http_ok("GET", "/v1/me", token)
        body, content_type = multipart("file", "npv10.json", model_bytes, "application/json")
        model = http_ok("POST", "/v1/models", token, body, content_type, expect=(200, 201))
        state["orgs"].append({
            "index": org, "email": email, "password": password, "token": token,
            "refresh_token": tokens.get("refresh_token"), "org_id": me.get("org_id"),
            "model_id": model["id"], "simulations": []})
    # Interleave the organisations' submissions, as concurrent tenants would.
    # Each organisation runs a different size (100%, 90%, ... of FAULT_ITERATIONS), so that
    # the per-organisation compute units differ and a lost or doubled entry shows.
    index = 0
    for k in range(per_org):
        for org in state["orgs"]:
            size = iterations - org["index"] * iterations // (2 * orgs)
            request = {"model_id": org["model_id"], "iterations": size,
                       "seed": seed_of(index), "sampling": SAMPLINGS[index % len(SAMPLINGS)],
                       "engine": "cpu"}
            simulation = http_ok("POST", "/v1/simulations", org["token"], request, expect=(202,))
            org["simulations"].append({"id": simulation["id"], "seed": request["seed"],
                                       "sampling": request["sampling"], "iterations": size})
            index += 1
    with open(state_path, "w") as handle:
        json.dump(state, handle, indent=1)
    log(f"{orgs} organisations registered, model uploaded per organisation, "
        f"{index} simulations submitted ({iterations - (orgs - 1) * iterations // (2 * orgs)} to "
        f"{iterations} iterations, sampling mc/lhs/sobol, engine cpu)")


# --- verify ------------------------------------------------------------------------------


def refresh(org):
    """A fresh access token (they live 15 minutes; the run may outlast one)."""
    tokens = http_ok("POST", "/v1/auth/token", body={"email": org["email"], "password": org["password"]})
    org["token"] = tokens["access_token"]


def wait_for_runs(state, deadline):
    """Polls each organisation's list until every run is terminal. Returns {id: view}."""
    wanted = {sim["id"] for org in state["orgs"] for sim in org["simulations"]}
    last_report = 0.0
    last_refresh = time.time()
    while True:
        if time.time() - last_refresh > 300:
            for org in state["orgs"]:
                refresh(org)
            last_refresh = time.time()
        views = {}
        for org in state["orgs"]:
            listed = http_ok("GET", "/v1/simulations?page_size=100", org["token"])
            for view in listed["simulations"]:
                if view["id"] in wanted:
                    views[view["id"]] = view
        done = [v for v in views.values() if v["status"] in TERMINAL]
        if len(done) == len(wanted):
            return views
        if time.time() - last_report > 10:
            statuses = {}
            for view in views.values():
                statuses[view["status"]] = statuses.get(view["status"], 0) + 1
            log(f"waiting for the runs: {dict(sorted(statuses.items()))}")
            last_report = time.time()
        if time.time() > deadline:
            raise TimeoutError(f"only {len(done)} of {len(wanted)} runs finished in time")
        time.sleep(2)


def undisturbed(ultra, model, iterations, seed, sampling):
    command = [ultra, "run", model, "--iterations", str(iterations), "--seed", str(seed),
               "--sampling", sampling, "--engine", "cpu", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def rel_diff(a, b):
    if a == b:
        return 0.0
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        scale = max(abs(a), abs(b))
        return abs(a - b) / scale if scale else abs(a - b)
    return float("inf")


def event_settlement(state, services):
    """Counts that must settle to zero / to one per simulation once every event is through."""
    out = {}
    out["outbox"] = {}
    for service in services:
        rows = psql(f"ultra_{service}", "SELECT count(*) FROM outbox")
        if rows is not None:
            out["outbox"][service] = int(rows[0][0])
    redis = Redis(int(os.environ["FAULT_REDIS_PORT"]))
    stream = os.environ.get("FAULT_STREAM", "ultra:events")
    groups = {}
    for group in redis("XINFO", "GROUPS", stream) or []:
        info = pairs(group)
        name = text(info["name"])
        summary = redis("XPENDING", stream, name)
        groups[name] = {"pending": int(summary[0]),
                        "lag": None if info.get("lag") is None else int(info["lag"]),
                        "last_delivered": text(info.get("last-delivered-id"))}
    out["groups"] = groups
    out["stream_length"] = redis("XLEN", stream)
    out["dead_letters"] = redis("XLEN", stream + ":dead")
    # Every entry of the stream, by event type: entries and distinct event ids.
    by_type = {}
    entries = redis("XRANGE", stream, "-", "+")
    for _entry_id, fields in entries:
        fields = pairs(fields)
        kind = text(fields.get("type"))
        by_type.setdefault(kind, {"entries": 0, "ids": set()})
        by_type[kind]["entries"] += 1
        by_type[kind]["ids"].add(text(fields.get("id")))
    out["stream_by_type"] = by_type
    return out


def settled(counts, expected_completed):
    completed = counts["stream_by_type"].get("simulation.completed", {"ids": set()})
    return (all(n == 0 for n in counts["outbox"].values())
            and all(g["pending"] == 0 and (g["lag"] in (0, None)) for g in counts["groups"].values())
            and len(completed["ids"]) >= expected_completed)


def verify(state_path):
    with open(state_path) as handle:
        state = json.load(handle)
    ultra = os.environ["FAULT_ULTRA"]
    timeout = float(os.environ.get("FAULT_TIMEOUT_S", "600"))
    settle_timeout = float(os.environ.get("FAULT_SETTLE_TIMEOUT_S", "120"))
    services = ["users", "files", "simulation", "results", "billing", "analytics"]
    failures = []

    def check(ok, message):
        print(f"  [{'ok' if ok else 'FAIL'}] {message}", flush=True)
        if not ok:
            failures.append(message)

    for org in state["orgs"]:
        refresh(org)
    started = time.time()
    views = wait_for_runs(state, started + timeout)
    log(f"every run finished {time.time() - started:.1f}s after the faults")

    # --- results against the undisturbed run --------------------------------------------
    sims = [(org, sim) for org in state["orgs"] for sim in org["simulations"]]
    completed = [views[sim["id"]] for _, sim in sims if views[sim["id"]]["status"] == "completed"]
    worst = 0.0
    mismatches = []
    run_units = {}
    for org, sim in sims:
        view = views[sim["id"]]
        run_units.setdefault(org["org_id"], []).append(view["compute_units"])
        if view["status"] != "completed":
            mismatches.append(f"{sim['id']}: status {view['status']} {view.get('error', '')}")
            continue
        results = http_ok("GET", f"/v1/simulations/{sim['id']}/results", org["token"])
        reference = undisturbed(ultra, state["model"], sim["iterations"], sim["seed"], sim["sampling"])
        if results["seed"] != sim["seed"] or results["iterations"] != sim["iterations"]:
            mismatches.append(f"{sim['id']}: seed/iterations {results['seed']}/{results['iterations']}")
        if rel_diff(results["compute_units"], reference["compute_units"]) > REL_TOL:
            mismatches.append(f"{sim['id']}: compute_units {results['compute_units']} vs {reference['compute_units']}")
        if rel_diff(view["compute_units"], reference["compute_units"]) > REL_TOL:
            mismatches.append(f"{sim['id']}: simulation compute_units {view['compute_units']} vs {reference['compute_units']}")
        for name, expected in reference["outputs"].items():
            got = results["outputs"].get(name)
            if got is None:
                mismatches.append(f"{sim['id']}: output {name} missing")
                continue
            keys = [(k, got[k], expected[k]) for k in STATISTICS]
            keys += [(f"percentiles.{p}", got["percentiles"][p], value)
                     for p, value in expected["percentiles"].items() if p in got["percentiles"]]
            for key, a, b in keys:
                diff = rel_diff(a, b)
                worst = max(worst, diff)
                if diff > REL_TOL:
                    mismatches.append(f"{sim['id']} ({sim['sampling']}, seed {sim['seed']}): "
                                      f"{name}.{key} {a!r} vs undisturbed {b!r}")
    rows = psql("ultra_simulation", "SELECT attempts, count(*) FROM simulations GROUP BY attempts ORDER BY attempts")
    attempts = {int(a): int(n) for a, n in rows}

    print()
    print("=== fault test results ===")
    total = len(sims)
    print(f"simulations submitted:            {total} ({len(state['orgs'])} organisations)")
    print(f"simulations completed:            {len(completed)}")
    print(f"claims per simulation (attempts): "
          + ", ".join(f"{n} run(s) claimed {a}x" for a, n in sorted(attempts.items())))
    print(f"largest relative difference from the undisturbed run (ultra run, same model/seed/"
          f"iterations/sampling), over {len(STATISTICS)} statistics + percentiles of each output: {worst:.3g}")
    check(len(completed) == total, f"all {total} simulations completed")
    check(not mismatches, "every result equals the undisturbed run's (relative tolerance 1e-12)"
          + ("" if not mismatches else ": " + "; ".join(mismatches[:10])))

    # --- events settle -------------------------------------------------------------------
    deadline = time.time() + settle_timeout
    while True:
        counts = event_settlement(state, services)
        if settled(counts, total) or time.time() > deadline:
            break
        time.sleep(2)

    # --- billing ledger ------------------------------------------------------------------
    sim_ids = {sim["id"] for _, sim in sims}
    ledger = psql("ultra_billing", "SELECT simulation_id, org_id, compute_units, event_id FROM usage_ledger")
    per_sim = {}
    for simulation_id, _org, _units, _event in ledger:
        per_sim[simulation_id] = per_sim.get(simulation_id, 0) + 1
    histogram = {}
    for simulation_id in sim_ids:
        n = per_sim.get(simulation_id, 0)
        histogram[n] = histogram.get(n, 0) + 1
    foreign = set(per_sim) - sim_ids
    print(f"billing usage_ledger entries:     {len(ledger)}")
    print("ledger entries per simulation:    " + ", ".join(
        f"{count} simulation(s) with {n} entr{'y' if n == 1 else 'ies'}" for n, count in sorted(histogram.items())))
    check(len(ledger) == total and histogram == {1: total} and not foreign,
          "billing's usage ledger holds exactly one entry per simulation")
    ledger_units = {}
    for _sim, org_id, units, _event in ledger:
        ledger_units[org_id] = ledger_units.get(org_id, 0.0) + float(units)
    sql_units = {org: float(units) for org, units in
                 psql("ultra_billing", "SELECT org_id, SUM(compute_units) FROM usage_ledger GROUP BY org_id")}
    print("per-organisation compute units (billing ledger SUM vs sum over the org's runs):")
    units_ok = True
    for org in state["orgs"]:
        org_id = org["org_id"]
        runs = sum(run_units.get(org_id, []))
        billed = sql_units.get(org_id, 0.0)
        ok = rel_diff(billed, runs) <= 1e-9 and len(run_units.get(org_id, [])) == len(org["simulations"])
        units_ok &= ok
        print(f"  org {org['index']} {org_id}: billed {billed:.12g} = runs {runs:.12g} "
              f"({len(run_units.get(org_id, []))} runs)  {'ok' if ok else 'MISMATCH'}")
    check(units_ok and set(sql_units) <= {org["org_id"] for org in state["orgs"]},
          "per-organisation compute units equal the sum over their runs")

    # --- analytics copy --------------------------------------------------------------------
    analytics = psql("ultra_analytics", "SELECT simulation_id, count(*) FROM usage_events GROUP BY simulation_id")
    print(f"analytics usage_events:           {sum(int(n) for _, n in analytics)} "
          f"for {len(analytics)} simulations")
    check(len(analytics) == total and all(int(n) == 1 for _, n in analytics)
          and {s for s, _ in analytics} == sim_ids, "analytics holds exactly one usage event per simulation")

    # --- nothing unprocessed -------------------------------------------------------------
    print("outbox rows not yet published:    " + ", ".join(f"{s} {n}" for s, n in counts["outbox"].items()))
    check(all(n == 0 for n in counts["outbox"].values()), "every outbox is empty")
    print(f"redis stream {os.environ.get('FAULT_STREAM', 'ultra:events')}: {counts['stream_length']} entries; "
          + ", ".join(f"{kind} {v['entries']} entries / {len(v['ids'])} events"
                      for kind, v in sorted(counts["stream_by_type"].items())))
    for name, group in sorted(counts["groups"].items()):
        print(f"consumer group {name}: XPENDING {group['pending']}, lag {group['lag']}, "
              f"last delivered {group['last_delivered']}")
    check(set(counts["groups"]) >= {"billing", "analytics"}, "the billing and analytics groups exist")
    check(all(g["pending"] == 0 for g in counts["groups"].values()), "no consumer group has a pending (unacked) entry")
    check(all(g["lag"] in (0, None) for g in counts["groups"].values()), "every consumer group has read the whole stream (lag 0)")
    print(f"dead-letter stream entries:       {counts['dead_letters']}")
    check(counts["dead_letters"] == 0, "nothing was dead-lettered")
    completed_ids = counts["stream_by_type"].get("simulation.completed", {"ids": set()})["ids"]
    ledger_events = {event for _, _, _, event in ledger}
    for service in ("billing", "analytics"):
        processed = {row[0] for row in psql(f"ultra_{service}", "SELECT event_id FROM processed_events")}
        print(f"{service} processed_events:       {len(processed)} "
              f"(simulation.completed events in the stream: {len(completed_ids)})")
        check(processed == completed_ids and len(completed_ids) == total,
              f"{service} processed every simulation.completed event exactly once")
    check(ledger_events == completed_ids, "the ledger's event ids are exactly the completed events")

    print()
    if failures:
        print(f"FAULT TEST FAILED: {len(failures)} check(s) failed")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("FAULT TEST PASSED")
    return 0


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("populate", "verify"):
        raise SystemExit(__doc__)
    if sys.argv[1] == "populate":
        populate(sys.argv[2])
        return 0
    return verify(sys.argv[2])


if __name__ == "__main__":
    sys.exit(main())
