#!/usr/bin/env bash
# benches/compare.sh: napifwd side by side with dpdk-testpmd and DPDK's own
# l3fwd / l2fwd examples, in one run, on the same virtual devices, with one
# forwarding lcore each. See benches/README.md for the method and its limits.
#
#   source: net_pcap0,rx_pcap=FLOWS.pcap,infinite_rx=1   (port 0, "src")
#   sink:   net_null0,no-rx=1                           (port 1, "sink")
#
# Every contender is started, given DURATION seconds of forwarding, stopped,
# and asked how many packets left through the sink port and over which window:
#   testpmd-io / testpmd-mac  interactive testpmd driven through a FIFO; the
#                             window runs from writing `start` to writing
#                             `stop`, the count is the sink port's TX-packets
#                             in the forward statistics that `stop` prints.
#   l3fwd-lpm / l2fwd         built here from Debian's dpdk-doc sources with
#                             benches/patches/*.patch; stopped with SIGINT,
#                             they print their own window and rte_eth_stats.
#   napifwd-l3 / napifwd-l2   `napifwd run --duration --stats-json`; the count
#                             is ports.sink.tx_packets of the stats JSON.
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO
readonly LOG_TAG=compare
# shellcheck source=benches/lib.sh
. "$SCRIPT_DIR/lib.sh"
readonly BENCH_DIR="$REPO/target/bench"
readonly EXAMPLES_SRC=/usr/share/dpdk/examples
readonly ALL_CONTENDERS="testpmd-io,testpmd-mac,l3fwd-lpm,l2fwd,napifwd-l3,napifwd-l2"
readonly APT_PACKAGES=(dpdk-dev dpdk-doc libdpdk-dev pkg-config make gcc python3 patch coreutils util-linux)
# Same roles for every contender: lcore 0 is the main (control) lcore where a
# contender has one, lcore 1 forwards. l3fwd and l2fwd give every EAL lcore a
# TX queue on every port and net_pcap has one TX queue, so they run with
# `-l 1`: their main lcore *is* the forwarding lcore, which is how they are
# meant to run (CALL_MAIN).
readonly MAIN_LCORE=0 FWD_LCORE=1
readonly NEXT_HOP_MAC=02:00:00:00:00:02

DURATION=10
RUNS=1
FLOWS=1024
FRAME_SIZE="" # default: gen_flows.py's, the smallest frame that fits (64 B IPv4, 66 B IPv6)
FAMILY=4
CONTENDERS=$ALL_CONTENDERS
OUT_DIR=""
PCAP=""
JSON_OUT=""
MEMORY_MB=1024
HUGEPAGES=0
MBUFS=16384
STARTUP_TIMEOUT=60
STOP_TIMEOUT=30
PAUSE=1
REBUILD=0
INSTALL_DEPS=1
REQUIRE_TARGETS=0
FAIL_FAST=0
NAPIFWD_BIN=${NAPIFWD_BIN:-$REPO/target/release/napifwd}
PYTHON=${PYTHON:-}

