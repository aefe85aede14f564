//! The overload policy under a flood (issue 4), on this 2-core machine.
//!
//! The rig: worker A (lcore 1, CPU 0, with the main lcore) polls a
//! `net_pcap,infinite_rx=1` source replaying a mix of 5% control (BGP: TCP
//! port 179, and ICMP echo) and 95% bulk UDP, and steers every flow to
//! worker B (lcore 2, CPU 1, `rps.workers = [2]`), which the benchmark-only
//! `bench.per_packet_cycles` slows so the flood is well over twice what it
//! can forward. Control is routed to sink port "ctl", bulk to sink port
//! "bulk" (both `net_null`), so the delivered count of each class is the
//! sink's `tx_packets`; the offered count of each class follows from
//! `rx_packets` and the pcap (the PMD replays it in a cycle).
//!
//! The policy `none` is the baseline (measured once per test binary): both
//! classes lose alike. `filter` (TOML rules or an eBPF object built here
//! with clang) must keep control; `drop` counts its drops `overload`;
//! `demote` must leave a CPU-bound competitor on B's CPU a real share, where
//! `none` with SCHED_FIFO workers starves it. Numbers are printed
//! (`--nocapture`) for the record.
//!
//! The machine is shared and noisy: assertions have margins, and each
//! flood lasts a few seconds.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::packet::*;
use common::rig::{self, Rig};
use common::*;
use serde_json::Value;

