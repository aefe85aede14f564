#!/usr/bin/env bash
# benches/rps.sh: what RPS costs and what it buys napifwd, in one run, on the
# same virtual devices as benches/compare.sh. See benches/README.md ("RPS")
# for the method, the formulas and how to read the output.
#
#   source: net_pcap0,rx_pcap=FLOWS.pcap,infinite_rx=1   ("src", one RX queue)
#   sink:   net_null0,no-rx=1                           ("sink")
#
# Scenarios (one napifwd run each; NAME-cN = with a synthetic per-packet cost
# of N TSC cycles, [bench] per_packet_cycles):
#   rtc-cN        1 worker (lcore 1), RPS off: run to completion
#   rps1-cN       1 worker, RPS on with itself as the only target, local fast
#                 path on: the steering step of a one-target map (no hash), nothing else
#   rps1-nofp-cN  as rps1-cN with the local fast path off: every packet goes
#                 through the worker's own backlog ring (ring cost, one core)
#   steer-cN      2 workers; RX on lcore 1, rps map = [2]: every packet is
#                 steered through lcore 2's backlog and forwarded there (a pipeline)
#   rps2-cN       2 workers; RX on lcore 1, rps map = both, local fast path on:
#                 lcore 1 forwards its share inline, steers the rest to lcore 2
#   rps2w-cN      as rps2-cN with the weighted rps map [1, 2, 2, 2]: lcore 1
#                 keeps a quarter of the flows, since it also does all the RX
#   rps2a-cN      as rps2-cN with rps.adaptive = true: lcore 1 probes forwarding
#                 everything itself and keeps whichever mode is faster
#   rps2b-cN      as rps2a-cN with rps.balance = true as well: lcore 1 also finds
#                 how many flows to keep by climbing the throughput
#   rps2-nofp-cN  as rps2-cN with the local fast path off: lcore 1's own share
#                 goes through its own backlog too
# Parts: (a) overhead: rtc-c0 vs steer-c0, with rps1-c0 and rps1-nofp-c0 to
# split the difference into hashing, ring and second-core costs; (b) scaling: rtc-cN vs rps2-cN,
# rps2w-cN, rps2a-cN, rps2b-cN and steer-cN for each --costs N; (c) latency: rps2-cN vs rps2-nofp-cN (N = --latency-cost).
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO
readonly LOG_TAG=rps
# shellcheck source=benches/lib.sh
. "$SCRIPT_DIR/lib.sh"
readonly BENCH_DIR="$REPO/target/bench"
readonly APT_PACKAGES=(python3 coreutils util-linux)
readonly MAIN_LCORE=0 RX_LCORE=1 OTHER_LCORE=2
readonly SCENARIO_RE='^(rtc|rps1|rps1-nofp|steer|rps2|rps2w|rps2a|rps2b|rps2-nofp)-c([0-9]+)$'

