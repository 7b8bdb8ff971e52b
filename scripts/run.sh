#!/usr/bin/env bash
# The first command of the README: build Ultra and run a simulation locally.
# Installs nothing system-wide today: the engine needs only the Rust toolchain. When the
# services land, this starts `ultra serve` on the embedded default (SQLite, in-process bus).
#
#   scripts/run.sh [MODEL] [ultra run options...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p ultra-cli
model=${1:-examples/npv10.ir.json}
shift || true
exec target/release/ultra run "$model" --iterations 1000000 "$@"
