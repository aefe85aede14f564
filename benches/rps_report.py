#!/usr/bin/env python3
"""Result plumbing for benches/rps.sh (python3 standard library only).

rps.sh runs napifwd once per scenario and run; this helper turns each run's
--stats-json into one record appended to a results file (JSON Lines), and at
the end turns the records into the tables, the ratios, the targets and the
optional JSON report. See benches/README.md ("RPS") for the method.

  record NAME --stats FILE : one run (or --status failed: a run without numbers)
  report                   : the tables; --json OUT for machines
  selftest                 : checks the arithmetic on synthetic stats

Cycles are TSC cycles as napifwd counts them: a worker's busy_cycles are the
TSC cycles of its rounds that found work. Formulas (per run; the tables show
the median over runs and the min-max of the per-run values):

  single (rtc-c0)    busy / forwarded
  RPS raw (steer-c0) (busy_rx + busy_fwd) / forwarded
  RPS fair           busy_rx / received + busy_fwd / forwarded_by_fwd
  overhead           RPS - single (raw and fair)
  scaling            Mpps(rps2-cN) / Mpps(rtc-cN), Mpps = forwarded / uptime
                     (and rps2w-cN, the weighted map, rps2a-cN, adaptive RPS,
                     rps2b-cN, adaptive RPS with balancing, and
                     steer-cN, everything to the other worker)
where forwarded = packets out of the sink port, busy_rx / received = the RX
worker's busy cycles and packets it took from RX, busy_fwd / forwarded_by_fwd
= the other worker's busy cycles and the packets it transmitted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import NoReturn

RX_LCORE = 1  # rps.sh pins the source's RX queue to the worker on lcore 1
OVERHEAD_TARGET = 25.0  # cycles per packet, at burst >= 32
OVERHEAD_MIN_BURST = 32
SCALING_TARGETS = {300: 1.7, 0: 1.0}  # cost -> minimum ratio
KIND_ORDER = ["rtc", "rps1", "rps1-nofp", "steer", "rps2", "rps2w", "rps2a", "rps2b", "rps2-nofp"]
SCALING_KINDS = {  # the 2-core scenarios of (b): kind -> what it is
    "rps2": "RPS over both (map [1, 2])",
    "rps2w": "weighted map [1, 2, 2, 2]: the RX worker keeps a quarter",
    "rps2a": "RPS over both with rps.adaptive = true",
    "rps2b": "RPS over both with rps.balance and rps.adaptive = true",
    "steer": "rps map [2]: every flow to the other worker, the RX worker only receives",
}
KIND_TEXT = {
    "rtc": "1 worker, run to completion (RPS off)",
    "rps1": "1 worker, RPS to itself, local fast path on",
    "rps1-nofp": "1 worker, RPS to itself through its own backlog",
    "steer": "RX on lcore 1, all steered to lcore 2",
    "rps2": "RX on lcore 1, RPS over both, local fast path on",
    "rps2w": "RX on lcore 1, rps map [1, 2, 2, 2], local fast path on",
    "rps2a": "RX on lcore 1, RPS over both, adaptive",
    "rps2b": "RX on lcore 1, RPS over both, balance + adaptive",
    "rps2-nofp": "RX on lcore 1, RPS over both, local fast path off",
}
DEFAULT_MIN_CPU = 95  # percent: below this a run is disturbed
PERCENTILES = [("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")]


class ParseError(Exception):
    """The stats JSON does not hold the numbers we need."""


def fail(msg: str) -> NoReturn:
    print(f"rps_report: {msg}", file=sys.stderr)
    sys.exit(1)


def dig(obj, *path):
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        else:
            return None
    return obj


def num(x) -> float | None:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def div(a, b) -> float | None:
    return a / b if a is not None and b else None


def cpuinfo_tsc_hz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- latency -----------------------------------------------------------------

LATENCY_KEYS = ("latency", "packet_latency", "latency_us", "latency_ns")


def normalize_latency(obj, tsc_hz: float | None) -> dict | None:
    """{count, p50, p99, p999, max} in microseconds from whatever the stats
    JSON calls them (p50_us, p50_ns, p50_cycles, p50 with a `unit`), or None
    when there is no latency data (absent, or nothing observed)."""
    if not isinstance(obj, dict):
        return None
    unit = str(obj.get("unit", "us")).lower()
    scale_of = {"us": 1.0, "ns": 1e-3, "s": 1e6, "seconds": 1e6, "ms": 1e3}

    def value(stem: str):
        names = {
            "p50": ["p50"],
            "p99": ["p99"],
            "p999": ["p999", "p99_9", "p99.9"],
            "max": ["max"],
        }[stem]
        for n in names:
            for suffix, scale in (("_us", 1.0), ("_ns", 1e-3), ("_ms", 1e3), ("_seconds", 1e6), ("_s", 1e6)):
                v = num(obj.get(n + suffix))
                if v is not None:
                    return v * scale
            v = num(obj.get(n + "_cycles"))
            if v is not None:
                return v / tsc_hz * 1e6 if tsc_hz else None
            v = num(obj.get(n))
            if v is not None:
                if unit == "cycles":
                    return v / tsc_hz * 1e6 if tsc_hz else None
                return v * scale_of.get(unit, 1.0)
        return None

    out = {stem: value(stem) for stem in ("p50", "p99", "p999", "max")}
    count = num(obj.get("count"))
    out["count"] = count
    if all(out[s] is None for s in ("p50", "p99", "p999")):
        return None
    if count is not None and count <= 0:
        return None
    return out


def find_latency(scope: dict, tsc_hz):
    if not isinstance(scope, dict):
        return None
    for key in LATENCY_KEYS:
        if key in scope:
            lat = normalize_latency(scope[key], tsc_hz)
            if lat:
                return lat
    return None


def combined_latency(stats: dict, workers: list[dict], tsc_hz) -> dict | None:
    """All packets' latency: the report's own total when it has one, else
    the only worker that transmitted, else an upper bound: the largest of
    the workers' percentiles (the p-th percentile of a union is never above
    the largest per-part p-th percentile)."""
    for scope in (stats, stats.get("totals")):
        lat = find_latency(scope, tsc_hz)
        if lat:
            return dict(lat, source="totals")
    per = [w["latency"] for w in workers if w.get("latency")]
    if not per:
        return None
    if len(per) == 1:
        return dict(per[0], source=f"worker lcore {next(w['lcore'] for w in workers if w.get('latency'))}")
    bound = {s: max((p[s] for p in per if p.get(s) is not None), default=None) for s in ("p50", "p99", "p999", "max")}
    counts = [p.get("count") for p in per]
    bound["count"] = sum(counts) if all(c is not None for c in counts) else None
    bound["source"] = "upper bound: max over workers"
    return bound


# --- scheduler samples ----------------------------------------------------------


def read_sched(path: str):
    """(wall_ns, {tid: (comm, on_cpu_ns, wait_ns)}) from rps.sh's sched_sample, or None."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    wall, threads = None, {}
    for line in lines:
        parts = line.split()
        if line.startswith("# wall_ns") and len(parts) == 3:
            wall = int(parts[2])
        elif len(parts) >= 4 and not line.startswith("#"):
            try:
                threads[parts[0]] = (parts[1], int(parts[2]), int(parts[3]))
            except ValueError:
                continue
    return (wall, threads) if wall and threads else None