usage() {
	cat <<EOF
Usage: benches/compare.sh [OPTIONS]

Side-by-side forwarding benchmark: napifwd vs dpdk-testpmd (io, mac) and
DPDK's l3fwd (LPM) / l2fwd, same vdevs, one forwarding lcore each, one run.
Prints Mpps, cycles per packet and the ratios
  napifwd-l3 / l3fwd-lpm  and  napifwd-l2 / testpmd-mac   (targets >= 1.0)
with testpmd-io as the ceiling. Must run as root. Installs its own apt
dependencies (${APT_PACKAGES[*]}) when missing.

Options:
  -d, --duration SECS     forwarding time per contender, whole seconds (default $DURATION)
  -r, --runs N            run every contender N times, interleaved; report medians (default $RUNS)
  -c, --contenders LIST   comma-separated subset of:
                          $ALL_CONTENDERS
  -j, --json FILE         also write machine-readable results to FILE
  -o, --out DIR           logs, configs and the pcap go here
                          (default benches/out/compare-YYYYmmdd-HHMMSS)
      --flows N           flows (= distinct frames) in the generated pcap (default $FLOWS)
      --frame-size BYTES  frame size on the wire, FCS included (default 64 = 60 B in the pcap;
                          66 for --family 6|mixed, the smallest IPv6/UDP frame)
      --family 4|6|mixed  IP version of the generated flows (default $FAMILY)
      --pcap FILE         use this pcap instead of generating one
      --napifwd PATH      napifwd binary (default target/release/napifwd; env NAPIFWD_BIN)
      --memory-mb MB      EAL memory per contender (default $MEMORY_MB)
      --hugepages         EAL memory in 2 MiB hugepages for every contender (-m MB --in-memory
                          --iova-mode=va, as napifwd's container runs) instead of --no-huge:
                          mounts hugetlbfs and raises vm.nr_hugepages when needed, undoes both at exit
      --startup-timeout S give up on a contender that is not forwarding after S s (default $STARTUP_TIMEOUT)
      --rebuild           rebuild l3fwd/l2fwd even if target/bench holds a current build
      --no-install        never call apt-get; fail if something is missing
      --require-targets   exit 3 when a target ratio is below 1.0 or could not be computed
      --fail-fast         stop at the first contender that fails (default: run the rest, exit 1)
  -h, --help              this text

Exit status: 0 all selected contenders ran (or were skipped: napifwd not built);
1 a contender failed (its log tail is printed) or bad setup; 2 usage error;
3 --require-targets and a target was not met.

Example:
  sudo benches/compare.sh --duration 10 --runs 3 --json benches/out/compare.json
EOF
}

# ---------------------------------------------------------------------------
# arguments

parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		-d | --duration) need_value "$@"; DURATION=$2; shift ;;
		-r | --runs) need_value "$@"; RUNS=$2; shift ;;
		-c | --contenders) need_value "$@"; CONTENDERS=$2; shift ;;
		-j | --json) need_value "$@"; JSON_OUT=$2; shift ;;
		-o | --out) need_value "$@"; OUT_DIR=$2; shift ;;
		--flows) need_value "$@"; FLOWS=$2; shift ;;
		--frame-size) need_value "$@"; FRAME_SIZE=$2; shift ;;
		--family) need_value "$@"; FAMILY=$2; shift ;;
		--pcap) need_value "$@"; PCAP=$2; shift ;;
		--napifwd) need_value "$@"; NAPIFWD_BIN=$2; shift ;;
		--memory-mb) need_value "$@"; MEMORY_MB=$2; shift ;;
		--hugepages) HUGEPAGES=1 ;;
		--startup-timeout) need_value "$@"; STARTUP_TIMEOUT=$2; shift ;;
		--rebuild) REBUILD=1 ;;
		--no-install) INSTALL_DEPS=0 ;;
		--require-targets) REQUIRE_TARGETS=1 ;;
		--fail-fast) FAIL_FAST=1 ;;
		*) usage_error "unknown option '$1'" ;;
		esac
		shift
	done

	local n
	[[ -z $FRAME_SIZE ]] || [[ $FRAME_SIZE =~ ^[0-9]+$ ]] || usage_error "--frame-size must be a whole number"
	for n in DURATION RUNS FLOWS MEMORY_MB STARTUP_TIMEOUT; do
		[[ ${!n} =~ ^[0-9]+$ && ${!n} -ge 1 ]] || usage_error "${n,,} must be a positive whole number, got '${!n}'"
	done
	[[ $FAMILY =~ ^(4|6|mixed)$ ]] || usage_error "--family must be 4, 6 or mixed"
	local c
	IFS=, read -r -a SELECTED <<<"$CONTENDERS"
	[[ ${#SELECTED[@]} -gt 0 ]] || usage_error "--contenders is empty"
	for c in "${SELECTED[@]}"; do
		[[ ,$ALL_CONTENDERS, == *",$c,"* ]] || usage_error "unknown contender '$c' (known: $ALL_CONTENDERS)"
	done
}

# ---------------------------------------------------------------------------
# setup

ensure_deps() {
	ensure_apt_packages "${APT_PACKAGES[@]}"
	command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd not found although dpdk-dev is installed"
	[[ -d $EXAMPLES_SRC/l3fwd && -d $EXAMPLES_SRC/l2fwd ]] ||
		die "no DPDK example sources in $EXAMPLES_SRC (package dpdk-doc)"
	pkg-config --exists libdpdk || die "pkg-config cannot find libdpdk (package libdpdk-dev)"
	find_python
	[[ -d /sys/devices/system/cpu/cpu$FWD_LCORE ]] ||
		die "needs CPUs $MAIN_LCORE and $FWD_LCORE (lcore $FWD_LCORE forwards); this machine has $(nproc --all)"
}

# Build one DPDK example under target/bench/APP from Debian's sources plus our
# patch. Cached: rebuilt only when missing or when the DPDK version, the
# example sources or the patch changed (or with --rebuild).
build_example() {
	local app=$1
	local src=$EXAMPLES_SRC/$app dst=$BENCH_DIR/$app patch=$SCRIPT_DIR/patches/$app.patch
	local bin=$dst/build/$app stamp=$dst/.bench-stamp want
	want="dpdk=$(pkg-config --modversion libdpdk) src=$(cat "$src"/*.c "$src"/*.h 2>/dev/null | sha256sum | cut -c1-16) patch=$(sha256sum <"$patch" | cut -c1-16)"
	if [[ $REBUILD -eq 0 && -x $bin && -f $stamp && $(<"$stamp") == "$want" ]]; then
		log "$app: cached build $bin"
		return
	fi
	log "$app: building from $src (+ benches/patches/$app.patch) into $dst"
	rm -rf "$dst" "$BENCH_DIR/common"
	mkdir -p "$BENCH_DIR"
	cp -r "$src" "$dst"
	cp -r "$EXAMPLES_SRC/common" "$BENCH_DIR/common" # l3fwd builds with -I../common
	if ! patch -p1 --forward --batch -d "$dst" <"$patch" >"$dst/patch.log" 2>&1; then
		cat "$dst/patch.log" >&2
		die "$app: $patch does not apply to $src ($(pkg-config --modversion libdpdk)); refresh the patch"
	fi
	# patch may apply with fuzz; check that what we rely on is really there.
	grep -q 'bench_report(' "$dst/main.c" || die "$app: patched main.c has no bench_report()"
	if [[ $app == l3fwd ]] && grep -q 'RTE_ETH_RX_OFFLOAD_CHECKSUM' "$dst/main.c"; then
		die "l3fwd: patched main.c still requests RTE_ETH_RX_OFFLOAD_CHECKSUM"
	fi
	if ! make -C "$dst" -j"$(nproc)" >"$dst/build.log" 2>&1; then
		tail -n 30 "$dst/build.log" >&2
		die "$app: build failed, full log in $dst/build.log"
	fi
	[[ -x $bin ]] || die "$app: build finished but $bin is missing"
	printf '%s\n' "$want" >"$stamp"
}

# ---------------------------------------------------------------------------
# process handling (the rest is in lib.sh): each contender runs in its own
# session (setsid), so its pid is also its process group id and nothing it
# forks can outlive it.

FIFO_PATH=""
FAILED=0

end_contender() {
	kill_current
	if [[ -n $FIFO_FD ]]; then
		exec {FIFO_FD}>&-
		FIFO_FD=""
	fi
	if [[ -n $FIFO_PATH ]]; then
		rm -f "$FIFO_PATH"
		FIFO_PATH=""
	fi
	# --no-shconf still creates the runtime dir (telemetry socket): remove ours.
	remove_dpdk_runtime
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$?
	[[ $rc -ne 130 && $rc -ne 143 ]] || warn "interrupted; partial results in ${RESULTS:-nowhere}"
	if [[ -n $CUR_PID ]] && alive "$CUR_PID"; then
		warn "stopping contender still running (pid $CUR_PID)"
	fi
	end_contender
	release_hugepages
	exit "$rc"
}

# A contender failed: say so loudly, with the tail of its log.
fail_contender() { # NAME RUN LOG MESSAGE
	local name=$1 run=$2 file=$3 msg=$4
	FAILED=1
	{
		printf '\n[compare] ==== %s FAILED (run %s): %s\n' "$name" "$run" "$msg"
		if [[ -s $file ]]; then
			printf '[compare] ---- last lines of %s:\n' "$file"
			tail -n 25 "$file" | sed 's/^/    /'
		fi
		printf '[compare] ====\n\n'
	} >&2
	end_contender
	report record "$name" --run "$run" --status failed --note "$msg" --log "$file"
	[[ $FAIL_FAST -eq 0 ]] || die "stopping after the first failure (--fail-fast)"
}

report() { # SUBCOMMAND ARGS... (appends to the results file)
	local sub=$1
	shift
	"$PYTHON" "$SCRIPT_DIR/bench_report.py" "$sub" --results "$RESULTS" "$@"
}

# EAL arguments shared by every DPDK contender: same memory, same devices,
# isolated runtime (no shared config, a unique file prefix).
eal_args() { # NAME RUN -> EAL array
	CUR_PREFIX="napifwd-bench-$$-$1-$2"
	if [[ $HUGEPAGES -eq 1 ]]; then
		# No hugepage file outlives the run; the prefix names its runtime dir.
		EAL=(-m "$MEMORY_MB" --in-memory --iova-mode=va --no-pci --file-prefix "$CUR_PREFIX")
	else
		EAL=(--no-huge -m "$MEMORY_MB" --no-pci --no-shconf --file-prefix "$CUR_PREFIX")
	fi
	EAL+=(--vdev "net_pcap0,rx_pcap=$PCAP,infinite_rx=1" --vdev "net_null0,no-rx=1")
}

# ---------------------------------------------------------------------------
# contenders

run_testpmd() { # NAME RUN FWD_MODE
	local name=$1 run=$2 mode=$3
	local out=$OUT_DIR/$name.run$run.log t0 t1 rc
	eal_args "$name" "$run"
	FIFO_PATH=$OUT_DIR/$name.run$run.stdin
	rm -f "$FIFO_PATH"
	mkfifo "$FIFO_PATH"
	exec {FIFO_FD}<>"$FIFO_PATH" # read-write: never blocks, keeps testpmd's stdin open
	start_bg "$out" "$FIFO_PATH" stdbuf -oL -eL dpdk-testpmd "${EAL[@]}" \
		-l "$MAIN_LCORE,$FWD_LCORE" --main-lcore "$MAIN_LCORE" -- \
		-i --forward-mode="$mode" --nb-cores=1 --no-lsc-interrupt \
		--total-num-mbufs="$MBUFS"
	rc=0
	wait_marker "$out" 'testpmd> ' "$CUR_PID" "$STARTUP_TIMEOUT" || rc=$?
	case $rc in
	0) ;;
	1) { fail_contender "$name" "$run" "$out" "dpdk-testpmd exited during start-up"; return; } ;;
	*) { fail_contender "$name" "$run" "$out" "no testpmd prompt after ${STARTUP_TIMEOUT}s"; return; } ;;
	esac
	printf 'start\n' >&"$FIFO_FD"
	now_ns
	t0=$NOW_NS
	nap "$DURATION"
	printf 'stop\n' >&"$FIFO_FD"
	now_ns
	t1=$NOW_NS
	printf 'quit\n' >&"$FIFO_FD"
	if ! wait_exit "$CUR_PID" "$STOP_TIMEOUT"; then
		{ fail_contender "$name" "$run" "$out" "dpdk-testpmd did not quit within ${STOP_TIMEOUT}s"; return; }
	fi
	[[ $EXIT_RC -eq 0 ]] || warn "$name: dpdk-testpmd exited with status $EXIT_RC"
	end_contender
	report parse-testpmd "$out" --name "$name" --run "$run" --elapsed-ns $((t1 - t0)) ||
		fail_contender "$name" "$run" "$out" "no forward statistics in the testpmd log"
}