COMMAND_LINE=$0
[[ $# -eq 0 ]] || COMMAND_LINE+=$(printf ' %q' "$@")
DURATION=10
RUNS=1
PARTS=a,b,c
COSTS=0,100,300,1000
LATENCY_COST=0
SCENARIOS=""
FLOWS=1024
FRAME_SIZE=""
FAMILY=4
OUT_DIR=""
PCAP=""
JSON_OUT=""
MEMORY_MB=1024
HUGEPAGES=0
MAX_BACKLOG=1000
RPS_HASH=auto
FREE_MODE="batch"
EAL_LCORES=""
STARTUP_TIMEOUT=60
STOP_TIMEOUT=30
NICE=0
MIN_CPU=95
RETRIES=0
WAIT_LOCK=0
LINE_RT_BELOW=0
LINE_RT_WAIT=600
PAUSE=1
INSTALL_DEPS=1
REQUIRE_TARGETS=0
FAIL_FAST=0
NAPIFWD_BIN=${NAPIFWD_BIN:-$REPO/target/release/napifwd}
PYTHON=${PYTHON:-}

usage() {
	cat <<EOF
Usage: benches/rps.sh [OPTIONS]

RPS benchmark of napifwd (L3 forwarding, net_pcap infinite_rx source of
--flows flows, net_null sink), each scenario one napifwd run:
  (a) overhead: 1 worker run to completion vs 2 workers with every packet
      steered from the RX worker to the other: busy TSC cycles per packet,
      raw and corrected for backlog_full drops (target: overhead <= 25)
  (b) scaling: 2 workers (RPS over both; the weighted map [1, 2, 2, 2];
      adaptive RPS; everything steered to worker 2) vs 1 worker, with a
      synthetic per-packet cost of --costs cycles (targets: >= 1.7x at 300,
      >= 1.0x at 0; judged on the best of the four)
  (c) latency: local fast path on vs off, p50/p99/p99.9 from napifwd's
      latency histogram (metrics.latency, on in the benchmark config)
Must run as root. Needs 2 CPUs, no NIC, no hugepages.

Options:
  -d, --duration SECS     forwarding time per scenario, whole seconds (default $DURATION)
  -r, --runs N            run every scenario N times, interleaved; report median and min-max (default $RUNS)
  -p, --parts LIST        which of a,b,c to run (default $PARTS)
      --costs LIST        per-packet cycles for (b), comma-separated (default $COSTS)
      --latency-cost N    per-packet cycles for (c) (default $LATENCY_COST)
      --scenarios LIST    run exactly these scenarios instead of --parts, e.g. rtc-c0,steer-c0
                          (names: rtc-cN, rps1-cN, rps1-nofp-cN, steer-cN, rps2-cN, rps2w-cN, rps2a-cN,
                          rps2b-cN, rps2-nofp-cN)
  -j, --json FILE         also write machine-readable results to FILE
  -o, --out DIR           logs, configs, stats JSON and the pcap go here
                          (default benches/out/rps-YYYYmmdd-HHMMSS)
      --napifwd PATH      napifwd binary (default target/release/napifwd; env NAPIFWD_BIN)
      --eal-lcores MAP    EAL --lcores map for lcores 0 (main), 1 (RX worker), 2 (other worker)
                          (default: "0@0,1@0,2@1" on 2 CPUs, "0@0,1@1,2@2" on 3 or more)
      --max-backlog N     rps.max_backlog (default $MAX_BACKLOG)
      --rps-hash H        rps.hash: auto or software (default $RPS_HASH)
      --free-mode M       free.mode: owner, batch or immediate (default $FREE_MODE, napifwd's default)
      --flows N           flows in the generated pcap (default $FLOWS)
      --frame-size BYTES  frame size on the wire, FCS included (default 64)
      --family 4|6|mixed  IP version of the generated flows (default $FAMILY)
      --pcap FILE         use this pcap instead of generating one
      --memory-mb MB      EAL memory (default $MEMORY_MB)
      --hugepages         EAL memory in 2 MiB hugepages (as napifwd runs in production)
                          instead of --no-huge: mounts hugetlbfs and raises vm.nr_hugepages
                          when needed, and undoes both at exit
      --startup-timeout S give up on a run that has not ended S s after --duration (default $STARTUP_TIMEOUT)
      --min-cpu PCT       a run is disturbed when a worker thread had its CPU less than PCT % of
                          the time (/proc schedstat; default $MIN_CPU); medians use undisturbed
                          runs when a scenario has any
      --retries N         run a disturbed run again, up to N times (default $RETRIES)
      --line-rt-below C   before each run, wait until one cache line's round trip between the
                          workers' CPUs is below C TSC cycles: on a VM that flips between a fast
                          and a slow placement of its vCPUs, measure every run in the fast one
                          (e.g. 300; default 0: do not wait). The round trip of each run is
                          reported either way (line rt column: before:after); a run whose round
                          trip after it is not below C is disturbed (the VM changed state)
      --line-rt-wait SECS the longest wait for --line-rt-below per run (default $LINE_RT_WAIT); a run
                          that starts without it says so in the log
      --wait-lock SECS    when another benchmark runs, wait up to SECS for it (default: fail at once)
      --nice N            run napifwd under nice -n N; negative N takes the CPUs from every other
                          process on the machine (only where that is acceptable; default 0)
      --no-install        never call apt-get; fail if something is missing
      --require-targets   exit 3 when a target is not met or could not be computed
      --fail-fast         stop at the first failed run (default: run the rest, exit 1)
  -h, --help              this text

Exit status: 0 every run worked; 1 a run failed (its log tail is printed) or bad
setup; 2 usage error; 3 --require-targets and a target was not met.

Example:
  sudo benches/rps.sh --runs 3 --json benches/out/rps.json
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
		-p | --parts) need_value "$@"; PARTS=$2; shift ;;
		--costs) need_value "$@"; COSTS=$2; shift ;;
		--latency-cost) need_value "$@"; LATENCY_COST=$2; shift ;;
		--scenarios) need_value "$@"; SCENARIOS=$2; shift ;;
		-j | --json) need_value "$@"; JSON_OUT=$2; shift ;;
		-o | --out) need_value "$@"; OUT_DIR=$2; shift ;;
		--napifwd) need_value "$@"; NAPIFWD_BIN=$2; shift ;;
		--eal-lcores) need_value "$@"; EAL_LCORES=$2; shift ;;
		--max-backlog) need_value "$@"; MAX_BACKLOG=$2; shift ;;
		--rps-hash) need_value "$@"; RPS_HASH=$2; shift ;;
		--free-mode) need_value "$@"; FREE_MODE=$2; shift ;;
		--flows) need_value "$@"; FLOWS=$2; shift ;;
		--frame-size) need_value "$@"; FRAME_SIZE=$2; shift ;;
		--family) need_value "$@"; FAMILY=$2; shift ;;
		--pcap) need_value "$@"; PCAP=$2; shift ;;
		--memory-mb) need_value "$@"; MEMORY_MB=$2; shift ;;
		--hugepages) HUGEPAGES=1 ;;
		--startup-timeout) need_value "$@"; STARTUP_TIMEOUT=$2; shift ;;
		--nice) need_value "$@"; NICE=$2; shift ;;
		--min-cpu) need_value "$@"; MIN_CPU=$2; shift ;;
		--retries) need_value "$@"; RETRIES=$2; shift ;;
		--wait-lock) need_value "$@"; WAIT_LOCK=$2; shift ;;
		--line-rt-below) need_value "$@"; LINE_RT_BELOW=$2; shift ;;
		--line-rt-wait) need_value "$@"; LINE_RT_WAIT=$2; shift ;;
		--no-install) INSTALL_DEPS=0 ;;
		--require-targets) REQUIRE_TARGETS=1 ;;
		--fail-fast) FAIL_FAST=1 ;;
		*) usage_error "unknown option '$1'" ;;
		esac
		shift
	done

	local n c
	[[ -z $FRAME_SIZE ]] || [[ $FRAME_SIZE =~ ^[0-9]+$ ]] || usage_error "--frame-size must be a whole number"
	for n in DURATION RUNS FLOWS MEMORY_MB STARTUP_TIMEOUT MAX_BACKLOG; do
		[[ ${!n} =~ ^[0-9]+$ && ${!n} -ge 1 ]] || usage_error "${n,,} must be a positive whole number, got '${!n}'"
	done
	[[ $LATENCY_COST =~ ^[0-9]+$ ]] || usage_error "--latency-cost must be a whole number"
	[[ $MIN_CPU =~ ^[0-9]+$ && $MIN_CPU -le 100 ]] || usage_error "--min-cpu must be a whole number from 0 to 100"
	[[ $RETRIES =~ ^[0-9]+$ ]] || usage_error "--retries must be a whole number"
	[[ $WAIT_LOCK =~ ^[0-9]+$ ]] || usage_error "--wait-lock must be a whole number of seconds"
	[[ $LINE_RT_BELOW =~ ^[0-9]+$ ]] || usage_error "--line-rt-below must be a whole number of TSC cycles"
	[[ $LINE_RT_WAIT =~ ^[0-9]+$ ]] || usage_error "--line-rt-wait must be a whole number of seconds"
	[[ $NICE =~ ^-?[0-9]+$ && $NICE -ge -20 && $NICE -le 19 ]] || usage_error "--nice must be a whole number from -20 to 19"
	[[ $FAMILY =~ ^(4|6|mixed)$ ]] || usage_error "--family must be 4, 6 or mixed"
	[[ $RPS_HASH =~ ^(auto|software)$ ]] || usage_error "--rps-hash must be auto or software"
	[[ $FREE_MODE =~ ^(owner|batch|immediate)$ ]] || usage_error "--free-mode must be owner, batch or immediate"
	[[ $COSTS =~ ^[0-9]+(,[0-9]+)*$ ]] || usage_error "--costs must be a comma-separated list of whole numbers"
	[[ -z $EAL_LCORES || $EAL_LCORES =~ ^[0-9@,()-]+$ ]] || usage_error "--eal-lcores: not an lcores map: '$EAL_LCORES'"

	SELECTED=()
	if [[ -n $SCENARIOS ]]; then
		IFS=, read -r -a SELECTED <<<"$SCENARIOS"
		for c in "${SELECTED[@]}"; do
			[[ $c =~ $SCENARIO_RE ]] || usage_error "unknown scenario '$c' (rtc-cN, rps1-cN, rps1-nofp-cN, steer-cN, rps2-cN, rps2w-cN, rps2a-cN, rps2b-cN, rps2-nofp-cN)"
		done
	else
		local parts cost
		IFS=, read -r -a parts <<<"$PARTS"
		[[ ${#parts[@]} -gt 0 ]] || usage_error "--parts is empty"
		for c in "${parts[@]}"; do
			[[ $c =~ ^[abc]$ ]] || usage_error "unknown part '$c' (a, b or c)"
		done
		# Order: the shared zero-cost ones first, then cost by cost, so that
		# every pair compared sits close together in time.
		[[ ,$PARTS, != *,a,* ]] || SELECTED+=(rtc-c0 rps1-c0 rps1-nofp-c0 steer-c0)
		[[ ,$PARTS, != *,c,* ]] || SELECTED+=("rps2-c$LATENCY_COST" "rps2-nofp-c$LATENCY_COST")
		if [[ ,$PARTS, == *,b,* ]]; then
			IFS=, read -r -a costs <<<"$COSTS"
			for cost in "${costs[@]}"; do
				SELECTED+=("rtc-c$((10#$cost))" "rps2-c$((10#$cost))" "rps2w-c$((10#$cost))" "rps2a-c$((10#$cost))"
					"rps2b-c$((10#$cost))" "steer-c$((10#$cost))")
			done
		fi
	fi
	# Drop repeats, keep the first occurrence.
	local seen=, unique=()
	for c in "${SELECTED[@]}"; do
		[[ $seen == *",$c,"* ]] || unique+=("$c")
		seen+="$c,"
	done
	SELECTED=("${unique[@]}")
	[[ ${#SELECTED[@]} -gt 0 ]] || usage_error "no scenario selected"
}

# ---------------------------------------------------------------------------
# runs

FAILED=0

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	local rc=$?
	[[ $rc -ne 130 && $rc -ne 143 ]] || warn "interrupted; partial results in ${RESULTS:-nowhere}"
	if [[ -n $CUR_PID ]] && alive "$CUR_PID"; then
		warn "stopping napifwd still running (pid $CUR_PID)"
	fi
	kill_current
	remove_dpdk_runtime
	release_hugepages
	exit "$rc"
}

report() { # SUBCOMMAND ARGS...
	local sub=$1
	shift
	"$PYTHON" "$SCRIPT_DIR/rps_report.py" "$sub" --results "$RESULTS" "$@"
}

fail_run() { # NAME RUN LOG MESSAGE
	local name=$1 run=$2 file=$3 msg=$4
	FAILED=1
	{
		printf '\n[rps] ==== %s FAILED (run %s): %s\n' "$name" "$run" "$msg"
		if [[ -s $file ]]; then
			printf '[rps] ---- last lines of %s:\n' "$file"
			tail -n 25 "$file" | sed 's/^/    /'
		fi
		printf '[rps] ====\n\n'
	} >&2
	kill_current
	remove_dpdk_runtime
	report record "$name" --run "$run" --status failed --note "$msg" --log "$file"
	[[ $FAIL_FAST -eq 0 ]] || die "stopping after the first failure (--fail-fast)"
}

# scenario NAME: sets the SC_* variables describing it.
scenario() {
	[[ $1 =~ $SCENARIO_RE ]] || die "bad scenario name $1"
	SC_ADAPTIVE=false SC_BALANCE=false
	SC_KIND=${BASH_REMATCH[1]}
	SC_COST=$((10#${BASH_REMATCH[2]}))
	case $SC_KIND in
	rtc) SC_WORKERS="$RX_LCORE" SC_RPS=false SC_MAP="" SC_FASTPATH=true ;;
	rps2a) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="" SC_FASTPATH=true SC_ADAPTIVE=true ;;
	rps2b) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="" SC_FASTPATH=true SC_ADAPTIVE=true SC_BALANCE=true ;;
	rps1) SC_WORKERS="$RX_LCORE" SC_RPS=true SC_MAP="$RX_LCORE" SC_FASTPATH=true ;;
	rps1-nofp) SC_WORKERS="$RX_LCORE" SC_RPS=true SC_MAP="$RX_LCORE" SC_FASTPATH=false ;;
	steer) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="$OTHER_LCORE" SC_FASTPATH=true ;;
	rps2) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="" SC_FASTPATH=true ;;
	rps2w) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="$RX_LCORE, $OTHER_LCORE, $OTHER_LCORE, $OTHER_LCORE" SC_FASTPATH=true ;;
	rps2-nofp) SC_WORKERS="$RX_LCORE, $OTHER_LCORE" SC_RPS=true SC_MAP="" SC_FASTPATH=false ;;
	esac
}

