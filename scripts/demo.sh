#!/usr/bin/env bash
# The appliance's main job on the bundled default config: no NIC and no
# hugepages needed. Replays conf/demo-flows.pcap (1024 UDP flows, 64-byte
# frames) forever through napifwd's L3 router into a net_null sink, prints a
# stats line every second, and stops after DURATION seconds (default 10;
# 0 = until Ctrl-C) with the final counters.
#
#   scripts/demo.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ensure_deps build

duration="${1:-10}"
cargo build --release --locked >&2
args=(run --config conf/demo.toml --live-stats --stats-json target/demo-stats.json)
if [ "$duration" != "0" ]; then
    args+=(--duration "$duration")
fi
exec target/release/napifwd "${args[@]}"