run_example() { # NAME RUN APP
	local name=$1 run=$2 app=$3
	local out=$OUT_DIR/$name.run$run.log bin=$BENCH_DIR/$app/build/$app rc args
	case $app in
	# LPM with l3fwd's built-in routes (198.18.N.0/24 -> port N); software
	# ptype parsing because vdevs set no packet_type; same next hop as napifwd.
	l3fwd) args=(-p 0x3 -P --lookup=lpm --parse-ptype --config="(0,0,$FWD_LCORE)"
		--eth-dest="1,$NEXT_HOP_MAC") ;;
	# Both ports on the one lcore, MAC updating on (the default), no periodic stats.
	l2fwd) args=(-p 0x3 -P -q 2 -T 0) ;;
	esac
	eal_args "$name" "$run"
	start_bg "$out" /dev/null stdbuf -oL -eL "$bin" "${EAL[@]}" -l "$FWD_LCORE" -- "${args[@]}"
	rc=0
	wait_marker "$out" 'entering main loop' "$CUR_PID" "$STARTUP_TIMEOUT" || rc=$?
	case $rc in
	0) ;;
	1) { fail_contender "$name" "$run" "$out" "$app exited during start-up"; return; } ;;
	*) { fail_contender "$name" "$run" "$out" "$app not forwarding after ${STARTUP_TIMEOUT}s"; return; } ;;
	esac
	nap "$DURATION"
	kill -INT "$CUR_PID"
	if ! wait_exit "$CUR_PID" "$STOP_TIMEOUT"; then
		{ fail_contender "$name" "$run" "$out" "$app did not exit within ${STOP_TIMEOUT}s of SIGINT"; return; }
	fi
	[[ $EXIT_RC -eq 0 ]] || warn "$name: $app exited with status $EXIT_RC"
	end_contender
	report parse-example "$out" --name "$name" --run "$run" ||
		fail_contender "$name" "$run" "$out" "no BENCH report in the $app log"
}

