#!/usr/bin/env bash
# benches/free.sh: the three ways napifwd frees dropped mbufs ([free] mode =
# immediate, batch, owner) under a workload where most drops happen away
# from the mbufs' owner. See benches/FREE.md for the method and numbers.
#
#   source: net_pcap0,rx_pcap=FLOWS.pcap,infinite_rx=1   ("src", one RX queue)
#   sink:   net_null0,no-rx=1                           ("sink")
#
# Two workers: lcore 1 polls the only RX queue (its mempool owns every mbuf)
# and steers everything to lcore 2 (rps.workers = [2]); lcore 2 routes the
# flows to the sink, but only 198.18.0.0/24 has a route, so with the default
# --dst-len 22 three packets in four drop there as no_route: mbufs of lcore
# 1's pool, freed on lcore 2 (immediate: one by one; batch: in bulk, once
# per burst) or handed back to lcore 1's defer ring (owner).
#
# --method reload (default): one napifwd run; free.mode is switched live by
# SIGHUP (a [free] change is applied between two rounds of each worker),
# cycling through the modes --runs times, one measuring window per mode and
# cycle. Every mode then runs in the same process, on the same memory, and
# next to the others in time: on a shared VM whose speed changes from one
# process (or minute) to the next, that is what makes modes comparable.
# --method restart: one napifwd run per mode and run, as compare.sh does.
# A measuring window is between two /status samples, napifwd's own uptime.
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO
readonly LOG_TAG=free
if [[ ! -r $SCRIPT_DIR/lib.sh ]]; then
	echo "[free] error: $SCRIPT_DIR/lib.sh is missing (the shared benchmark helpers of benches/compare.sh and benches/rps.sh)" >&2
	exit 1
fi
# shellcheck source=benches/lib.sh
. "$SCRIPT_DIR/lib.sh"
readonly BENCH_DIR="$REPO/target/bench"
readonly APT_PACKAGES=(python3 coreutils util-linux)