def sched_shares(paths: list[str]) -> dict:
    """{worker id: {cpu_share, runqueue_wait_share}} between the first and the
    last sample: the fraction of the window each worker thread (comm
    napifwd-w<id>) ran on its CPU, and waited for it behind other threads."""
    samples = [s for s in (read_sched(p) for p in paths) if s]
    if len(samples) < 2:
        return {}
    (w0, t0), (w1, t1) = samples[0], samples[-1]
    window = w1 - w0
    out = {}
    if window <= 0:
        return out
    for tid, (comm, on1, wait1) in t1.items():
        if tid not in t0 or not comm.startswith("napifwd-w"):
            continue
        try:
            wid = int(comm[len("napifwd-w"):])
        except ValueError:
            continue
        _, on0, wait0 = t0[tid]
        out[wid] = {
            "cpu_share": (on1 - on0) / window,
            "runqueue_wait_share": (wait1 - wait0) / window,
            "window_s": window / 1e9,
        }
    return out


# --- one run -------------------------------------------------------------------

WORKER_FIELDS = (
    "id", "lcore", "rx_packets", "processed", "tx_packets", "rps_sent", "rps_received",
    "busy_cycles", "idle_cycles", "rounds", "budget_exhausted", "time_exhausted",
    "backlog_high_water", "backlog_len", "parks", "kicks", "dropped_packets", "dropped_by_reason",
)


def derive(rec: dict) -> None:
    """Per-run figures from the raw counters (stored in the record)."""
    ws = rec["workers"]
    fwd = rec["forwarded"]
    rec["mpps"] = fwd / rec["uptime_s"] / 1e6
    busy = [w.get("busy_cycles") for w in ws]
    rec["busy_cycles"] = sum(busy) if busy and all(isinstance(b, int) for b in busy) else None
    rec["busy_per_packet"] = div(rec["busy_cycles"], fwd)
    total_processed = sum(w.get("processed") or 0 for w in ws)
    for w in ws:
        b, i = w.get("busy_cycles"), w.get("idle_cycles")
        w["busy_share"] = div(b, (b or 0) + (i or 0)) if b is not None else None
        w["processed_share"] = div(w.get("processed"), total_processed)
    # On-CPU estimate: busy cycles are TSC (wall) cycles, so time the worker
    # spent preempted inside a busy round counts as work. Scaling by the
    # share of the window its thread was on the CPU removes that, assuming
    # preemption falls evenly on busy and idle rounds (an estimate).
    shares = [w.get("cpu_share") for w in ws]
    rec["min_cpu_share"] = min(shares) if shares and all(s is not None for s in shares) else None
    for w in ws:
        s, b = w.get("cpu_share"), w.get("busy_cycles")
        w["busy_cycles_oncpu"] = b * min(s, 1.0) if s is not None and b is not None else None
    oncpu = [w["busy_cycles_oncpu"] for w in ws]
    rec["busy_per_packet_oncpu"] = div(sum(oncpu), fwd) if all(b is not None for b in oncpu) else None
    rec["drop_share"] = div(rec.get("dropped") or 0, rec.get("rx"))
    rec["backlog_full"] = (rec.get("dropped_by_reason") or {}).get("backlog_full", 0)
    if rec["kind"] == "steer":
        prod = next((w for w in ws if w.get("lcore") == RX_LCORE), None)
        cons = [w for w in ws if w is not prod]
        if prod is None or len(cons) != 1:
            raise ParseError(f"steer run: expected the RX worker on lcore {RX_LCORE} and one other, got lcores {[w.get('lcore') for w in ws]}")
        cons = cons[0]
        rec["producer_per_packet"] = div(prod.get("busy_cycles"), prod.get("rx_packets"))
        rec["consumer_per_packet"] = div(cons.get("busy_cycles"), cons.get("tx_packets"))
        pp, cp = rec["producer_per_packet"], rec["consumer_per_packet"]
        rec["fair_per_packet"] = pp + cp if pp is not None and cp is not None else None
        rec["raw_per_packet"] = rec["busy_per_packet"]
        po = div(prod.get("busy_cycles_oncpu"), prod.get("rx_packets"))
        co = div(cons.get("busy_cycles_oncpu"), cons.get("tx_packets"))
        rec["fair_per_packet_oncpu"] = po + co if po is not None and co is not None else None


def line_rt_text(rec: dict) -> str:
    """A run's line round trip for the table: before, or before:after."""
    before = fmt(rec.get("line_rt_cycles"), "d", "?")
    after = rec.get("line_rt_after_cycles")
    return before if after is None else f"{before}:{after}"


def judge_disturbed(rec: dict, min_cpu_pct: float) -> None:
    """Marks a run disturbed when a worker had its CPU less than min_cpu_pct
    percent of the time, or (vm_slow_after, set by record) it ended in the
    VM's slow state: the one rule, for record and for a report that judges
    again with its own threshold."""
    s = rec.get("min_cpu_share")
    rec["cpu_disturbed"] = s is not None and s < min_cpu_pct / 100
    rec["disturbed"] = rec["cpu_disturbed"] or bool(rec.get("vm_slow_after"))


