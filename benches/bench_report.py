#!/usr/bin/env python3
"""Result plumbing for benches/compare.sh (python3 standard library only).

compare.sh runs the contenders and leaves their logs; this helper turns each
log into one JSON record appended to a results file (JSON Lines), and at the
end turns the records into the table, the ratios and the optional JSON report.

  parse-testpmd  LOG  : the "Forward statistics for port N" block that
                        testpmd prints on `stop`; the window is measured by
                        compare.sh (between writing `start` and `stop`).
  parse-example  LOG  : the BENCH-WINDOW / BENCH-PORT lines printed by the
                        patched l3fwd / l2fwd (benches/patches/*.patch).
  parse-napifwd  JSON : napifwd's --stats-json file.
  record         NAME : a skipped or failed contender (no numbers).
  report              : the table; --json OUT for machines.

Every forwarding contender uses exactly one forwarding lcore, so cycles per
packet = TSC Hz / packets per second. The TSC frequency comes from the patched
examples' own window (TSC cycles / CLOCK_MONOTONIC ns over ~10 s, exact to a
few ppm); without them, from /proc/cpuinfo ("cpu MHz", exact on VMs and on
CPUs with constant_tsc + tsc_known_freq, approximate elsewhere).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import NoReturn

# Display order and the comparisons the project cares about.
ORDER = ["testpmd-io", "testpmd-mac", "l3fwd-lpm", "l2fwd", "napifwd-l3", "napifwd-l2"]
TARGETS = [  # (numerator, denominator, target ratio)
    ("napifwd-l3", "l3fwd-lpm", 1.0),
    ("napifwd-l2", "testpmd-mac", 1.0),
]
INFO_RATIOS = [("napifwd-l2", "l2fwd")]
CEILING = "testpmd-io"

# napifwd's forwarding window, if its stats JSON carries one (first match wins).
NAPIFWD_WINDOW_KEYS = [
    ("elapsed_ns", 1),
    ("window_ns", 1),
    ("elapsed_us", 1_000),
    ("elapsed_secs", 1_000_000_000),
    ("elapsed_s", 1_000_000_000),
    ("duration_secs", 1_000_000_000),
    ("uptime_seconds", 1_000_000_000),  # napifwd Report: seconds since the workers started
    ("uptime_secs", 1_000_000_000),
]


class ParseError(Exception):
    """The contender's output does not hold the numbers we need."""


def fail(msg: str) -> NoReturn:
    print(f"bench_report: {msg}", file=sys.stderr)
    sys.exit(1)