run_napifwd() { # NAME RUN MODE
	local name=$1 run=$2 mode=$3
	local out=$OUT_DIR/$name.run$run.log stats=$OUT_DIR/$name.run$run.stats.json
	local cfg=$OUT_DIR/napifwd-$mode.toml rc
	if [[ ! -x $NAPIFWD_BIN ]]; then
		log "$name: skipped: napifwd binary not built (cargo build --release): no $NAPIFWD_BIN"
		report record "$name" --run "$run" --status skipped \
			--note "napifwd binary not built (cargo build --release)"
		return
	fi
	CUR_PREFIX="napifwd-bench-$$-$name-$run"
	sed -e "s|@FLOWS_PCAP@|$PCAP|g" -e "s|@FILE_PREFIX@|$CUR_PREFIX|g" \
		"${MEMORY_SED[@]}" \
		"$SCRIPT_DIR/napifwd-$mode.toml" >"$cfg"
	# A config error is napifwd's exit code 78 and says which key: show it.
	rc=0
	"$NAPIFWD_BIN" check-config "$cfg" >"$OUT_DIR/napifwd-$mode.check.log" 2>&1 || rc=$?
	if [[ $rc -eq 78 ]]; then
		{ fail_contender "$name" "$run" "$OUT_DIR/napifwd-$mode.check.log" "napifwd rejects $cfg"; return; }
	fi
	rm -f "$stats"
	start_bg "$out" /dev/null "$NAPIFWD_BIN" run --config "$cfg" \
		--duration "$DURATION" --stats-json "$stats"
	if ! wait_exit "$CUR_PID" $((DURATION + STARTUP_TIMEOUT + STOP_TIMEOUT)); then
		{ fail_contender "$name" "$run" "$out" "napifwd still running $((STARTUP_TIMEOUT + STOP_TIMEOUT))s after --duration $DURATION"; return; }
	fi
	rc=$EXIT_RC
	end_contender
	if [[ $rc -ne 0 ]]; then
		{ fail_contender "$name" "$run" "$out" "napifwd exited with status $rc"; return; }
	fi
	if [[ ! -s $stats ]]; then
		fail_contender "$name" "$run" "$out" "napifwd wrote no --stats-json $stats"
		return
	fi
	report parse-napifwd "$stats" --name "$name" --run "$run" --elapsed-ns $((DURATION * 1000000000)) ||
		fail_contender "$name" "$run" "$out" "unusable stats JSON $stats"
}