def record(args: argparse.Namespace) -> int:
    """Appends the run's record; returns 10 when the run was disturbed (a
    worker had its CPU less than --min-cpu percent of the time, or with
    --line-rt-limit the round trip after the run was not below it), else 0."""
    rec = {"name": args.name, "run": args.run, "attempt": getattr(args, "attempt", 1),
           "status": args.status, "log": args.log, "line_rt_cycles": getattr(args, "line_rt", None),
           "line_rt_after_cycles": getattr(args, "line_rt_after", None)}
    if args.status != "ok":
        rec["note"] = args.note
        append(args.results, rec)
        return 0
    try:
        stats = json.loads(Path(args.stats).read_text())
    except (OSError, ValueError) as exc:
        raise ParseError(f"cannot read stats JSON {args.stats}: {exc}") from exc
    if not isinstance(stats, dict):
        raise ParseError("stats JSON is not an object")
    tsc_hz = cpuinfo_tsc_hz()
    fwd = dig(stats, "ports", "sink", "tx_packets")
    rec["forwarded_source"] = "ports.sink.tx_packets"
    if fwd is None:
        fwd, rec["forwarded_source"] = dig(stats, "totals", "tx_packets"), "totals.tx_packets"
    if not isinstance(fwd, int) or fwd <= 0:
        raise ParseError(f"nothing forwarded ({rec['forwarded_source']} = {fwd})")
    uptime = num(stats.get("uptime_seconds"))
    if not uptime or uptime <= 0:
        raise ParseError("no uptime_seconds in the stats JSON")
    workers = stats.get("workers")
    if not isinstance(workers, list) or not workers:
        raise ParseError("no workers in the stats JSON")
    sched = sched_shares(args.sched or [])
    ws = []
    for i, w in enumerate(workers):
        entry = {k: w.get(k) for k in WORKER_FIELDS if k in w}
        entry["latency"] = find_latency(w, tsc_hz)
        entry.update(sched.get(w.get("id", i), {}))
        ws.append(entry)
    rec.update(
        stats=args.stats,
        kind=args.kind,
        cost=args.cost,
        fast_path=args.fast_path == "true",
        uptime_s=uptime,
        forwarded=fwd,
        rx=dig(stats, "totals", "rx_packets"),
        tx=dig(stats, "totals", "tx_packets"),
        dropped=dig(stats, "totals", "dropped_packets"),
        dropped_by_reason=dig(stats, "totals", "dropped_by_reason") or {},
        in_flight=dig(stats, "totals", "in_flight"),
        workers=ws,
        latency=combined_latency(stats, ws, tsc_hz),
    )
    derive(rec)
    # The gate (--line-rt-below) checks the VM's state before a run; the
    # state can change within seconds, so a run that ended in the slow
    # state counts as disturbed too (a heuristic: one sample, at the end).
    limit, after = getattr(args, "line_rt_limit", None), rec["line_rt_after_cycles"]
    rec["vm_slow_after"] = bool(limit) and after is not None and after >= limit
    judge_disturbed(rec, getattr(args, "min_cpu", DEFAULT_MIN_CPU))
    append(args.results, rec)
    extra = ""
    if rec["kind"] == "steer":
        extra = f", raw {fmt(rec['raw_per_packet'], '.1f')} fair {fmt(rec['fair_per_packet'], '.1f')} c/p"
    print(
        f"{rec['name']}: {rec['mpps']:.3f} Mpps, busy {fmt(rec['busy_per_packet'], '.1f')} c/p{extra}, "
        f"dropped {rec.get('dropped')} of {rec.get('rx')} ({fmt(rec['drop_share'] and rec['drop_share'] * 100, '.2f')} %), "
        f"line round trip before the run {fmt(rec['line_rt_cycles'], 'd', 'n/a')} c, "
        f"after {fmt(rec['line_rt_after_cycles'], 'd', 'n/a')} c"
        + (f"; DISTURBED: a worker had its CPU {rec['min_cpu_share'] * 100:.0f} % of the time" if rec["cpu_disturbed"] else "")
        + (f"; DISTURBED: the run ended in the VM's slow state (round trip {after} >= {limit})" if rec["vm_slow_after"] else ""),
        file=sys.stderr,
    )
    return 10 if rec["disturbed"] else 0