render_config() { # NAME OUT
	scenario "$1"
	sed -e "s|@FLOWS_PCAP@|$PCAP|g" \
		-e "s|@FILE_PREFIX@|$CUR_PREFIX|g" \
		-e "s|@EAL_LCORES@|$EAL_LCORES|g" \
		"${MEMORY_SED[@]}" \
		-e "s|@WORKER_LCORES@|$SC_WORKERS|g" \
		-e "s|@RX_LCORE@|$RX_LCORE|g" \
		-e "s|@RPS_ENABLED@|$SC_RPS|g" \
		-e "s|@RPS_WORKERS@|$SC_MAP|g" \
		-e "s|@RPS_HASH@|$RPS_HASH|g" \
		-e "s|@FREE_MODE@|$FREE_MODE|g" \
		-e "s|@MAX_BACKLOG@|$MAX_BACKLOG|g" \
		-e "s|@LOCAL_FAST_PATH@|$SC_FASTPATH|g" \
		-e "s|@RPS_ADAPTIVE@|$SC_ADAPTIVE|g" \
		-e "s|@RPS_BALANCE@|$SC_BALANCE|g" \
		-e "s|@PER_PACKET_CYCLES@|$SC_COST|g" \
		"$SCRIPT_DIR/napifwd-rps.toml" >"$2"
	! grep -n '^[^#]*@[A-Z_]*@' "$2" >&2 || die "unfilled placeholder in $2 (see above)"
}

