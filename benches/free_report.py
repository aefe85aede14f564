#!/usr/bin/env python3
"""Helper of benches/free.sh: samples a running napifwd, records each run,
prints the free-mode comparison. Standard library only.

  free_report.py sample --url URL --pid PID --out FILE
      GET URL/status and the scheduler statistics of napifwd's worker
      threads (/proc/PID/task/*/schedstat); write both, with a monotonic
      timestamp, to FILE.
  free_report.py record --results FILE --mode M --run N --a SAMPLE --b SAMPLE
                        [--stats JSON] [--rc RC] [--log LOG] [--min-cpu PCT]
      Turn the two samples (start and end of the measuring window) into one
      JSON line appended to FILE; exit 10 when a worker thread had its CPU
      less than PCT % of the window (the run is disturbed).
  free_report.py report --results FILE [--json OUT] [--meta K=V ...] [--min-cpu PCT]
      Print the table (medians over the runs) and the owner ratios.

The measuring window is napifwd's own uptime between the two samples. The
RX worker is the one on lcore 1 (it polls the only RX queue and owns every
mbuf); the dropping worker is the one on lcore 2 (the rps map sends it
everything, and it drops the unrouted share as no_route).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
from typing import NoReturn

RX_LCORE = 1
DROP_LCORE = 2


def fail(msg: str) -> NoReturn:
    print(f"[free] error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# sample


def worker_threads(pid: int) -> dict[str, int]:
    """On-CPU nanoseconds of each napifwd-w* thread of PID."""
    out: dict[str, int] = {}
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"{base}/{tid}/comm") as f:
                comm = f.read().strip()
            if not comm.startswith("napifwd-w"):
                continue
            with open(f"{base}/{tid}/schedstat") as f:
                out[comm] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return out


def sample(args: argparse.Namespace) -> int:
    t0 = time.monotonic_ns()
    try:
        with urllib.request.urlopen(f"{args.url}/status", timeout=5) as r:
            status = json.load(r)
    except (OSError, ValueError) as e:
        fail(f"GET {args.url}/status: {e}")
    t1 = time.monotonic_ns()
    doc = {
        "mono_ns": (t0 + t1) // 2,
        "sched_on_cpu_ns": worker_threads(args.pid),
        "status": status,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f)
    return 0


# ---------------------------------------------------------------------------
# record


def by_lcore(status: dict, lcore: int) -> dict:
    for w in status.get("workers", []):
        if w.get("lcore") == lcore:
            return w
    fail(f"no worker on lcore {lcore} in the report")


def delta(a: dict, b: dict, key: str) -> int:
    return int(b.get(key, 0)) - int(a.get(key, 0))


def drops(w: dict, reason: str) -> int:
    return int(w.get("dropped_by_reason", {}).get(reason, 0))


def record(args: argparse.Namespace) -> int:
    with open(args.a) as f:
        sa = json.load(f)
    with open(args.b) as f:
        sb = json.load(f)
    a, b = sa["status"], sb["status"]
    window = b["uptime_seconds"] - a["uptime_seconds"]
    if window <= 0:
        fail("empty measuring window")
    rx0a, rx0b = by_lcore(a, RX_LCORE), by_lcore(b, RX_LCORE)
    w1a, w1b = by_lcore(a, DROP_LCORE), by_lcore(b, DROP_LCORE)
    rx = delta(rx0a, rx0b, "rx_packets")
    processed = delta(w1a, w1b, "processed")
    tx = delta(w1a, w1b, "tx_packets")
    no_route = drops(w1b, "no_route") - drops(w1a, "no_route")
    backlog_full = drops(rx0b, "backlog_full") - drops(rx0a, "backlog_full")
    busy0 = delta(rx0a, rx0b, "busy_cycles")
    busy1 = delta(w1a, w1b, "busy_cycles")
    sent = delta(w1a, w1b, "deferred_sent")
    overflow = delta(w1a, w1b, "defer_overflow")
    freed = delta(rx0a, rx0b, "deferred_freed")
    flushes = delta(rx0a, rx0b, "defer_flushes")
    cpu = {}
    wall_ns = sb["mono_ns"] - sa["mono_ns"]
    for name, on_b in sb.get("sched_on_cpu_ns", {}).items():
        on_a = sa.get("sched_on_cpu_ns", {}).get(name)
        if on_a is not None and wall_ns > 0:
            cpu[name] = 100.0 * (on_b - on_a) / wall_ns
    final = {}
    if args.stats and os.path.exists(args.stats):
        with open(args.stats) as f:
            st = json.load(f)
        final = {
            "balanced": st["totals"]["rx_packets"]
            == st["totals"]["tx_packets"] + st["totals"]["dropped_packets"]
            and st["totals"]["in_flight"] == 0,
            "in_use_at_exit": st["mempools"]["in_use_at_exit"],
            "baseline": st["mempools"]["baseline"],
        }
    rec = {
        "mode": args.mode,
        "run": args.run,
        "rc": args.rc,
        "log": args.log,
        "window_s": window,
        "rx_pps": rx / window,
        "pps": processed / window,
        "tx_pps": tx / window,
        "routed_share": tx / processed if processed else None,
        "no_route_share": no_route / processed if processed else None,
        "backlog_full_share": backlog_full / rx if rx else None,
        "busy_cpp_rx_worker": busy0 / rx if rx else None,
        "busy_cpp_drop_worker": busy1 / processed if processed else None,
        "deferred_sent": sent,
        "defer_overflow": overflow,
        "deferred_freed": freed,
        "defer_flushes": flushes,
        "mbufs_per_flush": freed / flushes if flushes else None,
        "cpu_pct": cpu,
        "final": final,
    }
    disturbed = bool(cpu) and min(cpu.values()) < args.min_cpu
    rec["disturbed"] = disturbed
    flag = "" if args.rc == 0 else f"  (exit {args.rc})"
    if disturbed:
        flag += f"  DISTURBED (a worker had its CPU < {args.min_cpu:g} % of the window)"
    print(
        f"[free] {args.mode:<9} run {args.run}: {processed / window / 1e6:7.3f} Mpps through the "
        f"dropping worker, rx {rx / window / 1e6:7.3f} Mpps, busy c/p rx-worker "
        f"{fmt(rec['busy_cpp_rx_worker'], '.1f')} drop-worker {fmt(rec['busy_cpp_drop_worker'], '.1f')}, "
        f"cpu% {' '.join(f'{k}={v:.0f}' for k, v in sorted(cpu.items()))}{flag}",
        file=sys.stderr,
    )
    with open(args.results, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 10 if disturbed else 0


# ---------------------------------------------------------------------------
# report


def fmt(x, spec: str, missing: str = "-") -> str:
    return missing if x is None else format(x, spec)


def cpuinfo_tsc_hz() -> float | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) * 1e6
    except (OSError, ValueError):
        pass
    return None


def med(values: list) -> float | None:
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def report(args: argparse.Namespace) -> int:
    recs = []
    with open(args.results) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    if not recs:
        fail("no runs recorded")
    tsc_hz = cpuinfo_tsc_hz()
    meta = dict(kv.split("=", 1) for kv in args.meta)
    modes = []
    for r in recs:
        if r["mode"] not in modes:
            modes.append(r["mode"])

    def disturbed(r: dict) -> bool:
        cpu = r.get("cpu_pct") or {}
        return bool(cpu) and min(cpu.values()) < args.min_cpu

    out = sys.stdout
    print("", file=out)
    print("napifwd free modes: drops away from the owner", file=out)
    for k, v in meta.items():
        print(f"  {k:<10} {v}", file=out)
    print(f"  {'tsc':<10} {fmt(tsc_hz and tsc_hz / 1e6, '.3f', '?')} MHz (/proc/cpuinfo)", file=out)
    print("", file=out)
    hdr = (
        f"{'mode':<10} {'Mpps':>7} {'min-max':>15} {'cyc/pkt':>8} {'rx Mpps':>8} "
        f"{'c/p rxw':>8} {'c/p dropw':>9} {'no_route':>8} {'blog_full':>9} "
        f"{'defer/flush':>11} {'ovf':>6} {'cpu% w0/w1':>11} {'runs':>5}"
    )
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    summary = {}
    for m in modes:
        all_runs = [r for r in recs if r["mode"] == m]
        clean = [r for r in all_runs if not disturbed(r)]
        use = clean or all_runs
        pps = [r["pps"] for r in use]
        mpps = med(pps) / 1e6 if pps else None
        cpp = tsc_hz * 2 / (mpps * 1e6) if tsc_hz and mpps else None
        cpu0 = med([(r.get("cpu_pct") or {}).get("napifwd-w0") for r in use])
        cpu1 = med([(r.get("cpu_pct") or {}).get("napifwd-w1") for r in use])
        s = {
            "mpps": mpps,
            "mpps_runs": [p / 1e6 for p in pps],
            "cycles_per_packet": cpp,
            "rx_mpps": (med([r["rx_pps"] for r in use]) or 0) / 1e6,
            "busy_cpp_rx_worker": med([r["busy_cpp_rx_worker"] for r in use]),
            "busy_cpp_drop_worker": med([r["busy_cpp_drop_worker"] for r in use]),
            "no_route_share": med([r["no_route_share"] for r in use]),
            "backlog_full_share": med([r["backlog_full_share"] for r in use]),
            "mbufs_per_flush": med([r["mbufs_per_flush"] for r in use]),
            "defer_overflow": med([r["defer_overflow"] for r in use]),
            "cpu_pct_w0": cpu0,
            "cpu_pct_w1": cpu1,
            "runs": len(all_runs),
            "undisturbed_runs": len(clean),
            "failed_exits": sum(1 for r in all_runs if r.get("rc") != 0),
        }
        summary[m] = s
        rng = f"{min(pps) / 1e6:.3f}-{max(pps) / 1e6:.3f}" if len(pps) > 1 else ""
        runs = f"{len(clean)}/{len(all_runs)}"
        print(
            f"{m:<10} {fmt(mpps, '7.3f')} {rng:>15} {fmt(cpp, '8.1f')} {s['rx_mpps']:8.3f} "
            f"{fmt(s['busy_cpp_rx_worker'], '8.1f')} {fmt(s['busy_cpp_drop_worker'], '9.1f')} "
            f"{fmt(s['no_route_share'] and 100 * s['no_route_share'], '7.1f')}% "
            f"{fmt(s['backlog_full_share'] and 100 * s['backlog_full_share'], '8.1f')}% "
            f"{fmt(s['mbufs_per_flush'], '11.1f')} {fmt(s['defer_overflow'], '6.0f')} "
            f"{fmt(cpu0, '5.0f')}/{fmt(cpu1, '<5.0f')} {runs:>5}",
            file=out,
        )
    print("", file=out)
    print(
        "Mpps: packets through the dropping worker (forwarded + no_route) per second, median;\n"
        "cyc/pkt = TSC Hz x 2 workers / pps; c/p rxw = RX worker's busy cycles per packet it\n"
        "received; c/p dropw = dropping worker's busy cycles per packet it processed; blog_full:\n"
        "share of received packets the RX worker dropped because the backlog was full (the\n"
        f"dropping worker is the bottleneck); runs: undisturbed (both workers >= {args.min_cpu:g} % of\n"
        "their CPU) / all; medians use the undisturbed runs when a mode has any.",
        file=out,
    )
    ratios = {}
    if "owner" in summary:
        print("", file=out)
        for other in ("batch", "immediate"):
            if other not in summary:
                continue
            o, x = summary["owner"]["mpps"], summary[other]["mpps"]
            r = o / x if o and x else None
            ratios[f"owner/{other}"] = r
            verdict = "-"
            if r is not None:
                verdict = "owner wins" if r > 1.02 else ("tie (within 2 %)" if r >= 0.98 else "owner loses")
            print(f"ratio Mpps owner/{other:<9} = {fmt(r, '.3f')}   {verdict}", file=out)
    failed = sum(s["failed_exits"] for s in summary.values())
    if failed:
        print(f"\nwarning: {failed} run(s) exited non-zero (see the logs)", file=out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "tsc_hz": tsc_hz, "modes": summary, "ratios": ratios}, f, indent=2)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--url", required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("record")
    r.add_argument("--results", required=True)
    r.add_argument("--mode", required=True)
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--a", required=True)
    r.add_argument("--b", required=True)
    r.add_argument("--stats")
    r.add_argument("--rc", type=int, default=0)
    r.add_argument("--log")
    r.add_argument("--min-cpu", type=float, default=90.0)
    q = sub.add_parser("report")
    q.add_argument("--results", required=True)
    q.add_argument("--json")
    q.add_argument("--meta", action="append", default=[])
    q.add_argument("--min-cpu", type=float, default=90.0)
    args = p.parse_args()
    return {"sample": sample, "record": record, "report": report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