COMMAND_LINE=$0
[[ $# -eq 0 ]] || COMMAND_LINE+=$(printf ' %q' "$@")
DURATION=10
WARMUP=2
SETTLE=1
METHOD=reload
RUNS=1
MODES=immediate,batch,owner
FLOWS=1024
DST_LEN=22
DEFER_MAX=128
MAX_AGE_US=1000
MAX_BACKLOG=1000
MEMORY_MB=1024
EAL_LCORES=""
OUT_DIR=""
JSON_OUT=""
MIN_CPU=90
RETRIES=0
QUIET_WAIT=0
WAIT_LOCK=0
PAUSE=1
INSTALL_DEPS=1
STARTUP_TIMEOUT=60
NAPIFWD_BIN=${NAPIFWD_BIN:-$REPO/target/release/napifwd}
PYTHON=${PYTHON:-}

usage() {
	cat <<EOF
Usage: benches/free.sh [OPTIONS]

Compares napifwd's [free] modes (immediate, batch, owner) with most packets
dropped on a worker that does not own their mbufs: Mpps through the dropping
worker, cycles per packet, each worker's busy cycles per packet, and the
ratios owner/batch and owner/immediate. Must run as root; needs 2 CPUs, no
NIC, no hugepages, and a release build (cargo build --release).

Options:
      --method M        reload: one napifwd, free.mode switched by SIGHUP, modes cycled
                        --runs times; restart: one napifwd per mode and run (default $METHOD)
  -d, --duration SECS   measuring window per mode and run (default $DURATION)
  -w, --warmup SECS     time between the start of forwarding and the first window (default $WARMUP)
      --settle SECS     reload method: time between a reload and its window (default $SETTLE)
  -r, --runs N          run (or cycle through) every mode N times, interleaved; report medians
                        and owner ratios paired by run (default $RUNS)
  -m, --modes LIST      comma-separated subset of immediate,batch,owner (default $MODES)
      --flows N         flows in the generated pcap (default $FLOWS)
      --dst-len N       destinations spread over 198.18.0.0/N, 16..24; only the
                        /24 is routed, so about 2^(N-24) of the packets are
                        forwarded and the rest dropped (default $DST_LEN: 1 in 4 forwarded)
      --defer-max N     free.defer_max (default $DEFER_MAX)
      --max-age-us N    free.max_age_us (default $MAX_AGE_US)
      --max-backlog N   rps.max_backlog (default $MAX_BACKLOG)
      --memory-mb MB    EAL memory, --no-huge (default $MEMORY_MB)
      --eal-lcores MAP  EAL --lcores map for lcores 0 (main), 1 (RX worker), 2 (dropping worker)
                        (default "0@0,1@0,2@1" on 2 CPUs, "0@0,1@1,2@2" on 3 or more)
      --min-cpu PCT     a run is disturbed when a worker thread had its CPU less than
                        PCT % of the window (/proc schedstat; default $MIN_CPU); medians
                        use the undisturbed runs of a mode when it has any
      --retries N       run a disturbed run again, up to N times (default $RETRIES)
      --wait-lock SECS  when another benchmark runs, wait up to SECS for it (default: fail at once)
      --quiet-wait SECS before each run, wait up to SECS for other DPDK programs (napifwd,
                        testpmd, l3fwd, l2fwd: e.g. a test suite, which does not take the
                        benchmark lock) to end (default $QUIET_WAIT: do not wait)
  -o, --out DIR         logs, configs, samples, stats (default benches/out/free-YYYYmmdd-HHMMSS)
  -j, --json FILE       also write the summary as JSON
      --napifwd PATH    napifwd binary (default target/release/napifwd; env NAPIFWD_BIN)
      --no-install      never call apt-get
  -h, --help            this text

Exit status: 0 every run worked; 1 a run failed or bad setup; 2 usage error.

Example:
  sudo benches/free.sh --runs 3 -d 10
EOF
}

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		-d | --duration) need_value "$@"; DURATION=$2; shift ;;
		-w | --warmup) need_value "$@"; WARMUP=$2; shift ;;
		--settle) need_value "$@"; SETTLE=$2; shift ;;
		--method) need_value "$@"; METHOD=$2; shift ;;
		-r | --runs) need_value "$@"; RUNS=$2; shift ;;
		-m | --modes) need_value "$@"; MODES=$2; shift ;;
		--flows) need_value "$@"; FLOWS=$2; shift ;;
		--dst-len) need_value "$@"; DST_LEN=$2; shift ;;
		--defer-max) need_value "$@"; DEFER_MAX=$2; shift ;;
		--max-age-us) need_value "$@"; MAX_AGE_US=$2; shift ;;
		--max-backlog) need_value "$@"; MAX_BACKLOG=$2; shift ;;
		--memory-mb) need_value "$@"; MEMORY_MB=$2; shift ;;
		--eal-lcores) need_value "$@"; EAL_LCORES=$2; shift ;;
		--min-cpu) need_value "$@"; MIN_CPU=$2; shift ;;
		--retries) need_value "$@"; RETRIES=$2; shift ;;
		--quiet-wait) need_value "$@"; QUIET_WAIT=$2; shift ;;
		--wait-lock) need_value "$@"; WAIT_LOCK=$2; shift ;;
		-o | --out) need_value "$@"; OUT_DIR=$2; shift ;;
		-j | --json) need_value "$@"; JSON_OUT=$2; shift ;;
		--napifwd) need_value "$@"; NAPIFWD_BIN=$2; shift ;;
		--no-install) INSTALL_DEPS=0 ;;
		*) usage_error "unknown option '$1'" ;;
		esac
		shift
	done
	local n m
	for n in DURATION WARMUP RUNS FLOWS DEFER_MAX MAX_AGE_US MAX_BACKLOG MEMORY_MB; do
		[[ ${!n} =~ ^[0-9]+$ && ${!n} -ge 1 ]] || usage_error "${n,,} must be a positive whole number, got '${!n}'"
	done
	[[ $SETTLE =~ ^[0-9]+$ ]] || usage_error "--settle must be a whole number"
	[[ $METHOD =~ ^(reload|restart)$ ]] || usage_error "--method must be reload or restart"
	[[ $DST_LEN =~ ^[0-9]+$ && $DST_LEN -ge 16 && $DST_LEN -le 24 ]] || usage_error "--dst-len must be 16..24"
	[[ $MIN_CPU =~ ^[0-9]+$ && $MIN_CPU -le 100 ]] || usage_error "--min-cpu must be 0..100"
	[[ $RETRIES =~ ^[0-9]+$ ]] || usage_error "--retries must be a whole number"
	[[ $QUIET_WAIT =~ ^[0-9]+$ ]] || usage_error "--quiet-wait must be a whole number"
	[[ $WAIT_LOCK =~ ^[0-9]+$ ]] || usage_error "--wait-lock must be a whole number of seconds"
	[[ -z $EAL_LCORES || $EAL_LCORES =~ ^[0-9@,()-]+$ ]] || usage_error "--eal-lcores: not an lcores map: '$EAL_LCORES'"
	IFS=, read -r -a SELECTED <<<"$MODES"
	[[ ${#SELECTED[@]} -gt 0 ]] || usage_error "--modes is empty"
	for m in "${SELECTED[@]}"; do
		[[ $m =~ ^(immediate|batch|owner)$ ]] || usage_error "unknown mode '$m'"
	done
}

FAILED=0

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$?
	[[ $rc -ne 130 && $rc -ne 143 ]] || warn "interrupted; partial results in ${RESULTS:-nowhere}"
	kill_current
	remove_dpdk_runtime
	exit "$rc"
}

report() { "$PYTHON" "$SCRIPT_DIR/free_report.py" "$@"; }

# Stops the running napifwd with SIGTERM and waits up to 60 s; EXIT_RC is
# then its exit status. Returns 1 (after fail_run) when it did not stop.
stop_current() { # NAME RUN LOG
	kill -TERM "$CUR_PID" 2>/dev/null || true
	if ! wait_exit "$CUR_PID" 60; then
		fail_run "$1" "$2" "$3" "napifwd did not stop within 60 s of SIGTERM"
		return 1
	fi
	CUR_PID=""
	remove_dpdk_runtime
}

fail_run() { # MODE RUN LOG MESSAGE
	FAILED=1
	{
		printf '\n[free] ==== %s FAILED (run %s): %s\n' "$1" "$2" "$4"
		[[ ! -s $3 ]] || tail -n 25 "$3" | sed 's/^/    /'
		printf '[free] ====\n\n'
	} >&2
	kill_current
	remove_dpdk_runtime
}

other_dpdk() { pgrep -a -x 'napifwd|dpdk-testpmd|l3fwd|l2fwd' 2>/dev/null | cut -c1-160 || true; }

# Waits up to --quiet-wait seconds for other DPDK programs to end.
wait_quiet() {
	[[ $QUIET_WAIT -gt 0 ]] || return 0
	local deadline=$((SECONDS + QUIET_WAIT)) others
	others=$(other_dpdk)
	[[ -n $others ]] || return 0
	log "waiting up to ${QUIET_WAIT}s for other DPDK programs to end:"$'\n'"$others"
	while [[ -n $(other_dpdk) ]]; do
		if [[ $SECONDS -ge $deadline ]]; then
			warn "other DPDK programs still running after ${QUIET_WAIT}s; measuring anyway"
			return 0
		fi
		nap 1
	done
}

free_tcp_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

render_config() { # MODE PORT OUT
	cat >"$3" <<EOF
# benches/free.sh, free.mode = "$1" (generated)
[eal]
lcores = "$EAL_LCORES"
main_lcore = 0
no_huge = true
memory_mb = $MEMORY_MB
in_memory = false
file_prefix = "$CUR_PREFIX"

[[ports]]
name = "src"
device = "net_pcap0,rx_pcap=$PCAP,infinite_rx=1"

[[ports]]
name = "sink"
device = "net_null0,no-rx=1"

[workers]
lcores = [1, 2]

[[workers.rx]]
port = "src"
queue = 0
lcore = 1

[rps]
enabled = true
workers = [2]
hash = "software"
max_backlog = $MAX_BACKLOG

[forward]
mode = "l3"

[[forward.routes]]
prefix = "198.18.0.0/24"
port = "sink"
next_hop_mac = "02:00:00:00:00:02"

[free]
mode = "$1"
defer_max = $DEFER_MAX
max_age_us = $MAX_AGE_US

[metrics]
listen = "127.0.0.1:$2"
EOF
}

# One attempt at run RUN of MODE. Returns 10 when it worked but a worker
# did not have its CPU (disturbed), else 0 (failures are reported here).
run_one() { # MODE RUN ATTEMPT
	local mode=$1 run=$2 attempt=$3
	local base=$OUT_DIR/$mode.run$run
	[[ $attempt -eq 1 ]] || base+=.try$attempt
	local out=$base.log cfg=$base.toml stats=$base.stats.json port rc
	CUR_PREFIX="napifwd-free-$$-$mode-$run"
	port=$(free_tcp_port)
	render_config "$mode" "$port" "$cfg"
	rc=0
	"$NAPIFWD_BIN" check-config "$cfg" >"$base.check.log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		fail_run "$mode" "$run" "$base.check.log" "napifwd check-config rejects $cfg (status $rc)"
		return 0
	fi
	wait_quiet
	log "---- $mode (run $run/$RUNS, attempt $attempt, ${WARMUP}s warm-up + ${DURATION}s)"
	rm -f "$stats" "$base".sample[ab].json
	start_bg "$out" /dev/null "$NAPIFWD_BIN" run --config "$cfg" \
		--duration $((WARMUP + DURATION + 30)) --stats-json "$stats"
	rc=0
	wait_marker "$out" 'metrics on http' "$CUR_PID" "$STARTUP_TIMEOUT" || rc=$?
	if [[ $rc -ne 0 ]]; then
		fail_run "$mode" "$run" "$out" "napifwd did not start serving /status (status $rc)"
		return 0
	fi
	local url=http://127.0.0.1:$port
	nap "$WARMUP"
	if ! report sample --url "$url" --pid "$CUR_PID" --out "$base.samplea.json"; then
		fail_run "$mode" "$run" "$out" "no /status at the start of the window"
		return 0
	fi
	nap "$DURATION"
	if ! report sample --url "$url" --pid "$CUR_PID" --out "$base.sampleb.json"; then
		fail_run "$mode" "$run" "$out" "no /status at the end of the window"
		return 0
	fi
	stop_current "$mode" "$run" "$out" || return 0
	rc=$EXIT_RC
	if [[ $rc -ne 0 ]]; then
		# The window's numbers stand (they come from the live samples); the
		# exit status says the stop did not account for everything.
		FAILED=1
		warn "$mode run $run: napifwd exited with status $rc: $(grep -m1 -E 'error|leak' "$out" || true)"
	fi
	local rec=0
	report record --results "$RESULTS" --mode "$mode" --run "$run" --a "$base.samplea.json" \
		--b "$base.sampleb.json" --stats "$stats" --rc "$rc" --log "$out" --min-cpu "$MIN_CPU" || rec=$?
	case $rec in
	0 | 10) return "$rec" ;;
	*) fail_run "$mode" "$run" "$out" "unusable samples or stats in $base.*" ;;
	esac
}