/// Synthetic cost per packet on worker B (`bench.per_packet_cycles`):
/// with the debug build's own cost on top, B forwards about half a million
/// packets per second: a tenth or less of what A receives (the flood), yet
/// more than the 5 % of control in it, which B must be able to carry for
/// the filter to save it. (8000 cycles made B slower than the control
/// share alone once A's receive path got faster.) A release build
/// (`NAPIFWD_BIN`) receives faster still: e.g. `NAPIFWD_E2E_FLOOD_CYCLES=500`.
fn per_packet_cycles() -> u64 {
    std::env::var("NAPIFWD_E2E_FLOOD_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// An unloaded run's p50 latency below this is a clean one (32 packets
/// at the default 2000 cycles each take ~25 us; clean runs measured
/// 75-200 us).
const UNLOADED_P50_US: f64 = 500.0;

/// Seconds each flood lasts.
const FLOOD_SECS: &str = "3";
/// Frames in one cycle of the mix.
const MIX_LEN: usize = 2000;

const SRC_MAC: &str = "02:00:00:00:00:0a";
const PEER: &str = "02:00:00:00:99:01";

/// What a frame of the mix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Bgp,
    Icmp,
    Bulk,
}

/// One cycle of the mix: per 100 frames, 4 BGP segments (TCP to port 179,
/// 8 sessions) and 1 ICMP echo to 198.18.0.0/16, and 95 UDP datagrams
/// (many flows) to 198.19.0.0/16.
fn mix() -> (Vec<Vec<u8>>, Vec<Class>) {
    let mut frames = Vec::with_capacity(MIX_LEN);
    let mut classes = Vec::with_capacity(MIX_LEN);
    for i in 0..MIX_LEN {
        let k = i % 100;
        let round = (i / 100) as u16;
        let (ip, class) = match k {
            0 | 25 | 50 | 75 => {
                let session = (round + k as u16) % 8;
                let src = format!("192.0.2.{}", 1 + session);
                let ip = Ipv4::tcp(&src, "198.18.1.1", 40_000 + session, 179, i as u32, b"bgp");
                (ip, Class::Bgp)
            }
            10 => (
                Ipv4::icmp_echo("192.0.2.100", "198.18.2.1", 7, round, b"ping"),
                Class::Icmp,
            ),
            _ => {
                let src = format!("203.0.113.{}", 1 + i % 50);
                let dst = format!("198.19.{}.{}", i % 7, 1 + i % 200);
                let ip = Ipv4::udp(
                    &src,
                    &dst,
                    1024 + (i % 512) as u16,
                    9,
                    &filler(i as u32, 18),
                );
                (ip, Class::Bulk)
            }
        };
        frames.push(Frame::ipv4(mac(SRC_MAC), mac(PEER), &ip).bytes());
        classes.push(class);
    }
    (frames, classes)
}

/// How many frames of each class the first `rx` frames of the endless
/// replay of `classes` hold: (bgp, icmp, bulk).
fn offered(classes: &[Class], rx: u64) -> (u64, u64, u64) {
    let len = classes.len() as u64;
    let count = |c: Class, upto: usize| classes[..upto].iter().filter(|&&x| x == c).count() as u64;
    let (full, rem) = (rx / len, (rx % len) as usize);
    let n = |c| full * count(c, classes.len()) + count(c, rem);
    (n(Class::Bgp), n(Class::Icmp), n(Class::Bulk))
}

/// The flood config: `policy` is the whole `[overload]` part, `workers`
/// goes into `[workers]` (e.g. `fifo_priority = 10`). `source` is the
/// source port's device.
fn flood_config(source: &str, workers: &str, rps: &str, policy: &str) -> String {
    flood_config_on("0@0,1@0,2@1", source, workers, rps, policy)
}

/// [`flood_config`] with another EAL lcore map.
fn flood_config_on(lcores: &str, source: &str, workers: &str, rps: &str, policy: &str) -> String {
    format!(
        "{eal}\n\
         [[ports]]\nname = \"src\"\ndevice = \"{source}\"\nmac = \"{SRC_MAC}\"\n\n\
         [[ports]]\nname = \"ctl\"\ndevice = \"net_null0,no-rx=1\"\n\n\
         [[ports]]\nname = \"bulk\"\ndevice = \"net_null1,no-rx=1\"\n\n\
         [workers]\nlcores = [1, 2]\n{workers}\n\n\
         [[workers.rx]]\nport = \"src\"\nqueue = 0\nlcore = 1\n\n\
         [rps]\nenabled = true\nworkers = [2]\nhash = \"software\"\n{rps}\n\n\
         [bench]\nper_packet_cycles = {cycles}\n\n\
         [forward]\nmode = \"l3\"\n\n\
         [[forward.routes]]\nprefix = \"198.18.0.0/16\"\nport = \"ctl\"\n\
         next_hop_mac = \"02:00:00:00:00:c1\"\n\n\
         [[forward.routes]]\nprefix = \"198.19.0.0/16\"\nport = \"bulk\"\n\
         next_hop_mac = \"02:00:00:00:00:b1\"\n\n\
         [metrics]\nlisten = \"\"\nlatency = true\n\n\
         {policy}\n",
        eal = eal_section_custom(lcores, 768),
        cycles = per_packet_cycles(),
    )
}

/// A rig whose source replays the mix forever.
fn flood_rig(name: &str, workers: &str, policy: &str) -> (Rig, Vec<Class>) {
    let mut rig = Rig::new(name);
    let classes = setup_flood(&mut rig, workers, policy);
    (rig, classes)
}

/// Writes the mix into `rig`'s dir and its flood config into `rig`.
fn setup_flood(rig: &mut Rig, workers: &str, policy: &str) -> Vec<Class> {
    let (frames, classes) = mix();
    let pcap = rig.dir.join("mix.pcap");
    pcapio::write_pcap(&pcap, &frames);
    let source = format!("net_pcap0,rx_pcap={},infinite_rx=1", pcap.display());
    rig.config = flood_config(&source, workers, "", policy);
    classes
}

/// What one flood did.
#[derive(Debug, Clone)]
struct Flood {
    policy: String,
    stats: Stats,
    rx: u64,
    bgp_in: u64,
    icmp_in: u64,
    ctl_in: u64,
    bulk_in: u64,
    ctl_out: u64,
    bulk_out: u64,
}

impl Flood {
    fn from_stats(policy: &str, stats: Stats, classes: &[Class]) -> Flood {
        let rx = stats.total("rx_packets");
        let (bgp_in, icmp_in, bulk_in) = offered(classes, rx);
        let f = Flood {
            policy: policy.to_owned(),
            rx,
            bgp_in,
            icmp_in,
            ctl_in: bgp_in + icmp_in,
            bulk_in,
            ctl_out: stats.port("ctl", "tx_packets"),
            bulk_out: stats.port("bulk", "tx_packets"),
            stats,
        };
        // The model of the offered load must hold: no class can come out
        // more often than it went in.
        assert!(
            f.ctl_out <= f.ctl_in && f.bulk_out <= f.bulk_in,
            "more out than in: {f}"
        );
        assert!(f.ctl_in > 1000, "the flood was too short: {f}");
        f
    }

    fn ctl_ratio(&self) -> f64 {
        self.ctl_out as f64 / self.ctl_in as f64
    }

    fn bulk_ratio(&self) -> f64 {
        self.bulk_out as f64 / self.bulk_in as f64
    }

    fn b(&self, key: &str) -> u64 {
        self.stats.u64_at(&format!("/workers/1/{key}"))
    }

    /// The invariants of every flood: balanced totals, sinks agree, no
    /// leak, the right policy reported.
    fn assert_sound(&self) {
        let st = &self.stats;
        st.assert_balanced();
        st.assert_ports_consistent(&["src", "ctl", "bulk"]);
        st.assert_no_mbuf_leak();
        assert_eq!(
            st.json.pointer("/overload/policy").and_then(Value::as_str),
            Some(self.policy.as_str()),
            "overload.policy in the stats"
        );
        // A steers, B forwards.
        assert_eq!(st.u64_at("/workers/0/processed"), 0, "worker A processed");
        assert_eq!(st.u64_at("/workers/1/rx_packets"), 0, "worker B polled RX");
        // After the drain nothing is left in a backlog, and no worker was
        // overloaded longer than the run.
        let uptime = st
            .json
            .pointer("/uptime_seconds")
            .and_then(Value::as_f64)
            .expect("uptime_seconds");
        for w in 0..2 {
            assert_eq!(
                st.u64_at(&format!("/workers/{w}/backlog_len")),
                0,
                "workers[{w}].backlog_len after the drain"
            );
            let secs = st
                .json
                .pointer(&format!("/workers/{w}/overload_seconds"))
                .and_then(Value::as_f64)
                .expect("overload_seconds");
            assert!(
                secs <= uptime + 0.05,
                "workers[{w}].overload_seconds {secs} > uptime_seconds {uptime}"
            );
        }
    }
}

impl std::fmt::Display for Flood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "policy {}: rx {} | control {}/{} delivered ({:.2}%) | bulk {}/{} ({:.2}%) | drops {:?} \
             | B: processed {} transitions {} overloaded_s {:.3}",
            self.policy,
            self.rx,
            self.ctl_out,
            self.ctl_in,
            100.0 * self.ctl_ratio(),
            self.bulk_out,
            self.bulk_in,
            100.0 * self.bulk_ratio(),
            self.stats.drops(),
            self.b("processed"),
            self.b("overload_transitions"),
            self.stats
                .json
                .pointer("/workers/1/overload_seconds")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN),
        )
    }
}