run_contender() { # NAME RUN
	log "---- $1 (run $2/$RUNS, ${DURATION}s)"
	case $1 in
	testpmd-io) run_testpmd "$1" "$2" io ;;
	testpmd-mac) run_testpmd "$1" "$2" mac ;;
	l3fwd-lpm) run_example "$1" "$2" l3fwd ;;
	l2fwd) run_example "$1" "$2" l2fwd ;;
	napifwd-l3) run_napifwd "$1" "$2" l3 ;;
	napifwd-l2) run_napifwd "$1" "$2" l2 ;;
	esac
}

# ---------------------------------------------------------------------------

main() {
	parse_args "$@"
	require_root "$@"
	ensure_deps

	mkdir -p "$BENCH_DIR"
	# One benchmark at a time: two would share the cores and the build dir.
	take_bench_lock 0 # fail at once when another benchmark runs
	open_nap_fd

	OUT_DIR=${OUT_DIR:-$REPO/benches/out/compare-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$OUT_DIR"
	OUT_DIR=$(cd "$OUT_DIR" && pwd)
	RESULTS=$OUT_DIR/results.jsonl
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local c
	for c in "${SELECTED[@]}"; do
		case $c in
		l3fwd-lpm) build_example l3fwd ;;
		l2fwd) build_example l2fwd ;;
		esac
	done
	make_pcap
	memory_placeholders
	[[ $HUGEPAGES -eq 0 ]] || reserve_hugepages "$MEMORY_MB"

	local loadavg cpu dpdk
	loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	dpdk=$(pkg-config --modversion libdpdk)
	log "out: $OUT_DIR"
	log "load average before: $loadavg (numbers are only meaningful on a quiet machine)"

	local run
	for ((run = 1; run <= RUNS; run++)); do
		for c in "${SELECTED[@]}"; do
			run_contender "$c" "$run"
			nap "$PAUSE"
		done
	done

	local report_args=(--meta "traffic=$TRAFFIC" --meta "duration_s=$DURATION" --meta "runs=$RUNS"
		--meta "host=$(hostname) $(uname -r)" --meta "cpu=$cpu" --meta "dpdk=$dpdk"
		--meta "loadavg=$loadavg (before) $(cut -d' ' -f1-3 /proc/loadavg) (after)"
		--meta "napifwd=$NAPIFWD_BIN" --meta "out=$OUT_DIR"
		--meta "memory=$MEMORY_NOTE"
		--meta "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)")
	[[ -z $JSON_OUT ]] || report_args+=(--json "$JSON_OUT")
	[[ $REQUIRE_TARGETS -eq 0 ]] || report_args+=(--require-targets)
	local rc=0
	"$PYTHON" "$SCRIPT_DIR/bench_report.py" report --results "$RESULTS" "${report_args[@]}" || rc=$?
	if [[ $FAILED -ne 0 ]]; then
		log "some contenders failed: see the messages above and the logs in $OUT_DIR"
		exit 1
	fi
	exit "$rc"
}

main "$@"
