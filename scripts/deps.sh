#!/usr/bin/env bash
# Installs what napifwd needs on Debian bookworm, only if it is missing.
# Sourced by demo.sh and test.sh; run directly to install everything.
#
#   scripts/deps.sh [build|test|all]   (default: all)
set -euo pipefail

# Packages to build and run napifwd.
BUILD_PKGS=(libdpdk-dev dpdk pkg-config libclang-dev clang gcc make python3 ca-certificates curl)
# Extra packages the test suite and benchmarks use.
# prometheus ships both `prometheus` and `promtool` (tests/metrics.rs).
TEST_PKGS=(dpdk-dev dpdk-doc iproute2 iputils-ping iperf3 ethtool procps prometheus)

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "napifwd: installing packages needs root: run as root (or with sudo)" >&2
        exit 1
    fi
}

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        need_root
        echo "napifwd: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

ensure_rust() {
    if command -v cargo >/dev/null 2>&1; then
        return
    fi
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
        return
    fi
    echo "napifwd: no Rust toolchain found; installing rustup (stable)" >&2
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy >&2
    export PATH="$HOME/.cargo/bin:$PATH"
}

ensure_deps() {
    case "${1:-all}" in
        build) install_missing "${BUILD_PKGS[@]}" ;;
        test | all) install_missing "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" ;;
        *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
    esac
    ensure_rust
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_deps "${1:-all}"
fi
