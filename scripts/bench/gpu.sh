#!/usr/bin/env bash
# GPU benchmark (issue 5): iterations per second of the ten-year NPV model (examples/
# npv10.ir.json) and of a generated 1,000-cell model on the fused CPU executor (every core)
# and on the wgpu executor, side by side, and which adapter ran. GPU runs use Monte Carlo
# sampling and on-device statistics (moments, min and max over every iteration; 100,000
# kept samples for percentiles); `--host-stats` times the mode that brings every sample
# back instead, `--parity` first prints GPU-vs-CPU differences of npv10's statistics at
# 1,000,000 iterations. Each figure is the best of REPEAT timed runs of about SECONDS each.
#
#   scripts/bench/gpu.sh [--seconds 1] [--repeat 3] [--gpu-iterations 1e11 cap]
#                        [--cpu-iterations 5e7 cap] [--host-stats] [--parity]
#
# Needs a Vulkan driver: a GPU's, or Mesa's lavapipe (apt-get install mesa-vulkan-drivers).
# ULTRA_GPU_ADAPTER picks an adapter by name; ULTRA_GPU_INT64=0 forces the emulated
# 32x32->64 multiply in Philox.
set -euo pipefail
cd "$(dirname "$0")/../.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
cargo build --release --locked --quiet -p ultra-gpu --example gpu_bench
exec "${CARGO_TARGET_DIR:-target}"/release/examples/gpu_bench \
  --gpu-iterations 100000000000 --cpu-iterations 50000000 "$@"
