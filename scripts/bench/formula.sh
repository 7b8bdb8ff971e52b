#!/usr/bin/env bash
# Formula benchmark (issue 3): the workbook examples/npv10.xlsx through `ultra run` against
# the same workbook run as a Monte Carlo loop by the Python spreadsheet engines pycel and
# `formulas` (npv10_python_engines.py, SECONDS of iterations each), side by side with the
# ratios, in this one script.
#
#   scripts/bench/formula.sh [SECONDS] [REPEAT]
#
# ENGINE=cpu (default): `ultra run --engine cpu`, LHS, sensitivity on, 1,000,000 iterations,
#   best of REPEAT.
# ENGINE=gpu: `ultra run --engine gpu`, Monte Carlo, no sensitivity, on-device statistics,
#   ITERATIONS (default 5e10) iterations, best of REPEAT; the time includes opening the
#   device and compiling the shader.
# ULTRA_BIN: use this `ultra` binary instead of building one (for a machine without cargo).
# PY_ENGINES: comma-separated subset of pycel,formulas (default both).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
repeat=${2:-3}
engine=${ENGINE:-cpu}
py_engines=${PY_ENGINES:-pycel,formulas}

python3 -c 'import numpy, scipy, openpyxl, pycel' 2>/dev/null ||
  python3 -m pip install --quiet numpy scipy openpyxl pycel
case ",$py_engines," in
  *,formulas,*) python3 -c 'import formulas' 2>/dev/null || python3 -m pip install --quiet formulas ;;
esac
if [ -n "${ULTRA_BIN:-}" ]; then
  ultra=$ULTRA_BIN
else
  cargo build --release --locked --quiet -p ultra-cli
  ultra="${CARGO_TARGET_DIR:-target}"/release/ultra
fi

case "$engine" in
  cpu) iterations=${ITERATIONS:-1000000}
       args=(--sampling lhs --engine cpu)
       label="ultra run (cpu, lhs, sensitivity)" ;;
  gpu) iterations=${ITERATIONS:-50000000000}
       args=(--sampling mc --engine gpu --no-sensitivity --max-iterations "$iterations")
       label="ultra run (gpu, mc, on-device stats)" ;;
  *) echo "ENGINE must be cpu or gpu" >&2; exit 2 ;;
esac

best_ms=""
for _ in $(seq "$repeat"); do
  ms=$("$ultra" run examples/npv10.xlsx --iterations "$iterations" --seed 42 "${args[@]}" --format json |
       python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["elapsed_ms"]); print(d["engine"], d.get("adapter"), d["outputs"]["NPV"]["mean"], file=sys.stderr)')
  if [ -z "$best_ms" ] || python3 -c "import sys; sys.exit(0 if $ms < $best_ms else 1)"; then best_ms=$ms; fi
done

python3 scripts/bench/npv10_python_engines.py examples/npv10.xlsx "$seconds" "$py_engines" 2>/dev/null |
python3 -c '
import json, sys
n, ms, label = int(float(sys.argv[1])), float(sys.argv[2]), sys.argv[3]
ultra = n / (ms / 1e3)
print("npv10.xlsx Monte Carlo, iterations per second")
print("%-38s %18s   (%d iterations in %.3f s)" % (label + ":", format(ultra, ",.0f"), n, ms / 1e3))
for line in sys.stdin:
    r = json.loads(line)
    print("%-38s %18s   (%d iterations in %.1f s)   ultra is %sx"
          % (r["engine"] + ":", format(r["rate"], ",.1f"), r["iterations"], r["seconds"], format(ultra / r["rate"], ",.0f")))
' "$iterations" "$best_ms" "$label"