# What the scheduler did to napifwd's threads: one line per thread,
# "tid comm on_cpu_ns runqueue_wait_ns timeslices" (/proc/PID/task/TID/schedstat),
# after a "# wall_ns N" line. Two samples bracket the middle of the run; the
# report turns them into each worker's share of its CPU. Best effort: a
# thread that is gone is skipped, a kernel without schedstat gives nothing.
sched_sample() { # PID OUT
	local pid=$1 out=$2 dir comm line
	now_ns
	{
		printf '# wall_ns %s\n' "$NOW_NS"
		for dir in /proc/"$pid"/task/*; do
			comm=$(<"$dir/comm") 2>/dev/null || continue
			line=$(<"$dir/schedstat") 2>/dev/null || continue
			printf '%s %s %s\n' "${dir##*/}" "$comm" "$line"
		done
	} >"$out" 2>/dev/null || true
}

# Waits for the run to get going, then samples the scheduler statistics of
# its threads twice: after a warm-up, and shortly before --duration ends.
sample_run() { # OUT_PREFIX LOG
	local prefix=$1 t0 warm tail rc=0
	wait_marker "$2" 'worker\(s\) on lcore' "$CUR_PID" "$STARTUP_TIMEOUT" || rc=$?
	[[ $rc -eq 0 ]] || return 0
	now_ns
	t0=$NOW_NS
	# warm-up: a quarter of the run, at most 1 s; the window ends 0.3 s
	# (or a tenth of the run) before napifwd's own stop.
	warm=$((DURATION * 250 < 1000 ? DURATION * 250 : 1000))
	tail=$((DURATION * 100 < 300 ? DURATION * 100 : 300))
	nap "$((warm / 1000)).$(printf '%03d' $((warm % 1000)))"
	alive "$CUR_PID" && sched_sample "$CUR_PID" "$prefix.sched0"
	now_ns
	local left=$(((t0 + DURATION * 1000000000 - tail * 1000000 - NOW_NS) / 1000000))
	[[ $left -le 0 ]] || nap "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
	alive "$CUR_PID" && sched_sample "$CUR_PID" "$prefix.sched1"
	return 0
}