def append_record(path: str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def summarize(record: dict) -> str:
    if record["status"] != "ok":
        return f"{record['name']}: {record['status']} ({record.get('note', '')})"
    return (
        f"{record['name']}: {record['mpps']:.3f} Mpps "
        f"({record['forwarded']} packets to the sink in {record['elapsed_ns'] / 1e9:.3f} s)"
    )


def finish(args: argparse.Namespace, record: dict) -> None:
    record.setdefault("name", args.name)
    record.setdefault("run", args.run)
    record.setdefault("log", args.log)
    if record["elapsed_ns"] <= 0:
        raise ParseError(f"window of {record['elapsed_ns']} ns")
    if record["forwarded"] <= 0:
        raise ParseError("nothing reached the sink port (forwarded = 0)")
    record["mpps"] = record["forwarded"] / record["elapsed_ns"] * 1e3
    record["status"] = "ok"
    append_record(args.results, record)
    print(summarize(record), file=sys.stderr)


# --- testpmd -----------------------------------------------------------------

PORT_BLOCK = re.compile(
    r"-+ Forward statistics for port (\d+)\s+-+\s*\n"
    r"\s*RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)\s+RX-total:\s*(\d+)\s*\n"
    r"\s*TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)\s+TX-total:\s*(\d+)"
)


def parse_testpmd(args: argparse.Namespace) -> None:
    text = Path(args.log).read_text(errors="replace")
    # Only the last `stop` counts: take the blocks after the last "Telling cores to stop".
    tail = text[text.rfind("Telling cores to stop") :] if "Telling cores to stop" in text else text
    ports = {}
    for m in PORT_BLOCK.finditer(tail):
        port = int(m.group(1))
        ports[port] = {
            "rx": int(m.group(2)),
            "rx_dropped": int(m.group(3)),
            "tx": int(m.group(5)),
            "tx_dropped": int(m.group(6)),
        }
    if args.sink_port not in ports:
        raise ParseError(f"no 'Forward statistics for port {args.sink_port}' block after 'stop'")
    rx = sum(p["rx"] for p in ports.values())
    dropped = sum(p["rx_dropped"] + p["tx_dropped"] for p in ports.values())
    finish(
        args,
        {
            "kind": "testpmd",
            "forwarded": ports[args.sink_port]["tx"],
            "rx": rx,
            "dropped": dropped,
            "elapsed_ns": args.elapsed_ns,
            "window_source": "script: from writing 'start' to writing 'stop'",
        },
    )


# --- patched l3fwd / l2fwd ---------------------------------------------------

WINDOW_LINE = re.compile(r"^BENCH-WINDOW (.*)$", re.M)
PORT_LINE = re.compile(r"^BENCH-PORT (.*)$", re.M)


def kv(line: str) -> dict:
    out = {}
    for item in line.split():
        k, _, v = item.partition("=")
        out[k] = int(v)
    return out


def parse_example(args: argparse.Namespace) -> None:
    text = Path(args.log).read_text(errors="replace")
    windows = WINDOW_LINE.findall(text)
    if not windows:
        raise ParseError("no BENCH-WINDOW line: did the patched example stop via SIGINT?")
    try:
        window = kv(windows[-1])
        ports = {}
        for line in PORT_LINE.findall(text):
            p = kv(line)
            ports[p["port"]] = p
    except (KeyError, ValueError) as exc:
        raise ParseError(f"malformed BENCH line ({exc}): rebuild with --rebuild") from exc
    missing = {"elapsed_ns", "cycles"} - window.keys()
    if missing:
        raise ParseError(f"BENCH-WINDOW lacks {sorted(missing)}: stale build? rerun with --rebuild")
    if args.sink_port not in ports:
        raise ParseError(f"no BENCH-PORT line for port {args.sink_port}")
    rx = sum(p["ipackets"] for p in ports.values())
    dropped = sum(p["imissed"] + p["ierrors"] + p["oerrors"] + p["rx_nombuf"] for p in ports.values())
    elapsed_ns = window["elapsed_ns"]
    finish(
        args,
        {
            "kind": "dpdk-example",
            "forwarded": ports[args.sink_port]["opackets"],
            "rx": rx,
            "dropped": dropped,
            "elapsed_ns": elapsed_ns,
            "tsc_cycles": window["cycles"],
            "tsc_hz_measured": window["cycles"] * 1e9 / elapsed_ns if elapsed_ns > 0 else None,
            "rte_tsc_hz": window.get("rte_tsc_hz"),
            "window_source": "self: lcore launch to lcore return (CLOCK_MONOTONIC)",
        },
    )


# --- napifwd -----------------------------------------------------------------


def dig(obj, *path):
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


def parse_napifwd(args: argparse.Namespace) -> None:
    try:
        stats = json.loads(Path(args.log).read_text())
    except (OSError, ValueError) as exc:
        raise ParseError(f"cannot read stats JSON {args.log}: {exc}") from exc
    forwarded = dig(stats, "ports", args.sink_name, "tx_packets")
    forwarded_source = f"ports.{args.sink_name}.tx_packets"
    if forwarded is None:
        forwarded = dig(stats, "totals", "tx_packets")
        forwarded_source = "totals.tx_packets"
    if forwarded is None:
        raise ParseError(f"neither ports.{args.sink_name}.tx_packets nor totals.tx_packets in {args.log}")
    elapsed_ns, window_source = None, None
    for scope in (stats, stats.get("totals", {}) if isinstance(stats, dict) else {}):
        for key, scale in NAPIFWD_WINDOW_KEYS:
            if isinstance(scope.get(key), (int, float)) and scope[key] > 0:
                elapsed_ns, window_source = int(scope[key] * scale), f"napifwd stats JSON '{key}'"
                break
        if elapsed_ns:
            break
    if elapsed_ns is None:
        elapsed_ns = args.elapsed_ns
        window_source = "nominal: --duration (napifwd stats JSON has no elapsed time)"
    workers = stats.get("workers") if isinstance(stats.get("workers"), list) else []
    busy = [w.get("busy_cycles") for w in workers if isinstance(w, dict)]
    busy_cycles = sum(busy) if busy and all(isinstance(b, int) for b in busy) else None
    record = {
        "kind": "napifwd",
        "forwarded": int(forwarded),
        "forwarded_source": forwarded_source,
        "rx": dig(stats, "totals", "rx_packets"),
        "dropped": dig(stats, "totals", "dropped_packets"),
        "dropped_by_reason": dig(stats, "totals", "dropped_by_reason"),
        "elapsed_ns": elapsed_ns,
        "window_source": window_source,
        "busy_cycles": busy_cycles,
        "workers": len(workers) or None,
    }
    for key in ("latency", "latency_ns", "packet_latency"):
        if key in stats:
            record["latency"] = stats[key]
            break
    finish(args, record)


def record_status(args: argparse.Namespace) -> None:
    rec = {"name": args.name, "run": args.run, "status": args.status, "note": args.note}
    if args.log:
        rec["log"] = args.log
    append_record(args.results, rec)


# --- report ------------------------------------------------------------------


def cpuinfo_tsc_hz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) * 1e6
    except (OSError, ValueError, IndexError):
        pass
    return None