def append(path: str, rec: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# --- report ------------------------------------------------------------------


def fmt(x, spec: str, missing: str = "-") -> str:
    return missing if x is None else format(x, spec)


def med(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values, spec: str) -> str:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return ""
    return f"{format(min(vals), spec)}-{format(max(vals), spec)}"


def scenario_key(name: str):
    kind, _, cost = name.rpartition("-c")
    return (int(cost) if cost.isdigit() else 0, KIND_ORDER.index(kind) if kind in KIND_ORDER else 99, name)


class Scenarios:
    """The runs of each scenario: the last attempt of every (name, run), and
    of those the undisturbed ones when there is any (else all of them)."""

    def __init__(self, records: list[dict], min_cpu: float | None = None):
        last = {}
        for r in records:  # in time order: a later attempt replaces an earlier one
            last[(r["name"], r["run"])] = r
        self.records = list(last.values())
        if min_cpu is not None:  # judged again with the report's threshold
            for r in self.records:
                judge_disturbed(r, min_cpu)
        self.names = sorted({r["name"] for r in self.records}, key=scenario_key)

    def all_ok(self, name: str) -> list[dict]:
        return [r for r in self.records if r["name"] == name and r["status"] == "ok"]

    def ok(self, name: str) -> list[dict]:
        runs = self.all_ok(name)
        clean = [r for r in runs if not r.get("disturbed")]
        return clean or runs

    def clean_count(self, name: str) -> int:
        return sum(1 for r in self.all_ok(name) if not r.get("disturbed"))

    def runs(self, name: str) -> list[dict]:
        return [r for r in self.records if r["name"] == name]

    def values(self, name: str, key: str) -> list:
        return [r.get(key) for r in self.ok(name)]

    def median(self, name: str, key: str):
        return med(self.values(name, key))

    def paired(self, a: str, b: str, fn) -> list:
        """fn(run of a, run of b) for every run number both have."""
        by_run = {r["run"]: r for r in self.ok(b)}
        return [fn(r, by_run[r["run"]]) for r in self.ok(a) if r["run"] in by_run]


def latency_cell(lat_runs: list, stem: str) -> str:
    vals = [lat.get(stem) for lat in lat_runs if lat]
    m = med(vals)
    if m is None:
        return "n/a"
    bound = any(lat and lat.get("source", "").startswith("upper") for lat in lat_runs)
    digits = 2 if m < 100 else 1 if m < 1000 else 0
    return ("<=" if bound else "") + f"{m:.{digits}f}"


def report(args: argparse.Namespace) -> int:
    records = []
    if Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            if line.strip():
                records.append(json.loads(line))
    sc = Scenarios(records, args.min_cpu)
    meta = dict(kv.split("=", 1) for kv in args.meta)
    tsc_hz = cpuinfo_tsc_hz()
    out = sys.stdout
    p = lambda *a: print(*a, file=out)  # noqa: E731

    p("")
    p("napifwd RPS benchmark: L3 forwarding, net_pcap infinite_rx source -> net_null sink")
    for key in ("command", "traffic", "duration_s", "runs", "eal_lcores", "memory", "max_backlog", "rps_hash", "free_mode",
                "burst", "host", "cpu", "napifwd", "loadavg"):
        if key in meta:
            p(f"  {key:<11} {meta[key]}")
    if meta.get("line_rt_below", "0") not in ("0", ""):
        p(f"  {'gate':<11} each run waited for a cache line round trip below {meta['line_rt_below']} cycles "
          "(--line-rt-below; see the line rt column)")
    p(f"  {'tsc':<11} {fmt(tsc_hz and tsc_hz / 1e6, '.3f', '?')} MHz (/proc/cpuinfo)")
    if meta.get("eal_lcores") == "0@0,1@0,2@1":
        p("  note        2 CPUs: the main lcore 0 shares CPU 0 with worker lcore 1 (it mostly sleeps);")
        p("              worker lcore 2 has CPU 1; other processes on the machine share both")

    # ---- every scenario ----
    scen_json = {}
    p("")
    hdr = (f"{'scenario':<14} {'runs':>5} {'Mpps':>7} {'min-max':>11} {'busy c/p':>9} {'core c/p':>9} "
           f"{'sink/rx':>8} {'drop %':>7} {'line rt':>9}  per worker (lcore: busy %, share of forwarding, backlog high water, cpu %)")
    p(hdr)
    p("-" * len(hdr))
    for name in sc.names:
        ok, runs = sc.ok(name), sc.runs(name)
        if not ok:
            note = runs[-1].get("note", "")
            p(f"{name:<14} {'':>5} {'FAILED':>7}  {note}")
            scen_json[name] = {"status": "failed", "runs": len(runs), "note": note}
            continue
        mpps = sc.median(name, "mpps")
        nworkers = len(ok[-1]["workers"])
        core_cp = tsc_hz * nworkers / (mpps * 1e6) if tsc_hz and mpps else None
        fwd, rx = sum(r["forwarded"] for r in ok), sum(r.get("rx") or 0 for r in ok)
        wparts = []
        wjson = []
        for i, w in enumerate(ok[-1]["workers"]):
            bs = med([r["workers"][i].get("busy_share") for r in ok if len(r["workers"]) > i])
            ps = med([r["workers"][i].get("processed_share") for r in ok if len(r["workers"]) > i])
            hw = max((r["workers"][i].get("backlog_high_water") or 0 for r in ok if len(r["workers"]) > i), default=0)
            cs = med([r["workers"][i].get("cpu_share") for r in ok if len(r["workers"]) > i])
            wparts.append(f"w{w.get('lcore')}: {fmt(bs and bs * 100, '.0f')}% busy, {fmt(ps and ps * 100, '.0f')}% fwd, "
                          f"hw {hw}, cpu {fmt(cs and cs * 100, '.0f')}%")
            wjson.append({"lcore": w.get("lcore"), "busy_share": bs, "processed_share": ps, "backlog_high_water_max": hw,
                          "cpu_share": cs})
        note = "; ".join(wparts)
        n_ok, n_clean = len(sc.all_ok(name)), sc.clean_count(name)
        if n_ok < len(runs):
            note = f"{len(runs) - n_ok} of {len(runs)} runs failed; " + note
        used = f"{len(ok)}/{n_ok}" + ("*" if n_clean == 0 and any(x.get("disturbed") for x in ok) else "")
        p(f"{name:<14} {used:>5} {mpps:>7.3f} {spread(sc.values(name, 'mpps'), '.2f'):>11} "
          f"{fmt(sc.median(name, 'busy_per_packet'), '9.1f'):>9} {fmt(core_cp, '9.1f'):>9} "
          f"{fmt(div(fwd, rx), '8.4f'):>8} {fmt(med([r['drop_share'] for r in ok]) * 100, '7.2f'):>7} "
          f"{'/'.join(line_rt_text(r) for r in ok):>9}  {note}")
        drops = {}
        for r in ok:
            for k, v in (r.get("dropped_by_reason") or {}).items():
                drops[k] = drops.get(k, 0) + v
        scen_json[name] = {
            "status": "ok" if n_ok == len(runs) else "partial",
            "clean_runs": n_clean,
            "counted_runs": len(ok),
            "counted_runs_disturbed": n_clean == 0 and any(x.get("disturbed") for x in ok),
            "what": KIND_TEXT.get(ok[-1]["kind"], ""),
            "kind": ok[-1]["kind"],
            "cost_cycles": ok[-1]["cost"],
            "runs": len(runs),
            "ok_runs": n_ok,
            "mpps": mpps,
            "mpps_runs": sc.values(name, "mpps"),
            "busy_cycles_per_packet": sc.median(name, "busy_per_packet"),
            "busy_cycles_per_packet_runs": sc.values(name, "busy_per_packet"),
            "core_cycles_per_packet": core_cp,
            "sink_share": div(fwd, rx),
            "line_rt_cycles_runs": [r.get("line_rt_cycles") for r in ok],
            "line_rt_after_cycles_runs": [r.get("line_rt_after_cycles") for r in ok],
            "dropped_by_reason_all_runs": drops,
            "workers": wjson,
            "latency_us": [r.get("latency") for r in ok],
            "stats": [r.get("stats") for r in ok],
        }
    p("")
    p("busy c/p = busy TSC cycles of all workers / packets out of the sink; core c/p = TSC Hz x workers / pps;")
    p("sink/rx = packets out / packets received; busy % = busy / (busy + idle) cycles of that worker;")
    p("line rt = one cache line's round trip between the workers' CPUs just before each counted run, and :after it (TSC cycles;")
    p("a VM's vCPUs move between host cores: ~180 and ~900 are both seen here, and the RPS figures follow it);")
    p("hw = backlog high water; cpu % = share of the run its thread was on its CPU (/proc schedstat);")
    p(f"runs = runs counted / runs that worked: a run where a worker had its CPU less than {args.min_cpu} % of the time")
    p("is disturbed and left out when the scenario has undisturbed runs; * = only disturbed runs, all counted.")
    p("With --line-rt-below, so is a run whose round trip after it was not below the gate (the VM changed state).")
    slow = [f"{r['name']} run {r['run']} ({r['line_rt_after_cycles']})" for r in sc.records
            if r.get("status") == "ok" and r.get("vm_slow_after")]
    if slow:
        p(f"WARNING: {len(slow)} run(s) ended in the VM's slow state: {', '.join(slow)}")
    disturbed = [(r["min_cpu_share"], r["name"], r["run"]) for r in sc.records
                 if r.get("status") == "ok" and r.get("cpu_disturbed", r.get("disturbed"))]
    if disturbed:
        worst = min(disturbed)
        starred = [n for n in sc.names if sc.all_ok(n) and sc.clean_count(n) == 0]
        p(f"WARNING: {len(disturbed)} of {sum(1 for r in sc.records if r.get('status') == 'ok')} runs were disturbed "
          f"(worst: a worker had its CPU {worst[0] * 100:.0f} % of the time, {worst[1]} run {worst[2]}): other processes ran")
        p("         on napifwd's CPUs." + (f" Only disturbed runs for: {', '.join(starred)};" if starred else "")
          + (" their numbers say more about the machine than about napifwd." if starred else ""))

    targets = []

    # ---- (a) overhead ----
    overhead_json = None
    if sc.ok("rtc-c0") and sc.ok("steer-c0"):
        single = sc.median("rtc-c0", "busy_per_packet")
        raw = sc.median("steer-c0", "raw_per_packet")
        fair = sc.median("steer-c0", "fair_per_packet")
        prod = sc.median("steer-c0", "producer_per_packet")
        cons = sc.median("steer-c0", "consumer_per_packet")
        ov_raw = raw - single if raw is not None and single is not None else None
        ov_fair = fair - single if fair is not None and single is not None else None
        pr_raw = sc.paired("steer-c0", "rtc-c0", lambda s, r: s["raw_per_packet"] - r["busy_per_packet"])
        pr_fair = sc.paired("steer-c0", "rtc-c0", lambda s, r: (s["fair_per_packet"] or 0) - r["busy_per_packet"])
        steer_drop = med(sc.values("steer-c0", "drop_share"))
        bf = sum(r.get("backlog_full", 0) for r in sc.ok("steer-c0"))
        burst = int(meta["burst"]) if meta.get("burst", "").isdigit() else None
        p("")
        p(f"(a) RPS overhead: busy TSC cycles per packet, burst {burst if burst else '?'}"
          f" (median of {len(sc.ok('steer-c0'))} run(s), min-max of the per-run values)")
        rows = [
            ("single worker, run to completion (rtc-c0)", "busy / forwarded", single, sc.values("rtc-c0", "busy_per_packet")),
            ("RPS raw (steer-c0)", "(busy_rx + busy_fwd) / forwarded", raw, sc.values("steer-c0", "raw_per_packet")),
            ("RPS fair (steer-c0)", "busy_rx / received + busy_fwd / fwd", fair, sc.values("steer-c0", "fair_per_packet")),
            ("  RX worker lcore 1", "busy_rx / received", prod, sc.values("steer-c0", "producer_per_packet")),
            ("  forwarding worker lcore 2", "busy_fwd / fwd", cons, sc.values("steer-c0", "consumer_per_packet")),
            ("overhead raw = RPS raw - single", "", ov_raw, pr_raw),
            ("overhead fair = RPS fair - single", "", ov_fair, pr_fair),
        ]
        s_on = sc.median("rtc-c0", "busy_per_packet_oncpu")
        f_on = sc.median("steer-c0", "fair_per_packet_oncpu")
        if s_on is not None and f_on is not None:
            rows += [
                ("on-CPU estimate (x cpu share): single", "", s_on, sc.values("rtc-c0", "busy_per_packet_oncpu")),
                ("on-CPU estimate: RPS fair", "", f_on, sc.values("steer-c0", "fair_per_packet_oncpu")),
                ("on-CPU estimate: overhead fair", "", f_on - s_on,
                 sc.paired("steer-c0", "rtc-c0", lambda s, r: (s.get("fair_per_packet_oncpu") or 0) - (r.get("busy_per_packet_oncpu") or 0))),
            ]
        for label, formula, v, vals in rows:
            p(f"  {label:<42} {formula:<38} {fmt(v, '8.1f'):>8} {spread(vals, '.1f'):>13}")
        # Where it goes: the same busy c/p of the one-worker RPS scenarios.
        r1, r1n = sc.median("rps1-c0", "busy_per_packet"), sc.median("rps1-nofp-c0", "busy_per_packet")
        split = {}
        if r1 is not None and r1n is not None and fair is not None and single is not None:
            split = {"hash_and_steering": r1 - single, "own_backlog_ring": r1n - r1, "second_core": fair - r1n}
            p("  where it goes (differences of the medians above and of the one-worker RPS scenarios):")
            p(f"    {'steering step (one-target map)':<40} {'rps1-c0 - rtc-c0':<38} {r1 - single:8.1f}")
            p(f"    {'ring enqueue + dequeue, same core':<40} {'rps1-nofp-c0 - rps1-c0':<38} {r1n - r1:8.1f}")
            p(f"    {'second core (cache lines, mbuf pool)':<40} {'RPS fair - rps1-nofp-c0':<38} {fair - r1n:8.1f}")
        rt = meta.get("line_round_trip_cycles")
        if rt and rt != "before n/a, after n/a":
            p(f"  floor: one cache line there and back between the workers' CPUs: {rt} TSC cycles")
            p("  (benches/line_pingpong.c); every packet's mbuf header lines and data line make that trip")
        met = None
        if ov_fair is not None and (burst is None or burst >= OVERHEAD_MIN_BURST):
            met = ov_fair <= OVERHEAD_TARGET
            p(f"  target: overhead fair <= {OVERHEAD_TARGET:.0f} cycles at burst >= {OVERHEAD_MIN_BURST}: {'met' if met else 'NOT MET'}")
        else:
            p(f"  target: overhead <= {OVERHEAD_TARGET:.0f} cycles at burst >= {OVERHEAD_MIN_BURST}: n/a")
        if bf:
            p(f"  the RX worker overran the forwarding worker: {fmt(steer_drop and steer_drop * 100, '.1f')} % of the received packets were")
            p("  dropped backlog_full, after the RX worker had spent cycles on them. The raw figure charges those")
            p("  cycles to the forwarded packets; the fair one charges each worker per packet it handled.")
        else:
            p("  no backlog_full drops: raw and fair agree (up to rounding).")
        targets.append({"name": "RPS overhead (fair), cycles/packet", "value": ov_fair, "target": f"<= {OVERHEAD_TARGET}", "met": met})
        overhead_json = {
            "single_cycles_per_packet": single, "rps_raw_cycles_per_packet": raw, "rps_fair_cycles_per_packet": fair,
            "rx_worker_cycles_per_received_packet": prod, "fwd_worker_cycles_per_forwarded_packet": cons,
            "overhead_raw": ov_raw, "overhead_fair": ov_fair, "overhead_raw_runs": pr_raw, "overhead_fair_runs": pr_fair,
            "steer_drop_share": steer_drop, "burst": burst, "target": OVERHEAD_TARGET, "met": met,
            "split": split,
            "oncpu_estimate": {"single": s_on, "rps_fair": f_on,
                               "overhead_fair": f_on - s_on if s_on is not None and f_on is not None else None},
        }

    # ---- (b) scaling ----
    scaling_json = []
    best: dict[int, tuple[float, str, bool]] = {}  # cost -> (ratio, kind, met) of the best scenario
    for kind, text in SCALING_KINDS.items():
        costs = sorted({r["cost"] for r in records if r.get("status") == "ok" and r.get("kind") == kind})
        rows = []
        for cost in costs:
            a, b = f"{kind}-c{cost}", f"rtc-c{cost}"
            if not (sc.ok(a) and sc.ok(b)):
                continue
            m2, m1 = sc.median(a, "mpps"), sc.median(b, "mpps")
            ratio = m2 / m1 if m1 else None
            per = sc.paired(a, b, lambda x, y: x["mpps"] / y["mpps"])
            target = SCALING_TARGETS.get(cost)
            met = None if ratio is None or target is None else ratio >= target
            nw = range(len(sc.ok(a)[-1]["workers"]))
            shares = [med([r["workers"][i].get("processed_share") for r in sc.ok(a)]) for i in nw]
            busy = [med([r["workers"][i].get("busy_share") for r in sc.ok(a)]) for i in nw]
            cpu = [med([r["workers"][i].get("cpu_share") for r in sc.ok(a)]) for i in nw]
            cpu1 = med([r["workers"][0].get("cpu_share") for r in sc.ok(b)])
            rows.append((cost, m1, m2, ratio, per, target, met, shares, busy, sc.median(a, "drop_share"), cpu, cpu1))
            scaling_json.append({"scenario": kind, "cost_cycles": cost, "mpps_1core": m1, "mpps_2core_rps": m2,
                                 "ratio": ratio, "ratio_runs": per, "target": target, "met": met})
            if target is not None and ratio is not None and (cost not in best or ratio > best[cost][0]):
                best[cost] = (ratio, kind, bool(met))
        if rows:
            p("")
            p(f"(b) scaling with a synthetic per-packet cost: 2 workers, {text}, local fast path on ({kind}-cN)")
            p("    vs 1 worker, RPS off (rtc-cN); Mpps = packets out of the sink / uptime")
            hdr = (f"  {'cost':>6} {'1 core':>8} {'2-core RPS':>11} {'ratio':>7} {'min-max':>11}  {'target':<18} "
                   "2-core lcore 1/2: share of fwd, busy %, cpu %; drop % | 1-core cpu %")
            p(hdr)
            for cost, m1, m2, ratio, per, target, met, shares, busy, drop, cpu, cpu1 in rows:
                t = "" if target is None else f">= {target:.2f}: {'met' if met else 'NOT MET'}"
                pct = lambda xs: "/".join(fmt(s and s * 100, ".0f") for s in xs)  # noqa: E731
                p(f"  {cost:>6} {m1:>8.3f} {m2:>11.3f} {fmt(ratio, '7.3f'):>7} {spread(per, '.3f'):>11}  {t:<18} "
                  f"{pct(shares)}, {pct(busy)}, {pct(cpu)}; {fmt(drop and drop * 100, '.2f')} | {fmt(cpu1 and cpu1 * 100, '.0f')}")
            if any(k == "0@0,1@0,2@1" for k in [meta.get("eal_lcores")]):
                p("    (on 2 CPUs the 2-core runs share CPU 0 with the main lcore; the 1-core runs use CPU 0 only)")
    for cost in sorted(best):
        ratio, kind, met = best[cost]
        targets.append({"name": f"scaling at {cost} cycles/packet, 2-core RPS / 1 core ({kind})", "value": ratio,
                        "target": f">= {SCALING_TARGETS[cost]}", "met": met})

    # ---- (c) latency ----
    lc = args.latency_cost
    lat_rows = [(f"rps2-c{lc}", "local fast path on"), (f"rps2-nofp-c{lc}", "local fast path off"), ("rtc-c0", "1 worker, no RPS (reference)")]
    lat_rows = [(n, t) for n, t in lat_rows if sc.ok(n)]
    latency_json = {}
    if any(n.startswith("rps2") for n, _ in lat_rows):
        p("")
        p(f"(c) latency, RX burst stamp -> TX, microseconds (median of per-run percentiles), cost {lc} cycles/packet")
        p(f"  {'scenario':<14} {'':<30} {'p50':>10} {'p99':>10} {'p99.9':>10} {'Mpps':>8}")
        any_lat = False
        for n, t in lat_rows:
            lats = sc.values(n, "latency")
            any_lat |= any(lats)
            p(f"  {n:<14} {t:<30} " + " ".join(f"{latency_cell(lats, s):>10}" for _, s in PERCENTILES)
              + f" {sc.median(n, 'mpps'):>8.3f}")
            latency_json[n] = {lab: med([x.get(s) for x in lats if x]) for lab, s in PERCENTILES}
            runs_ok = sc.ok(n)
            per_worker = {}
            if len(runs_ok[-1]["workers"]) > 1:  # each worker's own percentiles, under the combined line
                for i, w in enumerate(runs_ok[-1]["workers"]):
                    wl = [r["workers"][i].get("latency") for r in runs_ok if len(r["workers"]) > i]
                    if not any(wl):
                        continue
                    per_worker[w.get("lcore")] = {lab: med([x.get(s) for x in wl if x]) for lab, s in PERCENTILES}
                    p(f"  {'':<14} {'  packets sent by lcore ' + str(w.get('lcore')):<30} "
                      + " ".join(f"{latency_cell(wl, s):>10}" for _, s in PERCENTILES))
            if per_worker:
                latency_json[n]["workers"] = per_worker
        if not any_lat:
            p("  n/a: this napifwd's stats JSON has no latency histogram (workers[].latency or totals.latency)")
        elif any(x and x.get("source", "").startswith("upper") for n, _ in lat_rows for x in sc.values(n, "latency")):
            p("  <= : no total histogram in the stats JSON; the largest per-worker percentile, an upper bound")

    # ---- targets ----
    if targets:
        p("")
        p("targets")
        for t in targets:
            verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "NOT MET")
            p(f"  {t['name']:<60} {fmt(t['value'], '8.3f'):>8}  {t['target']:<8} {verdict}")

    if args.json:
        doc = {
            "meta": meta, "tsc_hz": tsc_hz, "scenarios": scen_json, "overhead": overhead_json,
            "scaling": scaling_json, "latency_us": latency_json, "latency_cost_cycles": lc, "targets": targets,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        p(f"\nJSON written to {args.json}")

    if args.require_targets:
        bad = [t["name"] for t in targets if t["met"] is not True]
        if bad or not targets:
            print(f"targets not met or not computed: {', '.join(bad) or 'none ran'}", file=sys.stderr)
            return 3
    return 0


# --- selftest ------------------------------------------------------------------


def selftest(_args: argparse.Namespace) -> int:
    """The arithmetic, on made-up counters whose answers are known."""
    import tempfile

    def stats(workers, sink_tx, rx, drops=None, uptime=10.0, latency=None):
        d = {"uptime_seconds": uptime, "ports": {"sink": {"tx_packets": sink_tx}},
             "totals": {"rx_packets": rx, "tx_packets": sink_tx, "dropped_packets": sum((drops or {}).values()),
                        "dropped_by_reason": drops or {}, "in_flight": 0},
             "workers": workers}
        if latency:
            d["totals"]["latency"] = latency
        return d

    def w(lcore, rx=0, tx=0, processed=0, busy=0, idle=0, lat=None):
        d = {"id": lcore - 1, "lcore": lcore, "rx_packets": rx, "tx_packets": tx, "processed": processed,
             "busy_cycles": busy, "idle_cycles": idle, "backlog_high_water": 0}
        if lat:
            d["latency"] = lat
        return d

    with tempfile.TemporaryDirectory() as tmp:
        res = f"{tmp}/r.jsonl"

        def add(name, kind, cost, st, run=1, cpu=None, line_rt=None, line_rt_after=None, line_rt_limit=None):
            path = f"{tmp}/{name}.{run}.json"
            Path(path).write_text(json.dumps(st))
            sched = []
            if cpu:  # {worker id: on-CPU share} over a 1 s window, plus a thread that is not a worker
                for k, t in enumerate((5 * 10**9, 6 * 10**9)):
                    lines = [f"# wall_ns {t}", f"99 napifwd {k * 10**9} 0 1"]
                    lines += [f"{100 + wid} napifwd-w{wid} {int(k * share * 10**9)} {int(k * (1 - share) * 10**9)} 7"
                              for wid, share in cpu.items()]
                    sched.append(f"{tmp}/{name}.{run}.sched{k}")
                    Path(sched[-1]).write_text("\n".join(lines) + "\n")
            return record(argparse.Namespace(name=name, run=run, status="ok", log="", note="", stats=path,
                                             kind=kind, cost=cost, fast_path="true", results=res, sched=sched,
                                             attempt=1, min_cpu=95.0, line_rt=line_rt,
                                             line_rt_after=line_rt_after, line_rt_limit=line_rt_limit))

        # single: 1e6 packets, 100e6 busy cycles -> 100 c/p; 0.1 Mpps over 10 s.
        add("rtc-c0", "rtc", 0, stats([w(1, rx=10**6, tx=10**6, processed=10**6, busy=100 * 10**6)], 10**6, 10**6),
            cpu={0: 0.8})
        # steer: RX worker took 2e6, 1e6 dropped backlog_full, busy 60e6 -> 30 c/p received;
        # forwarder sent 1e6 with 90e6 busy -> 90 c/p. raw = 150e6/1e6 = 150; fair = 120.
        add("steer-c0", "steer", 0, stats(
            [w(1, rx=2 * 10**6, busy=60 * 10**6), w(2, tx=10**6, processed=10**6, busy=90 * 10**6, idle=10 * 10**6)],
            10**6, 2 * 10**6, {"backlog_full": 10**6}), cpu={0: 0.5, 1: 1.0}, line_rt=183, line_rt_after=190,
            line_rt_limit=300)
        # one worker with RPS to itself: 110 c/p; through its own ring: 125 c/p.
        add("rps1-c0", "rps1", 0, stats([w(1, rx=10**6, tx=10**6, processed=10**6, busy=110 * 10**6)], 10**6, 10**6))
        add("rps1-nofp-c0", "rps1-nofp", 0, stats([w(1, rx=10**6, tx=10**6, processed=10**6, busy=125 * 10**6)], 10**6, 10**6))
        add("rtc-c300", "rtc", 300, stats([w(1, rx=10**6, tx=10**6, processed=10**6, busy=1)], 10**6, 10**6))
        add("rps2-c300", "rps2", 300, stats(
            [w(1, rx=18 * 10**5, tx=9 * 10**5, processed=9 * 10**5, busy=1, lat={"count": 5, "p50_us": 2.0, "p99_us": 5.0, "p999_us": 9.0}),
             w(2, tx=9 * 10**5, processed=9 * 10**5, busy=1, lat={"count": 5, "p50_ns": 3000, "p99_ns": 4000, "p999_ns": 20000})],
            18 * 10**5, 18 * 10**5))
        add("rps2w-c300", "rps2w", 300, stats(
            [w(1, rx=2 * 10**6, tx=5 * 10**5, processed=5 * 10**5, busy=1),
             w(2, tx=15 * 10**5, processed=15 * 10**5, busy=1)],
            2 * 10**6, 2 * 10**6))
        # A run that ended in the VM's slow state is disturbed (exit 10) and
        # loses to the undisturbed one; without a gate the same is not.
        slow = stats([w(1, rx=10**6, tx=10**6, processed=10**6, busy=500 * 10**6)], 10**6, 10**6)
        assert add("rps2a-c1000", "rps2a", 1000, slow, run=1, line_rt=180, line_rt_after=900, line_rt_limit=300) == 10
        assert add("rps2a-c1000", "rps2a", 1000, slow, run=2, line_rt=180, line_rt_after=900) == 0
        recs = [json.loads(x) for x in Path(res).read_text().splitlines()]
        by = {r["name"]: r for r in recs}
        assert by["rtc-c0"]["busy_per_packet"] == 100.0
        assert by["steer-c0"]["line_rt_cycles"] == 183 and by["rtc-c0"]["line_rt_cycles"] is None
        assert abs(by["rtc-c0"]["mpps"] - 0.1) < 1e-12
        s = by["steer-c0"]
        assert s["raw_per_packet"] == 150.0, s
        assert s["producer_per_packet"] == 30.0 and s["consumer_per_packet"] == 90.0
        assert s["fair_per_packet"] == 120.0
        assert s["drop_share"] == 0.5
        assert s["workers"][1]["busy_share"] == 0.9
        # on-CPU: single 100 x 0.8 = 80; fair 30 x 0.5 + 90 x 1.0 = 105.
        assert by["rtc-c0"]["workers"][0]["cpu_share"] == 0.8 and by["rtc-c0"]["min_cpu_share"] == 0.8
        assert abs(by["rtc-c0"]["busy_per_packet_oncpu"] - 80.0) < 1e-9
        assert abs(s["fair_per_packet_oncpu"] - 105.0) < 1e-9, s
        assert abs(s["workers"][0]["runqueue_wait_share"] - 0.5) < 1e-9
        r2 = by["rps2-c300"]
        assert abs(r2["mpps"] / by["rtc-c300"]["mpps"] - 1.8) < 1e-12
        lat = r2["latency"]
        assert lat["source"].startswith("upper") and lat["p50"] == 3.0 and lat["p99"] == 5.0 and lat["p999"] == 20.0, lat
        assert r2["workers"][0]["processed_share"] == 0.5
        assert normalize_latency({"count": 0, "p50_us": 0.0, "p99_us": 0.0, "p999_us": 0.0}, 1e9) is None
        assert normalize_latency({"p50_cycles": 2000, "p99_cycles": 4000}, 2e9) == {
            "p50": 1.0, "p99": 2.0, "p999": None, "max": None, "count": None}
        assert normalize_latency({"p50": 1, "unit": "ns"}, None)["p50"] == 1e-3
        rj = f"{tmp}/out.json"
        import contextlib
        import io

        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            rc = report(argparse.Namespace(results=res, meta=["burst=32"], json=rj, require_targets=True, latency_cost=300,
                                           min_cpu=95.0))
        doc = json.loads(Path(rj).read_text())
        assert abs(doc["overhead"]["oncpu_estimate"]["overhead_fair"] - 25.0) < 1e-9, doc["overhead"]
        assert "WARNING: 2 of 9 runs were disturbed" in text.getvalue(), text.getvalue()
        steer_line = next(x for x in text.getvalue().splitlines() if x.startswith("steer-c0 "))
        assert " 183:190  w1:" in steer_line, steer_line
        assert "WARNING: 1 run(s) ended in the VM's slow state: rps2a-c1000 run 1 (900)" in text.getvalue(), text.getvalue()
        slow_doc = doc["scenarios"]["rps2a-c1000"]
        assert slow_doc["counted_runs"] == 1 and slow_doc["line_rt_after_cycles_runs"] == [900], slow_doc
        assert doc["scenarios"]["steer-c0"]["line_rt_cycles_runs"] == [183], doc["scenarios"]["steer-c0"]
        # A later attempt replaces an earlier one; undisturbed runs win over disturbed ones.
        recs = [{"name": "x-c0", "run": 1, "status": "ok", "disturbed": True, "v": 1},
                {"name": "x-c0", "run": 1, "status": "ok", "disturbed": True, "v": 2},
                {"name": "x-c0", "run": 2, "status": "ok", "disturbed": False, "v": 3},
                {"name": "y-c0", "run": 1, "status": "ok", "disturbed": True, "v": 4}]
        s = Scenarios(recs)
        assert [x["v"] for x in s.all_ok("x-c0")] == [2, 3] and [x["v"] for x in s.ok("x-c0")] == [3]
        assert [x["v"] for x in s.ok("y-c0")] == [4] and s.clean_count("y-c0") == 0
        assert doc["overhead"]["overhead_raw"] == 50.0 and doc["overhead"]["overhead_fair"] == 20.0
        assert doc["overhead"]["met"] is True
        assert doc["overhead"]["split"] == {"hash_and_steering": 10.0, "own_backlog_ring": 15.0, "second_core": -5.0}
        sc300 = next(x for x in doc["scaling"] if x["cost_cycles"] == 300 and x["scenario"] == "rps2")
        assert abs(sc300["ratio"] - 1.8) < 1e-12 and sc300["met"] is True
        w300 = next(x for x in doc["scaling"] if x["cost_cycles"] == 300 and x["scenario"] == "rps2w")
        assert abs(w300["ratio"] - 2.0) < 1e-12, w300
        t300 = next(t for t in doc["targets"] if t["name"].startswith("scaling at 300"))
        assert t300["name"].endswith("(rps2w)") and abs(t300["value"] - 2.0) < 1e-12, t300
        assert rc == 0, rc
    print("rps_report selftest: ok", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="result plumbing for benches/rps.sh")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("record", help="append one run's numbers to the results file")
    sp.add_argument("name")
    sp.add_argument("--results", required=True)
    sp.add_argument("--run", type=int, default=1)
    sp.add_argument("--status", choices=("ok", "failed"), required=True)
    sp.add_argument("--note", default="")
    sp.add_argument("--log", default="")
    sp.add_argument("--stats", help="napifwd --stats-json file (status ok)")
    sp.add_argument("--kind", choices=KIND_ORDER)
    sp.add_argument("--cost", type=int, default=0)
    sp.add_argument("--fast-path", choices=("true", "false"), default="true")
    sp.add_argument("--sched", action="append", default=[], help="scheduler samples (rps.sh sched_sample), in time order")
    sp.add_argument("--attempt", type=int, default=1)
    sp.add_argument("--line-rt", type=int, help="cache line round trip between the workers' CPUs before the run (TSC cycles)")
    sp.add_argument("--line-rt-after", type=int, help="the same, measured after the run")
    sp.add_argument("--line-rt-limit", type=int, help="the gate (rps.sh --line-rt-below): a run whose round trip after "
                    "it is not below this is disturbed (exit 10)")
    sp.add_argument("--min-cpu", type=float, default=DEFAULT_MIN_CPU, help="percent; below it the run is disturbed (exit 10)")
    sp.set_defaults(fn=record)
    sp = sub.add_parser("report", help="the tables (and --json)")
    sp.add_argument("--results", required=True)
    sp.add_argument("--json")
    sp.add_argument("--meta", action="append", default=[], help="key=value for the header and the JSON")
    sp.add_argument("--latency-cost", type=int, default=0)
    sp.add_argument("--min-cpu", type=float, default=DEFAULT_MIN_CPU)
    sp.add_argument("--require-targets", action="store_true")
    sp.set_defaults(fn=report)
    sp = sub.add_parser("selftest", help="check the arithmetic on synthetic stats")
    sp.set_defaults(fn=selftest)
    args = ap.parse_args(argv)
    if args.cmd == "record" and args.status == "ok" and not (args.stats and args.kind):
        ap.error("record --status ok needs --stats and --kind")
    try:
        rc = args.fn(args)
    except ParseError as exc:
        fail(f"{getattr(args, 'name', '?')}: {exc}")
    return rc or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