# One attempt at run RUN of scenario NAME. Returns 0 when it worked, 10 when
# it worked but a worker had its CPU less than --min-cpu of the time (the
# record is kept, flagged), 1 when it failed (already reported).
run_attempt() { # NAME RUN ATTEMPT
	local name=$1 run=$2 attempt=$3
	local base=$OUT_DIR/$name.run$run
	[[ $attempt -eq 1 ]] || base+=.try$attempt
	local out=$base.log stats=$base.stats.json cfg=$base.toml rc
	CUR_PREFIX="napifwd-rps-$$-$name-$run-$attempt"
	render_config "$name" "$cfg"
	rc=0
	"$NAPIFWD_BIN" check-config "$cfg" >"$base.check.log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		fail_run "$name" "$run" "$base.check.log" "napifwd check-config rejects $cfg (status $rc)"
		return 1
	fi
	rm -f "$stats" "$base.sched"[01]
	[[ $LINE_RT_BELOW -eq 0 ]] || wait_line_rt_below "$LINE_RT_BELOW" "$LINE_RT_WAIT"
	# the floor at this moment: a VM's vCPUs change host cores (and the
	# round trip with them) from one minute to the next
	local line_rt rt_arg=()
	line_rt=$(line_round_trip 200000)
	[[ ! $line_rt =~ ^[0-9]+$ ]] || rt_arg=(--line-rt "$line_rt")
	local nice=()
	[[ $NICE -eq 0 ]] || nice=(nice -n "$NICE")
	start_bg "$out" /dev/null "${nice[@]}" "$NAPIFWD_BIN" run --config "$cfg" \
		--duration "$DURATION" --stats-json "$stats"
	sample_run "$base" "$out"
	if ! wait_exit "$CUR_PID" $((DURATION + STARTUP_TIMEOUT + STOP_TIMEOUT)); then
		fail_run "$name" "$run" "$out" "napifwd still running $((STARTUP_TIMEOUT + STOP_TIMEOUT))s after --duration $DURATION"
		return 1
	fi
	rc=$EXIT_RC
	CUR_PID=""
	remove_dpdk_runtime
	if [[ $rc -ne 0 ]]; then
		fail_run "$name" "$run" "$out" "napifwd exited with status $rc"
		return 1
	fi
	if [[ ! -s $stats ]]; then
		fail_run "$name" "$run" "$out" "napifwd wrote no --stats-json $stats"
		return 1
	fi
	# and after: a run that ended in the slow state is disturbed under the gate
	line_rt=$(line_round_trip 200000)
	[[ ! $line_rt =~ ^[0-9]+$ ]] || rt_arg+=(--line-rt-after "$line_rt")
	[[ $LINE_RT_BELOW -eq 0 ]] || rt_arg+=(--line-rt-limit "$LINE_RT_BELOW")
	rc=0
	report record "$name" --run "$run" --attempt "$attempt" --status ok --stats "$stats" --log "$out" \
		--sched "$base.sched0" --sched "$base.sched1" --min-cpu "$MIN_CPU" \
		--kind "$SC_KIND" --cost "$SC_COST" --fast-path "$SC_FASTPATH" \
		"${rt_arg[@]}" || rc=$?
	case $rc in
	0 | 10) return "$rc" ;;
	*)
		fail_run "$name" "$run" "$out" "unusable stats JSON $stats"
		return 1
		;;
	esac
}

