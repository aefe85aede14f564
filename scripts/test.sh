#!/usr/bin/env bash
# Runs every test napifwd has: formatting, lints, unit and property tests,
# the DPDK end-to-end tests (pcap in/out), on a fresh Debian bookworm
# machine as root. Installs missing packages first. CI runs exactly this.
#
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ensure_deps test

echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo clippy" >&2
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test" >&2
cargo test --locked --workspace --all-targets
echo "== all tests passed" >&2
