#!/usr/bin/env bash
# The second command of the README: the whole test suite.
# Reference tables (scipy) are committed, so the tests need no Python; regenerate them
# with the scripts under scripts/reference/.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }

# The GPU engine's tests run for real on a Vulkan device: Mesa's lavapipe (software Vulkan)
# where the machine has no GPU. Install it when no Vulkan driver is present.
if ! ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 \
   || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "installing mesa-vulkan-drivers (lavapipe) for the GPU engine's tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi
# The cluster backends' tests (Redis bus, PostgreSQL) start real servers on loopback ports
# through ultra-testkit: install redis-server and PostgreSQL when missing.
missing=()
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} for the cluster backends' tests" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# lavapipe warns on stderr when this is unset; harmless, but noisy.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