# Run RUN of scenario NAME, tried again (up to --retries times) while it is
# disturbed; the report counts the last attempt.
run_scenario() { # NAME RUN
	local name=$1 run=$2 attempt rc
	for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
		if [[ $attempt -eq 1 ]]; then
			log "---- $name (run $run/$RUNS, ${DURATION}s)"
		else
			log "---- $name (run $run/$RUNS, ${DURATION}s, attempt $attempt of $((RETRIES + 1)): the last one was disturbed)"
			nap "$PAUSE"
		fi
		rc=0
		run_attempt "$name" "$run" "$attempt" || rc=$?
		[[ $rc -eq 10 ]] || return 0
	done
	warn "$name run $run: still disturbed after $((RETRIES + 1)) attempt(s); kept and flagged"
}

# ---------------------------------------------------------------------------

# The CPU an lcore runs on in an --lcores map of single "L@C" entries
# (nothing for other forms: ranges, groups).
cpu_of_lcore() { # MAP LCORE
	tr ',' '\n' <<<"$1" | sed -n "s/^$2@\([0-9][0-9]*\)\$/\1/p"
}

# Waits until the cache line round trip is below LIMIT cycles, or for at
# most WAIT seconds (then warns; the run goes ahead and reports its round
# trip like any other).
wait_line_rt_below() { # LIMIT WAIT
	local limit=$1 deadline=$((SECONDS + $2)) rt
	while :; do
		rt=$(line_round_trip 50000)
		if [[ ! $rt =~ ^[0-9]+$ ]]; then
			warn "--line-rt-below: the round trip cannot be measured here ($rt); not waiting"
			return 0
		fi
		[[ $rt -ge $limit ]] || return 0
		if [[ $SECONDS -ge $deadline ]]; then
			warn "line round trip still $rt cycles (wanted < $limit) after waiting $2 s: running anyway"
			return 0
		fi
		nap 2
	done
}

