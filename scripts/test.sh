#!/usr/bin/env bash
# The second command of the README: the whole test suite.
# Reference tables (scipy) are committed, so the tests need no Python; regenerate them
# with the scripts under scripts/reference/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