run_mode() { # MODE RUN
	local attempt rc
	for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
		rc=0
		run_one "$1" "$2" "$attempt" || rc=$?
		[[ $rc -eq 10 ]] || return 0
		[[ $attempt -gt $RETRIES ]] || nap "$PAUSE"
	done
	warn "$1 run $2: still disturbed after $((RETRIES + 1)) attempt(s); kept and flagged"
}

# --method reload: one napifwd; for each cycle and mode, rewrite the config
# with that free.mode, SIGHUP, wait until /status says it is applied, let it
# settle, measure one window (again, up to --retries times, if disturbed).
run_reload_method() {
	local base=$OUT_DIR/reload
	local out=$base.log cfg=$base.toml stats=$base.stats.json port rc
	local nmodes=${#SELECTED[@]}
	CUR_PREFIX="napifwd-free-$$-reload"
	port=$(free_tcp_port)
	render_config "${SELECTED[0]}" "$port" "$cfg"
	rc=0
	"$NAPIFWD_BIN" check-config "$cfg" >"$base.check.log" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || die "napifwd check-config rejects $cfg (status $rc): $(tail -n 5 "$base.check.log")"
	wait_quiet
	local budget=$((WARMUP + RUNS * nmodes * (RETRIES + 1) * (DURATION + SETTLE + 3) + 60))
	log "---- one napifwd, modes ${SELECTED[*]} switched by SIGHUP, $RUNS cycle(s) of ${DURATION}s windows"
	start_bg "$out" /dev/null "$NAPIFWD_BIN" run --config "$cfg" --duration "$budget" --stats-json "$stats"
	rc=0
	wait_marker "$out" 'metrics on http' "$CUR_PID" "$STARTUP_TIMEOUT" || rc=$?
	if [[ $rc -ne 0 ]]; then
		fail_run reload 1 "$out" "napifwd did not start serving /status (status $rc)"
		return 0
	fi
	local url=http://127.0.0.1:$port reloads=0 cycle mode attempt w rec
	nap "$WARMUP"
	for ((cycle = 1; cycle <= RUNS; cycle++)); do
		for mode in "${SELECTED[@]}"; do
			render_config "$mode" "$port" "$cfg"
			kill -HUP "$CUR_PID" 2>/dev/null || true
			reloads=$((reloads + 1))
			if ! report wait-reload --url "$url" --count "$reloads"; then
				fail_run "$mode" "$cycle" "$out" "the reload to free.mode = $mode was not applied"
				return 0
			fi
			nap "$SETTLE"
			for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
				w=$base.c$cycle.$mode.try$attempt
				log "---- $mode (cycle $cycle/$RUNS, window $attempt, ${DURATION}s)"
				if ! report sample --url "$url" --pid "$CUR_PID" --out "$w.samplea.json"; then
					fail_run "$mode" "$cycle" "$out" "no /status at the start of the window"
					return 0
				fi
				nap "$DURATION"
				if ! report sample --url "$url" --pid "$CUR_PID" --out "$w.sampleb.json"; then
					fail_run "$mode" "$cycle" "$out" "no /status at the end of the window"
					return 0
				fi
				rec=0
				report record --results "$RESULTS" --mode "$mode" --run "$cycle" --a "$w.samplea.json" \
					--b "$w.sampleb.json" --log "$out" --min-cpu "$MIN_CPU" || rec=$?
				[[ $rec -eq 10 ]] || break
			done
			case $rec in
			0) ;;
			10) warn "$mode cycle $cycle: still disturbed after $((RETRIES + 1)) window(s); kept and flagged" ;;
			*)
				fail_run "$mode" "$cycle" "$out" "unusable samples in $w.*"
				return 0
				;;
			esac
		done
	done
	stop_current reload "$RUNS" "$out" || return 0
	rc=$EXIT_RC
	if [[ $rc -ne 0 ]]; then
		FAILED=1
		warn "napifwd exited with status $rc: $(grep -m1 -E 'error|leak' "$out" || true)"
	fi
}