# The cross-core floor: one cache line's round trip between the two
# workers' CPUs (benches/line_pingpong.c), in TSC cycles; "n/a" when it
# cannot be measured (no C compiler, one CPU, unusual lcore map). Taken
# before and after all runs (10^6 round trips) and before each run (2x10^5,
# recorded with it): on a VM it changes several times over from one minute
# to the next, as the host moves the vCPUs.
line_round_trip() { # [ROUND_TRIPS]
	local a b out
	a=$(cpu_of_lcore "$EAL_LCORES" "$RX_LCORE")
	b=$(cpu_of_lcore "$EAL_LCORES" "$OTHER_LCORE")
	if [[ -z $a || -z $b || $a == "$b" ]] || ! command -v cc >/dev/null; then
		echo n/a
		return
	fi
	if [[ ! -x $BENCH_DIR/line_pingpong || $SCRIPT_DIR/line_pingpong.c -nt $BENCH_DIR/line_pingpong ]] &&
		! cc -O2 -pthread "$SCRIPT_DIR/line_pingpong.c" -o "$BENCH_DIR/line_pingpong" 2>/dev/null; then
		echo n/a
		return
	fi
	out=$(timeout 60 "$BENCH_DIR/line_pingpong" "$a" "$b" "${1:-1000000}" 2>/dev/null) || {
		echo n/a
		return
	}
	echo "${out#round_trip_tsc_cycles=}"
}

