#!/usr/bin/env bash
# Formula benchmark (issue 3): the workbook examples/npv10.xlsx through `ultra run` (CPU,
# LHS, sensitivity on, 1,000,000 iterations, best of REPEAT) against the same workbook run
# as a Monte Carlo loop by the Python spreadsheet engines pycel and `formulas`
# (npv10_python_engines.py, SECONDS of iterations each), side by side with the ratios.
#
#   scripts/bench/formula.sh [SECONDS] [REPEAT]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-20}
repeat=${2:-3}
iterations=1000000

python3 -c 'import numpy, scipy, openpyxl, pycel, formulas' 2>/dev/null ||
  python3 -m pip install --quiet numpy scipy openpyxl pycel formulas
cargo build --release --locked --quiet -p ultra-cli

best_ms=""
for _ in $(seq "$repeat"); do
  ms=$("${CARGO_TARGET_DIR:-target}"/release/ultra run examples/npv10.xlsx --iterations "$iterations" --seed 42 \
        --sampling lhs --engine cpu --format json |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["elapsed_ms"])')
  if [ -z "$best_ms" ] || python3 -c "import sys; sys.exit(0 if $ms < $best_ms else 1)"; then best_ms=$ms; fi
done

python3 scripts/bench/npv10_python_engines.py examples/npv10.xlsx "$seconds" 2>/dev/null |
python3 -c '
import json, sys
n, ms = int(sys.argv[1]), float(sys.argv[2])
ultra = n / (ms / 1e3)
print("npv10.xlsx Monte Carlo, iterations per second")
print("%-34s %14s   (%d iterations in %.3f s)" % ("ultra run (cpu, lhs, sensitivity):", format(ultra, ",.0f"), n, ms / 1e3))
for line in sys.stdin:
    r = json.loads(line)
    print("%-34s %14s   (%d iterations in %.1f s)   ultra is %sx"
          % (r["engine"] + ":", format(r["rate"], ",.1f"), r["iterations"], r["seconds"], format(ultra / r["rate"], ",.0f")))
' "$iterations" "$best_ms"
