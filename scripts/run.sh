#!/usr/bin/env bash
# The first command of the README: build Ultra and run the platform on its embedded
# default: `ultra serve` (gateway + six gRPC services in one process, SQLite under ./data,
# the in-process event bus, the CPU engine). Needs only the Rust toolchain.
#
#   scripts/run.sh [--listen 127.0.0.1:8080] [--data-dir ./data]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p ultra-cli
exec "${CARGO_TARGET_DIR:-target}"/release/ultra serve "$@"