def fmt(x, spec: str, missing: str = "-") -> str:
    return missing if x is None else format(x, spec)


def report(args: argparse.Namespace) -> int:
    records = []
    if Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            if line.strip():
                records.append(json.loads(line))
    names = [n for n in ORDER if any(r["name"] == n for r in records)]
    names += sorted({r["name"] for r in records} - set(names))

    measured = [r["tsc_hz_measured"] for r in records if r.get("status") == "ok" and r.get("tsc_hz_measured")]
    if measured:
        tsc_hz, tsc_src = statistics.median(measured), "measured: TSC cycles / CLOCK_MONOTONIC over the l3fwd/l2fwd windows"
    else:
        tsc_hz, tsc_src = cpuinfo_tsc_hz(), "/proc/cpuinfo 'cpu MHz' (approximate unless constant_tsc + tsc_known_freq)"

    results = {}
    for name in names:
        runs = [r for r in records if r["name"] == name]
        ok = [r for r in runs if r.get("status") == "ok"]
        entry = {"runs": len(runs), "ok_runs": len(ok)}
        if not ok:
            last = runs[-1]
            entry.update(status=last.get("status", "failed"), note=last.get("note", ""), log=last.get("log"))
            results[name] = entry
            continue
        mpps = [r["mpps"] for r in ok]
        med = statistics.median(mpps)
        entry.update(
            status="ok" if len(ok) == len(runs) else "partial",
            mpps=med,
            mpps_runs=mpps,
            mpps_min=min(mpps),
            mpps_max=max(mpps),
            cycles_per_packet=tsc_hz / (med * 1e6) if tsc_hz else None,
            forwarded=[r["forwarded"] for r in ok],
            rx=[r.get("rx") for r in ok],
            dropped=[r.get("dropped") for r in ok],
            elapsed_s=[r["elapsed_ns"] / 1e9 for r in ok],
            window_source=ok[-1].get("window_source"),
        )
        fwd, rx = sum(r["forwarded"] for r in ok), sum(r.get("rx") or 0 for r in ok)
        entry["sink_share"] = fwd / rx if rx else None
        busy = [r["busy_cycles"] / r["forwarded"] for r in ok if r.get("busy_cycles")]
        entry["busy_cycles_per_packet"] = statistics.median(busy) if busy else None
        if any("latency" in r for r in ok):
            entry["latency"] = [r.get("latency") for r in ok]
        results[name] = entry

    def mpps_of(n):
        e = results.get(n)
        return e.get("mpps") if e else None

    ratios = []
    for num, den, target in TARGETS + [(a, b, None) for a, b in INFO_RATIOS]:
        a, b = mpps_of(num), mpps_of(den)
        ratio = a / b if a is not None and b else None
        ratios.append(
            {
                "name": f"{num} / {den}",
                "ratio": ratio,
                "target": target,
                "met": None if ratio is None or target is None else ratio >= target,
            }
        )

    # ---- table ----
    out = sys.stdout
    meta = dict(kv_pair.split("=", 1) for kv_pair in args.meta)
    print("", file=out)
    print("napifwd forwarding benchmark: one forwarding lcore each, same vdevs", file=out)
    for key in ("traffic", "duration_s", "runs", "memory", "host", "cpu", "dpdk", "loadavg"):
        if key in meta:
            print(f"  {key:<10} {meta[key]}", file=out)
    print(f"  {'tsc':<10} {fmt(tsc_hz and tsc_hz / 1e6, '.3f', '?')} MHz ({tsc_src})", file=out)
    print("", file=out)
    hdr = f"{'contender':<13} {'Mpps':>8} {'min-max':>15} {'cyc/pkt':>8} {'busy c/p':>9} {'% ceil':>7} {'sink/rx':>8}  note"
    print(hdr, file=out)
    print("-" * len(hdr), file=out)
    ceiling = mpps_of(CEILING)
    for name in names:
        e = results[name]
        if "mpps" not in e:
            print(f"{name:<13} {e['status'].upper():>8} {'':>15} {'':>8} {'':>9} {'':>7} {'':>8}  {e.get('note', '')}", file=out)
            continue
        spread = f"{e['mpps_min']:.2f}-{e['mpps_max']:.2f}" if e["ok_runs"] > 1 else ""
        note = "ceiling (no lookup, no rewrite)" if name == CEILING else ""
        if e["status"] == "partial":
            note = f"{e['ok_runs']}/{e['runs']} runs ok; " + note
        if e.get("window_source", "").startswith("nominal"):
            note += "window nominal"
        print(
            f"{name:<13} {e['mpps']:>8.3f} {spread:>15} {fmt(e['cycles_per_packet'], '8.1f'):>8} "
            f"{fmt(e['busy_cycles_per_packet'], '9.1f'):>9} "
            f"{fmt(ceiling and e['mpps'] / ceiling * 100, '6.1f'):>7} "
            f"{fmt(e['sink_share'], '8.4f'):>8}  {note}".rstrip(),
            file=out,
        )
    print("", file=out)
    for r in ratios:
        if r["ratio"] is None:
            verdict = "n/a (a contender did not run)"
        elif r["target"] is None:
            verdict = "(for information)"
        else:
            verdict = f"target >= {r['target']:.2f}: {'met' if r['met'] else 'NOT MET'}"
        print(f"  {r['name']:<26} {fmt(r['ratio'], '6.3f'):>6}   {verdict}", file=out)
    print("", file=out)
    print("cyc/pkt = TSC Hz x 1 forwarding core / pps; busy c/p = napifwd's own busy cycles / packet;", file=out)
    print("sink/rx = packets out of the sink port / packets received (1.0000 = nothing dropped or misrouted).", file=out)

    if args.json:
        doc = {
            "meta": meta,
            "tsc_hz": tsc_hz,
            "tsc_hz_source": tsc_src,
            "ceiling": CEILING,
            "contenders": results,
            "ratios": ratios,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        print(f"\nJSON written to {args.json}", file=out)

    if args.require_targets:
        unmet = [r["name"] for r in ratios if r["target"] is not None and r["met"] is not True]
        if unmet:
            print(f"targets not met: {', '.join(unmet)}", file=sys.stderr)
            return 3
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="result plumbing for benches/compare.sh")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, needs_window: bool):
        sp.add_argument("log", help="contender log (or stats JSON for napifwd)")
        sp.add_argument("--results", required=True, help="JSON Lines file to append to")
        sp.add_argument("--name", required=True)
        sp.add_argument("--run", type=int, default=1)
        sp.add_argument("--elapsed-ns", type=int, required=needs_window, default=0)

    sp = sub.add_parser("parse-testpmd")
    common(sp, True)
    sp.add_argument("--sink-port", type=int, default=1)
    sp.set_defaults(fn=parse_testpmd)
    sp = sub.add_parser("parse-example")
    common(sp, False)
    sp.add_argument("--sink-port", type=int, default=1)
    sp.set_defaults(fn=parse_example)
    sp = sub.add_parser("parse-napifwd")
    common(sp, True)
    sp.add_argument("--sink-name", default="sink")
    sp.set_defaults(fn=parse_napifwd)
    sp = sub.add_parser("record")
    sp.add_argument("name")
    sp.add_argument("--results", required=True)
    sp.add_argument("--run", type=int, default=1)
    sp.add_argument("--status", choices=("skipped", "failed"), required=True)
    sp.add_argument("--note", default="")
    sp.add_argument("--log", default="")
    sp.set_defaults(fn=record_status)
    sp = sub.add_parser("report")
    sp.add_argument("--results", required=True)
    sp.add_argument("--json", help="also write the results as JSON here")
    sp.add_argument("--meta", action="append", default=[], help="key=value shown in the header and JSON")
    sp.add_argument("--require-targets", action="store_true", help="exit 3 when a target ratio is not met")
    sp.set_defaults(fn=report)

    args = p.parse_args(argv)
    try:
        rc = args.fn(args)
    except ParseError as exc:
        fail(f"{getattr(args, 'name', '?')}: {exc}")
    return rc or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