main() {
	parse_args "$@"
	require_root "$@"
	ensure_two_worker_deps

	mkdir -p "$BENCH_DIR"
	take_bench_lock "$WAIT_LOCK"
	open_nap_fd

	OUT_DIR=${OUT_DIR:-$REPO/benches/out/rps-$(date +%Y%m%d-%H%M%S)}
	mkdir -p "$OUT_DIR"
	OUT_DIR=$(cd "$OUT_DIR" && pwd)
	RESULTS=$OUT_DIR/results.jsonl
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	make_pcap
	memory_placeholders
	[[ $HUGEPAGES -eq 0 ]] || reserve_hugepages "$MEMORY_MB"

	local loadavg cpu version burst round_trip
	loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
	round_trip=$(line_round_trip)
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	version=$("$NAPIFWD_BIN" version 2>&1 | tr '\n' ' ' | sed 's/ *$//') || version=unknown
	burst=$(sed -n 's/^pub const BURST: usize = \([0-9]*\);.*/\1/p' "$REPO/src/worker/mod.rs" 2>/dev/null) || true
	log "out: $OUT_DIR"
	log "scenarios: ${SELECTED[*]}"
	log "EAL lcores: $EAL_LCORES (main $MAIN_LCORE, RX worker $RX_LCORE, other worker $OTHER_LCORE)"
	log "load average before: $loadavg (numbers are only meaningful on a quiet machine)"
	local others
	others=$(pgrep -a -x 'napifwd|dpdk-testpmd|l3fwd|l2fwd|dpdk-test.*' 2>/dev/null | cut -c1-160) || true
	[[ -z $others ]] || warn "other DPDK programs are running and share the CPUs:"$'\n'"$others"

	local run c
	for ((run = 1; run <= RUNS; run++)); do
		for c in "${SELECTED[@]}"; do
			run_scenario "$c" "$run"
			nap "$PAUSE"
		done
	done

	round_trip="before $round_trip, after $(line_round_trip)"
	local report_args=(--meta "command=$COMMAND_LINE"
		--meta "traffic=$TRAFFIC" --meta "duration_s=$DURATION" --meta "runs=$RUNS"
		--meta "eal_lcores=$EAL_LCORES" --meta "memory=$MEMORY_NOTE" --meta "max_backlog=$MAX_BACKLOG" --meta "rps_hash=$RPS_HASH" --meta "free_mode=$FREE_MODE"
		--meta "burst=${burst:-?}" --meta "line_round_trip_cycles=$round_trip" --meta "cpus=$(nproc)" --meta "nice=$NICE" --meta "min_cpu=$MIN_CPU" --meta "retries=$RETRIES" --meta "line_rt_below=$LINE_RT_BELOW"
		--meta "host=$(hostname) $(uname -r)" --meta "cpu=$cpu"
		--meta "loadavg=$loadavg (before) $(cut -d' ' -f1-3 /proc/loadavg) (after)"
		--meta "napifwd=$NAPIFWD_BIN ($version)" --meta "out=$OUT_DIR"
		--meta "git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
		--latency-cost "$LATENCY_COST" --min-cpu "$MIN_CPU")
	[[ -z $JSON_OUT ]] || report_args+=(--json "$JSON_OUT")
	[[ $REQUIRE_TARGETS -eq 0 ]] || report_args+=(--require-targets)
	local rc=0
	report report "${report_args[@]}" || rc=$?
	if [[ $FAILED -ne 0 ]]; then
		log "some runs failed: see the messages above and the logs in $OUT_DIR"
		exit 1
	fi
	exit "$rc"
}

main "$@"