fn flood(name: &str, policy_name: &str, workers: &str, policy: &str) -> Flood {
    let (rig, classes) = flood_rig(name, workers, policy);
    let r = rig.run_ok(&["--duration", FLOOD_SECS]);
    let f = Flood::from_stats(policy_name, r.stats, &classes);
    eprintln!("{f}");
    f
}

/// The `none` baseline, measured once per test binary.
fn baseline() -> &'static Flood {
    static NONE: OnceLock<Flood> = OnceLock::new();
    NONE.get_or_init(|| flood("flood_none", "none", "", "[overload]\npolicy = \"none\"\n"))
}

/// The exit dwell the filter and drop floods use. Worker A shares CPU 0
/// with the control plane and, on a shared machine, with whatever else
/// runs: descheduled for longer than `exit_after_us` (default 10 ms) it
/// offers nothing, the detector rightly sees the flood end, and re-entering
/// costs `enter_after_us` of tail drops for control and bulk alike. 100 ms
/// keeps the test about the policy rather than about the neighbours.
const EXIT_AFTER_US: u64 = 100_000;

#[test]
fn flood_none_loses_control_and_bulk_alike() {
    let f = baseline();
    f.assert_sound();
    let delivered = (f.ctl_out + f.bulk_out) as f64 / f.rx as f64;
    assert!(
        delivered <= 0.5,
        "rig premise: the flood must be at least twice what worker B forwards; B delivered \
         {:.1}% of it\n{f}",
        100.0 * delivered
    );
    let (c, b) = (f.ctl_ratio(), f.bulk_ratio());
    assert!(
        (c - b).abs() <= 0.05 + 0.15 * b,
        "policy none must not favour a class: control {:.2}% vs bulk {:.2}%",
        100.0 * c,
        100.0 * b
    );
    let drops = f.stats.drops();
    assert!(
        drops.keys().all(|r| r == "backlog_full"),
        "policy none only tail-drops: {drops:?}"
    );
    assert!(
        f.stats.drop_count("backlog_full") > 0,
        "no tail drop under a flood"
    );
}