main() {
	parse_args "$@"
	require_root "$@"
	ensure_two_worker_deps
	mkdir -p "$BENCH_DIR"
	take_bench_lock "$WAIT_LOCK"
	open_nap_fd

	OUT_DIR=${OUT_DIR:-$REPO/benches/out/free-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$OUT_DIR"
	OUT_DIR=$(cd "$OUT_DIR" && pwd)
	[[ $OUT_DIR != *[,\"\'\\\|\&\ ]* ]] || die "output directory must not contain , \" ' \\ | & or spaces: $OUT_DIR"
	RESULTS=$OUT_DIR/results.jsonl
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	PCAP=$OUT_DIR/flows.pcap
	local traffic
	traffic=$("$PYTHON" "$SCRIPT_DIR/gen_flows.py" --output "$PCAP" --flows "$FLOWS" \
		--dst-prefix "198.18.0.0/$DST_LEN" 2>&1) || die "gen_flows.py failed: $traffic"
	traffic="IPv4 to 198.18.0.0/$DST_LEN (198.18.0.0/24 routed), ${traffic#wrote }"

	local loadavg cpu version others
	loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	version=$("$NAPIFWD_BIN" version 2>&1 | tr '\n' ' ' | sed 's/ *$//') || version=unknown
	log "out: $OUT_DIR"
	log "traffic: $traffic"
	log "EAL lcores: $EAL_LCORES (main 0, RX worker 1, dropping worker 2)"
	log "load average before: $loadavg (numbers are only meaningful on a quiet machine)"
	others=$(other_dpdk)
	[[ -z $others ]] || warn "other DPDK programs are running and share the CPUs:"$'\n'"$others"

	local run m
	if [[ $METHOD == reload ]]; then
		run_reload_method
	else
		for ((run = 1; run <= RUNS; run++)); do
			for m in "${SELECTED[@]}"; do
				run_mode "$m" "$run"
				nap "$PAUSE"
			done
		done
	fi

	local args=(--results "$RESULTS" --min-cpu "$MIN_CPU"
		--meta "command=$COMMAND_LINE" --meta "traffic=$traffic"
		--meta "method=$METHOD: $([[ $METHOD == reload ]] && echo "one napifwd, free.mode switched by SIGHUP, ${SETTLE}s settle" || echo "one napifwd per mode and run")"
		--meta "window=${DURATION}s (first after ${WARMUP}s), $RUNS run(s) per mode, interleaved, up to $RETRIES retries of disturbed windows"
		--meta "free=defer_max $DEFER_MAX, max_age_us $MAX_AGE_US; rps.max_backlog $MAX_BACKLOG"
		--meta "lcores=$EAL_LCORES ($(nproc) CPUs)" --meta "cpu=$cpu"
		--meta "loadavg=$loadavg (before) $(cut -d' ' -f1-3 /proc/loadavg) (after)"
		--meta "napifwd=$NAPIFWD_BIN ($version)"
		--meta "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
		--meta "out=$OUT_DIR")
	[[ -z $JSON_OUT ]] || args+=(--json "$JSON_OUT")
	report report "${args[@]}"
	if [[ $FAILED -ne 0 ]]; then
		log "some runs failed or exited non-zero: see the messages above and the logs in $OUT_DIR"
		exit 1
	fi
}

main "$@"