/// What `filter` must achieve, whichever judge it uses.
fn assert_filter_keeps_control(f: &Flood) {
    let none = baseline();
    eprintln!("baseline {none}");
    f.assert_sound();
    let st = &f.stats;
    let filtered = st.drop_count("filter");
    let full = st.drop_count("backlog_full");
    let drops = st.drops();
    assert!(
        drops.keys().all(|r| r == "filter" || r == "backlog_full"),
        "filter: unexpected drop reasons {drops:?}"
    );
    assert!(
        f.b("overload_transitions") >= 1,
        "worker B never entered overload under the flood\n{f}"
    );
    assert!(
        filtered * 2 >= f.bulk_in,
        "the filter dropped {filtered} of {} bulk packets\n{f}",
        f.bulk_in
    );
    // The filter itself must never drop control: what control lost, it
    // lost to the tail drop while the detector entered overload.
    let ctl_lost = f.ctl_in - f.ctl_out;
    assert!(
        ctl_lost <= full,
        "{ctl_lost} control packets lost but only {full} backlog_full drops: the filter \
         dropped control\n{f}"
    );
    // Measured 99.93-100 % on the development VM (the filter engages as
    // soon as the target's backlog crosses the high watermark); 99 % leaves
    // room for a machine that deschedules A or B at the wrong moment.
    assert!(
        f.ctl_ratio() >= 0.99,
        "control delivered {:.2}% under filter (issue 4 aims at 99.9%)\n{f}\nbaseline {none}",
        100.0 * f.ctl_ratio()
    );
    assert!(
        f.ctl_ratio() >= none.ctl_ratio() + 0.3,
        "filter delivered control {:.2}%, none {:.2}%",
        100.0 * f.ctl_ratio(),
        100.0 * none.ctl_ratio()
    );
    assert!(
        f.bulk_ratio() <= none.bulk_ratio() / 2.0,
        "filter let bulk through at {:.2}%, none at {:.2}%",
        100.0 * f.bulk_ratio(),
        100.0 * none.bulk_ratio()
    );
}

const FILTER_RULES: &str = "[overload.filter]\ndefault_action = \"drop\"\n\n\
    [[overload.filter.rules]]\nname = \"keep-bgp\"\nproto = \"tcp\"\ndst_port = 179\n\
    action = \"pass\"\n\n\
    [[overload.filter.rules]]\nname = \"keep-icmp\"\nproto = \"icmp\"\naction = \"pass\"\n";

fn rule(st: &Stats, i: usize) -> (String, u64, u64) {
    let name = st
        .json
        .pointer(&format!("/overload/rules/{i}/name"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no overload.rules[{i}].name\n{:#}", st.json))
        .to_owned();
    (
        name,
        st.u64_at(&format!("/overload/rules/{i}/matched")),
        st.u64_at(&format!("/overload/rules/{i}/dropped")),
    )
}

#[test]
fn flood_filter_rules_keep_control() {
    let policy = format!(
        "[overload]\npolicy = \"filter\"\nexit_after_us = {EXIT_AFTER_US}\n\n{FILTER_RULES}"
    );
    let f = flood("flood_filter_rules", "filter", "", &policy);
    assert_filter_keeps_control(&f);
    let st = &f.stats;
    let rules: Vec<(String, u64, u64)> = (0..3).map(|i| rule(st, i)).collect();
    eprintln!("rules: {rules:?}");
    let names: Vec<&str> = rules.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        names,
        ["keep-bgp", "keep-icmp", "default"],
        "overload.rules"
    );
    assert!(
        st.json.pointer("/overload/rules/3").is_none(),
        "more rules than configured"
    );
    let (bgp, icmp, dflt) = (&rules[0], &rules[1], &rules[2]);
    assert_eq!(bgp.2, 0, "keep-bgp dropped packets");
    assert_eq!(icmp.2, 0, "keep-icmp dropped packets");
    assert!(
        bgp.1 > 0 && icmp.1 > 0,
        "a keep rule never matched: {rules:?}"
    );
    assert!(
        bgp.1 <= f.bgp_in,
        "keep-bgp matched more than the BGP offered"
    );
    assert!(
        icmp.1 <= f.icmp_in,
        "keep-icmp matched more than the ICMP offered"
    );
    assert_eq!(dflt.1, dflt.2, "default action is drop: matched == dropped");
    assert_eq!(
        dflt.2,
        st.drop_count("filter"),
        "default rule drops != totals.dropped_by_reason.filter"
    );
    // Judged packets are a subset of what was received, and no judged
    // bulk packet passed (the default drops).
    assert!(bgp.1 + icmp.1 + dflt.1 <= f.rx);
    assert!(dflt.1 <= f.bulk_in);
}

#[test]
fn flood_filter_ebpf_object_keeps_control() {
    let mut rig = Rig::new("flood_filter_bpf");
    let obj = build_bpf(&example_bpf_source(), rig.dir.path(), "filter.o");
    let policy = format!(
        "[overload]\npolicy = \"filter\"\nexit_after_us = {EXIT_AFTER_US}\n\n\
         [overload.filter]\nbpf_object = \"{obj}\"\n"
    );
    let classes = setup_flood(&mut rig, "", &policy);
    let r = rig.run_ok(&["--duration", FLOOD_SECS]);
    let f = Flood::from_stats("filter", r.stats, &classes);
    eprintln!("{f}");
    assert_filter_keeps_control(&f);
}

#[test]
fn flood_drop_counts_overload_drops_and_balances() {
    let policy = format!("[overload]\npolicy = \"drop\"\nexit_after_us = {EXIT_AFTER_US}\n");
    let f = flood("flood_drop", "drop", "", &policy);
    f.assert_sound();
    let st = &f.stats;
    let drops = st.drops();
    assert!(
        drops.keys().all(|r| r == "overload" || r == "backlog_full"),
        "drop: unexpected drop reasons {drops:?}"
    );
    assert!(
        st.drop_count("overload") > 0,
        "policy drop under a flood dropped nothing as overload\n{f}"
    );
    assert_eq!(
        st.u64_at("/workers/0/dropped_by_reason/overload"),
        st.drop_count("overload"),
        "the producer (worker A) counts overload drops"
    );
    assert!(
        f.b("overload_transitions") >= 1,
        "B never entered overload\n{f}"
    );
    // Drop is class-blind.
    let (c, b) = (f.ctl_ratio(), f.bulk_ratio());
    assert!(
        (c - b).abs() <= 0.05 + 0.15 * b,
        "drop favoured a class: control {:.2}% bulk {:.2}%",
        100.0 * c,
        100.0 * b
    );
}

/// Issue 4: "drop: latency percentiles of accepted packets under flood vs
/// unloaded". Under `none`, what B accepts waits behind a full backlog
/// (max_backlog packets); under `drop` producers admit only up to halfway
/// between the watermarks, so it waits about half as long.
#[test]
fn flood_drop_bounds_the_latency_of_accepted_packets() {
    // Unloaded: one burst of the mix, so B never has more than 32
    // packets queued (net_pcap replays a file as fast as it can, so a
    // longer file would flood B as well). That one burst is all a run
    // measures, and some runs measured 1.6-5 ms instead of 70-200 us
    // (1 of 4 runs at 8701ecb, 4 of 6 at 94a32e5), with B busy for only
    // 50-120 us of it. Likely cause (not proven): the burst arrives at
    // start-up, when the control plane is at work on CPU 0, which A
    // shares with it (this config's lcore map), so A can be preempted for
    // a time slice between stamping the burst at RX and enqueuing it. The best of up to three runs
    // counts, and they run before the floods; when all three were
    // preempted the comparison with the unloaded run is skipped (said on
    // stderr) and only the flood-against-flood check stands.
    let (frames, _) = mix();
    let mut idle_p50 = f64::INFINITY;
    for attempt in 0..3 {
        let mut rig = Rig::new(&format!("flood_unloaded_latency_{attempt}"));
        let pcap = rig.dir.join("mix.pcap");
        pcapio::write_pcap(&pcap, &frames[..32]);
        let source = format!("net_pcap0,rx_pcap={}", pcap.display());
        rig.config = flood_config(&source, "", "", "");
        let idle = rig.run_ok(&["--until-idle", "300"]);
        let p50 = idle.stats.json["workers"][1]["latency"]["p50_us"]
            .as_f64()
            .unwrap_or(f64::NAN);
        idle_p50 = idle_p50.min(p50);
        if idle_p50 < UNLOADED_P50_US {
            break;
        }
    }
    // Both floods back to back (not the shared baseline, which may have
    // run at another moment of a VM whose speed changes).
    let none = &flood(
        "flood_none_latency",
        "none",
        "",
        "[overload]\npolicy = \"none\"\n",
    );
    let policy = format!("[overload]\npolicy = \"drop\"\nexit_after_us = {EXIT_AFTER_US}\n");
    let f = flood("flood_drop_latency", "drop", "", &policy);
    f.assert_sound();
    let p = |fl: &Flood, q: &str| {
        fl.stats.json["workers"][1]["latency"][q]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    eprintln!(
        "latency of what B forwarded, p50/p99 us: unloaded {idle_p50:.1}; flood none {:.1}/{:.1}; \
         flood drop {:.1}/{:.1}",
        p(none, "p50_us"),
        p(none, "p99_us"),
        p(&f, "p50_us"),
        p(&f, "p99_us")
    );
    assert!(
        p(&f, "p50_us") < 0.75 * p(none, "p50_us"),
        "drop did not shorten the wait of accepted packets: p50 {:.1} us vs {:.1} us under none",
        p(&f, "p50_us"),
        p(none, "p50_us")
    );
    if idle_p50 < UNLOADED_P50_US {
        assert!(
            idle_p50 < p(&f, "p50_us"),
            "unloaded p50 {idle_p50:.1} us is not below the flooded {:.1} us",
            p(&f, "p50_us")
        );
    } else {
        eprintln!("no clean unloaded run in three (best p50 {idle_p50:.1} us): comparison skipped");
    }
}

/// The drop policy is meant to keep the latency of accepted packets
/// bounded ("finish what it already accepted before pulling new RX work"),
/// not to stop an overloaded worker from working: under a sustained flood
/// it should still forward a good part of what it can.
#[test]
fn flood_drop_keeps_the_overloaded_worker_forwarding() {
    let none = baseline();
    let policy = format!("[overload]\npolicy = \"drop\"\nexit_after_us = {EXIT_AFTER_US}\n");
    let f = flood("flood_drop_goodput", "drop", "", &policy);
    f.assert_sound();
    let (got, base) = (f.b("processed"), none.b("processed"));
    let busy = |fl: &Flood| {
        let b = fl.b("busy_cycles") as f64;
        b / (b + fl.b("idle_cycles") as f64)
    };
    eprintln!(
        "drop goodput: B processed {got} vs {base} under none; B busy {:.1}% vs {:.1}%",
        100.0 * busy(&f),
        100.0 * busy(none)
    );
    assert!(
        got * 2 >= base,
        "under policy drop, overloaded worker B forwarded {got} packets in {FLOOD_SECS} s, \
         under none {base}: B sat idle ({:.1}% busy) while the producer dropped {} packets \
         as overload\n{f}\nbaseline {none}",
        100.0 * busy(&f),
        f.stats.drop_count("overload")
    );
}

#[test]
fn flood_demote_leaves_a_competitor_its_share() {
    const WINDOW_S: f64 = 2.0;
    const B_CPU: u32 = 1;
    let solo = {
        let _quiet = dpdk_lock();
        rig::competitor(B_CPU, WINDOW_S)
    };
    let mut runs = Vec::new();
    for (name, workers, policy, want_policy) in [
        (
            "flood_none_fifo",
            "fifo_priority = 10",
            "[overload]\npolicy = \"none\"\n",
            rig::SCHED_FIFO,
        ),
        (
            "flood_demote",
            "",
            "[overload]\npolicy = \"demote\"\n\n[overload.demote]\nfifo_priority = 10\n",
            rig::SCHED_OTHER,
        ),
    ] {
        let (rig, classes) = flood_rig(name, workers, policy);
        let competitor = rig::Competitor::start(B_CPU);
        let (guard, running) = rig.spawn(&["--duration", "60"]);
        let b = rig::wait_for_worker(&running, 1);
        let pid = running.pid();
        // The flood is on and B is where the policy puts it: SCHED_FIFO
        // for none + FIFO; demoted to SCHED_OTHER (overloaded) for demote,
        // after it started as SCHED_FIFO and ran for a while.
        let start_cpu = rig::thread_cpu_ns(pid, b).unwrap_or(0);
        rig::wait_for(
            &format!("{name}: worker B running in policy {want_policy}"),
            Duration::from_secs(20),
            || {
                let ran = rig::thread_cpu_ns(pid, b)? - start_cpu;
                (ran >= 50_000_000 && rig::thread_policy(pid, b)? == want_policy).then_some(())
            },
        );
        let t = Instant::now();
        let progress = competitor.run(WINDOW_S);
        let window = t.elapsed();
        running.signal("TERM");
        let out = running.wait(RUN_TIMEOUT);
        drop(guard);
        let r = rig.finish(out);
        let f = Flood::from_stats(name, r.stats, &classes);
        eprintln!("{f}");
        eprintln!(
            "{name}: competitor on CPU {B_CPU}: {progress} iterations in {window:?} \
             ({:.1}% of solo {solo})",
            100.0 * progress as f64 / solo as f64
        );
        f.stats.assert_balanced();
        f.stats.assert_no_mbuf_leak();
        runs.push((f, progress));
    }
    let (fifo, demote) = (runs[0].1, runs[1].1);
    assert!(
        runs[1].0.b("overload_transitions") >= 1,
        "demote: B never entered overload"
    );
    assert!(
        fifo * 2 < solo,
        "rig premise: a SCHED_FIFO poller on CPU {B_CPU} should starve the competitor; it got \
         {fifo} of solo {solo}"
    );
    // The issue aims at >= 30% of solo progress; measured 31% to 85% here
    // depending on what else the shared machine runs on CPU 1 (solo is
    // measured at another moment). The robust signal is the contrast with
    // none + FIFO (1% to 5% of solo).
    assert!(
        demote * 5 >= solo,
        "demote: the competitor got {demote} iterations, {:.1}% of its solo {solo} \
         (issue 4 aims at >= 30%); none + FIFO {fifo}",
        100.0 * demote as f64 / solo as f64
    );
    assert!(
        demote >= fifo * 5,
        "demote ({demote}) is not clearly better for the competitor than none + FIFO ({fifo})"
    );
}

/// A finite flood (the pcap read once): the detector enters overload, and
/// leaves it once the flood is over; at exit nothing is overloaded, and the
/// time spent overloaded ends with the flood (+ `exit_after_us` + slack).
fn transitions_clear(policy_name: &str, policy: &str) {
    const UNTIL_IDLE_MS: u64 = 1000;
    const REPEAT: usize = 100;
    let mut rig = Rig::new(&format!("flood_finite_{policy_name}"));
    let (frames, _) = mix();
    let many: Vec<Vec<u8>> = frames
        .iter()
        .cycle()
        .take(MIX_LEN * REPEAT)
        .cloned()
        .collect();
    let pcap = rig.dir.join("finite.pcap");
    pcapio::write_pcap(&pcap, &many);
    let source = format!("net_pcap0,rx_pcap={}", pcap.display());
    rig.config = flood_config(&source, "", "", policy);
    let r = rig.run_ok(&["--until-idle", &UNTIL_IDLE_MS.to_string()]);
    let st = &r.stats;
    st.assert_balanced();
    st.assert_no_mbuf_leak();
    assert_eq!(
        st.total("rx_packets"),
        many.len() as u64,
        "every frame read once"
    );
    let uptime = st
        .json
        .pointer("/uptime_seconds")
        .and_then(Value::as_f64)
        .expect("uptime_seconds");
    let workers = st
        .json
        .pointer("/workers")
        .and_then(Value::as_array)
        .expect("workers");
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(
            w.get("overloaded").and_then(Value::as_bool),
            Some(false),
            "{policy_name}: workers[{i}] still overloaded after the flood\n{:#}",
            st.json
        );
        let t = w
            .get("overload_transitions")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        assert_eq!(
            t % 2,
            0,
            "{policy_name}: workers[{i}] odd transitions {t} but not overloaded"
        );
    }
    assert_eq!(st.u64_at("/overload/workers_overloaded"), 0);
    let t = st.u64_at("/workers/1/overload_transitions");
    let secs = st
        .json
        .pointer("/workers/1/overload_seconds")
        .and_then(Value::as_f64)
        .expect("overload_seconds");
    eprintln!(
        "{policy_name}: finite flood of {} packets: B transitions {t}, overloaded {secs:.3} s, \
         uptime {uptime:.3} s, drops {:?}",
        many.len(),
        st.drops()
    );
    assert!(
        t >= 2,
        "{policy_name}: B never went into overload and back ({t} transitions)"
    );
    // The run stops UNTIL_IDLE_MS after the last packet arrived: the flood
    // ended before uptime - UNTIL_IDLE_MS.
    let flood_end = uptime - UNTIL_IDLE_MS as f64 / 1000.0;
    assert!(
        secs <= flood_end + 0.01 + 0.3,
        "{policy_name}: B was overloaded {secs:.3} s but the flood ended by {flood_end:.3} s \
         into the run: it left overload late"
    );
}

#[test]
fn finite_flood_transitions_clear_none() {
    transitions_clear("none", "[overload]\npolicy = \"none\"\n");
}

#[test]
fn finite_flood_transitions_clear_drop() {
    transitions_clear("drop", "[overload]\npolicy = \"drop\"\n");
}

#[test]
fn finite_flood_transitions_clear_filter() {
    transitions_clear(
        "filter",
        &format!("[overload]\npolicy = \"filter\"\n\n{FILTER_RULES}"),
    );
}

/// Writes `repeat` cycles of the mix as a finite pcap into `rig`'s dir and
/// returns the source device and the frame count.
fn finite_source(rig: &Rig, repeat: usize) -> (String, usize) {
    let (frames, _) = mix();
    let many: Vec<Vec<u8>> = frames
        .iter()
        .cycle()
        .take(MIX_LEN * repeat)
        .cloned()
        .collect();
    let pcap = rig.dir.join("finite.pcap");
    pcapio::write_pcap(&pcap, &many);
    (format!("net_pcap0,rx_pcap={}", pcap.display()), many.len())
}

/// `pps_ceiling` alone signals overload: a replay that never fills the
/// backlog past the high watermark, processed faster than the ceiling.
#[test]
fn pps_ceiling_alone_signals_overload() {
    const MAX_BACKLOG: usize = 16_384;
    // At most 73% of the backlog even if B only started after A read it all.
    const REPEAT: usize = 6;
    let mut transitions = Vec::new();
    for ceiling in [0u64, 10_000] {
        let mut rig = Rig::new(&format!("pps_ceiling_{ceiling}"));
        let (source, n) = finite_source(&rig, REPEAT);
        assert!(
            n * 4 < MAX_BACKLOG * 3,
            "the backlog could reach the high watermark"
        );
        rig.config = flood_config(
            &source,
            "",
            &format!("max_backlog = {MAX_BACKLOG}"),
            &format!("[overload]\npolicy = \"none\"\npps_ceiling = {ceiling}\n"),
        );
        let r = rig.run_ok(&["--until-idle", "500"]);
        let st = &r.stats;
        st.assert_balanced();
        st.assert_no_mbuf_leak();
        st.assert_drops(&[]);
        assert_eq!(st.total("tx_packets"), n as u64);
        assert_eq!(
            st.json
                .pointer("/workers/1/overloaded")
                .and_then(Value::as_bool),
            Some(false),
            "pps_ceiling {ceiling}: B still overloaded after the replay"
        );
        let t = st.u64_at("/workers/1/overload_transitions");
        eprintln!(
            "pps_ceiling {ceiling}: B processed {} with {t} transitions, backlog high water {}",
            st.u64_at("/workers/1/processed"),
            st.u64_at("/workers/1/backlog_high_water")
        );
        transitions.push(t);
    }
    assert_eq!(
        transitions[0], 0,
        "without a ceiling, a backlog below the high watermark is no overload"
    );
    assert!(
        transitions[1] >= 2,
        "B forwarded far more than pps_ceiling = 10000 per second but the detector did not \
         enter and leave overload ({} transitions)",
        transitions[1]
    );
}

/// Demote end to end, watched from outside: worker B runs SCHED_FIFO,
/// switches itself to SCHED_OTHER under the flood, and back to SCHED_FIFO
/// once the (finite) flood is over. The main lcore shares CPU 1 with B
/// here, so that it is not starved by the FIFO RX worker on CPU 0 and
/// launches B at once.
#[test]
fn finite_flood_demote_returns_to_fifo() {
    const REPEAT: usize = 100;
    let mut rig = Rig::new("flood_finite_demote");
    let (source, n) = finite_source(&rig, REPEAT);
    rig.config = flood_config_on(
        "0@1,1@0,2@1",
        &source,
        "",
        "",
        "[overload]\npolicy = \"demote\"\n\n[overload.demote]\nfifo_priority = 10\n",
    );
    let (guard, running) = rig.spawn(&["--until-idle", "1000"]);
    let watch = rig::PolicyWatch::start(running.pid(), "napifwd-w1");
    let out = running.wait(RUN_TIMEOUT);
    drop(guard);
    let seen = watch.finish();
    let r = rig.finish(out);
    let st = &r.stats;
    eprintln!(
        "demote finite flood of {n}: B policy changes {seen:?}; B transitions {}, drops {:?}",
        st.u64_at("/workers/1/overload_transitions"),
        st.drops()
    );
    st.assert_balanced();
    st.assert_no_mbuf_leak();
    assert_eq!(st.total("rx_packets"), n as u64);
    assert_eq!(
        st.json
            .pointer("/workers/1/overloaded")
            .and_then(Value::as_bool),
        Some(false)
    );
    assert!(st.u64_at("/workers/1/overload_transitions") >= 2);
    let policies: Vec<u32> = seen.iter().map(|&(_, p)| p).collect();
    let first_fifo = policies.iter().position(|&p| p == rig::SCHED_FIFO);
    assert!(first_fifo.is_some(), "B never ran SCHED_FIFO: {seen:?}");
    let after_fifo = &policies[first_fifo.unwrap_or(0)..];
    assert!(
        after_fifo.contains(&rig::SCHED_OTHER),
        "B was never seen demoted to SCHED_OTHER during the flood: {seen:?}"
    );
    assert_eq!(
        policies.last(),
        Some(&rig::SCHED_FIFO),
        "B did not return to SCHED_FIFO after the flood: {seen:?}"
    );
}
