//! The overload filter judged packet by packet (issue 4), pcap in / pcap
//! out: with `overload.filter.when = "always"` every received packet goes
//! through the judge, so each input frame has one exact verdict: forwarded
//! (the exact frame expected on the output port) or dropped under a named
//! reason, and each rule's `matched`/`dropped` counters are known.
//!
//! Also the filter's and the demote policy's start-up failures: BPF
//! objects that are not eBPF or do not verify are config errors (exit 78,
//! the key named), and SCHED_FIFO without CAP_SYS_NICE fails `run` at
//! start with a message that says how to fix it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::packet::*;
use common::rig::Rig;
use common::*;
use serde_json::Value;

const MAC_WAN: &str = "02:00:00:00:00:0a";
const MAC_LAN: &str = "02:00:00:00:00:0b";
const PEER: &str = "02:00:00:00:99:01";
const NH: &str = "02:00:00:00:bb:01";

const ROUTES: &str = "[forward]\nmode = \"l3\"\n\n\
    [[forward.routes]]\nprefix = \"198.18.0.0/15\"\nport = \"lan\"\nnext_hop_mac = \"02:00:00:00:bb:01\"\n\n\
    [[forward.routes]]\nprefix = \"2001:db8:1::/48\"\nport = \"lan\"\nnext_hop_mac = \"02:00:00:00:bb:01\"\n\n\
    [[forward.routes]]\nprefix = \"2001:db8:2::/48\"\nport = \"lan\"\nnext_hop_mac = \"02:00:00:00:bb:01\"\n";

/// What must become of one input frame.
#[derive(Debug, Clone)]
enum Verdict {
    /// Forwarded: this frame leaves on "lan".
    Out(Vec<u8>),
    /// Dropped, counted under this reason.
    Drop(&'static str),
}

struct Case {
    frame: Vec<u8>,
    verdict: Verdict,
    /// The rule (index in the config, rules.len() = default) that judges it.
    rule: usize,
}

/// A frame the filter passes (`out`: what must leave, forwarded) or drops
/// (`None`), judged by `rule`.
fn case(frame: Vec<u8>, out: Option<Vec<u8>>, rule: usize) -> Case {
    Case {
        frame,
        verdict: out.map_or(Verdict::Drop("filter"), Verdict::Out),
        rule,
    }
}

fn v4_case(ip: &Ipv4, pass: bool, rule: usize) -> Case {
    let out = pass.then(|| {
        Frame::ipv4(mac(NH), mac(MAC_LAN), &ip.forwarded())
            .unpadded()
            .bytes()
    });
    case(Frame::ipv4(mac(MAC_WAN), mac(PEER), ip).bytes(), out, rule)
}

fn v6_case(ip: &Ipv6, pass: bool, rule: usize) -> Case {
    let out = pass.then(|| {
        Frame::ipv6(mac(NH), mac(MAC_LAN), &ip.forwarded())
            .unpadded()
            .bytes()
    });
    case(Frame::ipv6(mac(MAC_WAN), mac(PEER), ip).bytes(), out, rule)
}

/// Replays `cases` through a filter that judges always, with the given
/// `[overload.filter]` body, on one worker (no RPS) or two (RPS, all
/// steered to the second: the filter runs on the RX worker before
/// steering). Checks the output, the drops and, if `rules` is given, the
/// per-rule counters (names in order, "default" last).
fn run_cases(name: &str, rps: bool, filter: &str, cases: &[Case], rules: Option<&[&str]>) {
    let mut s = PcapSetup::new(name);
    let input: Vec<Vec<u8>> = cases.iter().map(|c| c.frame.clone()).collect();
    s.port("wan", mac(MAC_WAN), &input);
    let lan_queue = if rps {
        s.eal = eal_section_custom("0@0,1@0,2@1", 512);
        s.workers = vec![1, 2];
        s.port("lan", mac(MAC_LAN), &[]).tx_queues = 2;
        1
    } else {
        s.port("lan", mac(MAC_LAN), &[]);
        0
    };
    let rps_toml = if rps {
        "[rps]\nenabled = true\nworkers = [2]\nhash = \"software\"\n\n"
    } else {
        ""
    };
    s.extra = format!(
        "{rps_toml}[overload]\npolicy = \"filter\"\n\n[overload.filter]\nwhen = \"always\"\n{filter}\n{ROUTES}"
    );
    let r = s.replay();
    let st = &r.stats;
    let want: Vec<Vec<u8>> = cases
        .iter()
        .filter_map(|c| match &c.verdict {
            Verdict::Out(f) => Some(f.clone()),
            Verdict::Drop(_) => None,
        })
        .collect();
    let queues = s.output_by_queue("lan");
    assert_frames_eq("lan", &queues[lan_queue], &want);
    assert!(
        queues
            .iter()
            .enumerate()
            .all(|(q, f)| q == lan_queue || f.is_empty()),
        "frames on an unexpected TX queue of lan"
    );
    let mut drops: Vec<(&str, u64)> = Vec::new();
    for c in cases {
        if let Verdict::Drop(r) = c.verdict {
            match drops.iter_mut().find(|(n, _)| *n == r) {
                Some(e) => e.1 += 1,
                None => drops.push((r, 1)),
            }
        }
    }
    st.assert_drops(&drops);
    st.assert_balanced();
    st.assert_no_mbuf_leak();
    if let Some(names) = rules {
        let got: Vec<(String, u64, u64)> = (0..names.len())
            .map(|i| {
                let name = st
                    .json
                    .pointer(&format!("/overload/rules/{i}/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                (
                    name,
                    st.u64_at(&format!("/overload/rules/{i}/matched")),
                    st.u64_at(&format!("/overload/rules/{i}/dropped")),
                )
            })
            .collect();
        let want: Vec<(String, u64, u64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let judged = cases.iter().filter(|c| c.rule == i);
                let matched = judged.clone().count() as u64;
                let dropped = judged
                    .filter(|c| matches!(c.verdict, Verdict::Drop("filter")))
                    .count() as u64;
                ((*n).to_owned(), matched, dropped)
            })
            .collect();
        assert_eq!(
            got, want,
            "overload.rules (name, matched, dropped) (left: napifwd, right: expected)"
        );
    }
}

const RULES: &str = "default_action = \"drop\"\n\n\
    [[overload.filter.rules]]\nname = \"syn-no-ack\"\nproto = \"tcp\"\ntcp_flags = \"syn,!ack\"\naction = \"drop\"\n\n\
    [[overload.filter.rules]]\nname = \"keep-bgp\"\nproto = \"tcp\"\ndst_port = 179\naction = \"pass\"\n\n\
    [[overload.filter.rules]]\nname = \"keep-ef\"\ndscp = 46\naction = \"pass\"\n\n\
    [[overload.filter.rules]]\nname = \"bad-src\"\nsrc = \"203.0.113.0/24\"\naction = \"drop\"\n\n\
    [[overload.filter.rules]]\nname = \"dns\"\nproto = \"udp\"\nsrc_port = 5353\ndst_port = 53\n\
    action = \"rate_limit\"\npps = 1\nburst = 5\n\n\
    [[overload.filter.rules]]\nname = \"arp\"\nethertype = 0x0806\naction = \"pass\"\n\n\
    [[overload.filter.rules]]\nname = \"v6-net1\"\ndst = \"2001:db8:1::/48\"\naction = \"pass\"\n";

const RULE_NAMES: [&str; 8] = [
    "syn-no-ack",
    "keep-bgp",
    "keep-ef",
    "bad-src",
    "dns",
    "arp",
    "v6-net1",
    "default",
];

/// One input frame per rule and edge: first match wins, each field, the
/// token bucket (burst 5, then nothing at 1 pps), the default action.
fn rule_cases() -> Vec<Case> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    let mut v = Vec::new();
    let bgp = |sport, flags| {
        Ipv4::tcp("192.0.2.1", "198.18.0.1", sport, 179, 1, b"open").with_tcp_flags(flags)
    };
    // A SYN to port 179: the first rule wins over keep-bgp.
    v.push(v4_case(&bgp(40_001, SYN), false, 0));
    // SYN|ACK is not "syn,!ack": keep-bgp passes it.
    v.push(v4_case(&bgp(40_002, SYN | ACK), true, 1));
    v.push(v4_case(&bgp(40_003, ACK), true, 1));
    // TCP to another port falls through to the default.
    v.push(v4_case(
        &Ipv4::tcp("192.0.2.1", "198.18.0.1", 40_004, 180, 1, b"x"),
        false,
        7,
    ));
    // DSCP EF from the bad source: keep-ef comes first.
    let ef = Ipv4::udp("203.0.113.5", "198.18.0.2", 5004, 5004, b"voice").with_tos(46 << 2);
    v.push(v4_case(&ef, true, 2));
    // DSCP AF41 from the bad source: bad-src.
    let af41 = Ipv4::udp("203.0.113.5", "198.18.0.2", 5004, 5004, b"video").with_tos(34 << 2);
    v.push(v4_case(&af41, false, 3));
    // DNS from port 5353: 5 pass on the burst, the next 5 are over the rate.
    for i in 0..10u16 {
        let q = Ipv4::udp("192.0.2.7", "198.18.0.53", 5353, 53, &i.to_be_bytes()).with_id(i);
        v.push(v4_case(&q, i < 5, 4));
    }
    // DNS from another source port: not the dns rule.
    v.push(v4_case(
        &Ipv4::udp("192.0.2.7", "198.18.0.53", 5354, 53, b"q"),
        false,
        7,
    ));
    // ARP passes the filter, then L3 forwarding drops it.
    v.push(Case {
        frame: Frame::arp(mac(PEER), arp_request(mac(PEER), "192.0.2.1", "192.0.2.2")).bytes(),
        verdict: Verdict::Drop("unsupported"),
        rule: 5,
    });
    // IPv6 by destination prefix.
    v.push(v6_case(
        &Ipv6::udp("2001:db8:9::1", "2001:db8:1::5", 1000, 2000, b"in"),
        true,
        6,
    ));
    v.push(v6_case(
        &Ipv6::udp("2001:db8:9::1", "2001:db8:2::5", 1000, 2000, b"out"),
        false,
        7,
    ));
    v
}

#[test]
fn filter_always_rules_judge_every_packet() {
    run_cases(
        "filter_rules_always",
        false,
        RULES,
        &rule_cases(),
        Some(&RULE_NAMES),
    );
}

#[test]
fn filter_always_rules_judge_before_rps_steering() {
    run_cases(
        "filter_rules_always_rps",
        true,
        RULES,
        &rule_cases(),
        Some(&RULE_NAMES),
    );
}

fn build_bpf_text(dir: &Path, name: &str, c: &str) -> String {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, c).expect("write BPF source");
    build_bpf(&src, dir, &format!("{name}.o"))
}

#[test]
fn filter_always_example_ebpf_object_judges_every_packet() {
    let dir = TempDir::new("filter_bpf_build");
    let obj = build_bpf(&example_bpf_source(), dir.path(), "example.o");
    // conf/overload-filter-bpf.c keeps TCP port 179 either way, ICMP and
    // ICMPv6 (IPv4 later fragments only if ICMP), and drops the rest.
    let mut cases = vec![
        v4_case(
            &Ipv4::tcp("192.0.2.1", "198.18.0.1", 40_000, 179, 1, b"open"),
            true,
            0,
        ),
        v4_case(
            &Ipv4::tcp("192.0.2.1", "198.18.0.1", 179, 40_000, 1, b"keep"),
            true,
            0,
        ),
        v4_case(
            &Ipv4::tcp("192.0.2.1", "198.18.0.1", 40_000, 80, 1, b"web"),
            false,
            0,
        ),
        v4_case(
            &Ipv4::icmp_echo("192.0.2.1", "198.18.0.1", 1, 1, b"ping"),
            true,
            0,
        ),
        v4_case(
            &Ipv4::udp("192.0.2.1", "198.18.0.1", 1000, 179, b"udp179"),
            false,
            0,
        ),
        v6_case(
            &Ipv6::icmp_echo("2001:db8:9::1", "2001:db8:1::1", 1, 1, b"ping6"),
            true,
            0,
        ),
        v6_case(
            &Ipv6::tcp("2001:db8:9::1", "2001:db8:1::1", 179, 50_000, 1, b"bgp6"),
            true,
            0,
        ),
        v6_case(
            &Ipv6::udp("2001:db8:9::1", "2001:db8:1::1", 1, 2, b"udp6"),
            false,
            0,
        ),
    ];
    // Later fragments (offset 8 bytes): no ports to judge.
    let mut frag_icmp = Ipv4::new("192.0.2.1", "198.18.0.1", PROTO_ICMP, filler(1, 24));
    frag_icmp.flags_fragment = 1;
    cases.push(v4_case(&frag_icmp, true, 0));
    let mut frag_tcp = Ipv4::new("192.0.2.1", "198.18.0.1", PROTO_TCP, filler(2, 24));
    frag_tcp.flags_fragment = 1;
    cases.push(v4_case(&frag_tcp, false, 0));
    run_cases(
        "filter_bpf_always",
        false,
        &format!("bpf_object = \"{obj}\"\n"),
        &cases,
        None,
    );
}

/// `bpf_object = "FILE:section:NAME"` picks the ELF section the program is
/// in (src/app.rs `load_bpf`).
#[test]
fn filter_ebpf_object_section_suffix_selects_the_section() {
    let dir = TempDir::new("filter_bpf_section");
    let obj = build_bpf_text(
        dir.path(),
        "tcp_only",
        "typedef unsigned long long u64;\n\
         __attribute__((section(\"xdp\"), used))\n\
         u64 tcp_only(void *pkt) { const unsigned char *p = pkt; return p[23] == 6; }\n",
    );
    let cases = vec![
        v4_case(
            &Ipv4::tcp("192.0.2.1", "198.18.0.1", 1, 2, 3, b"tcp"),
            true,
            0,
        ),
        v4_case(
            &Ipv4::udp("192.0.2.1", "198.18.0.1", 1, 2, b"udp"),
            false,
            0,
        ),
    ];
    run_cases(
        "filter_bpf_section",
        false,
        &format!("bpf_object = \"{obj}:section:xdp\"\n"),
        &cases,
        None,
    );
}

/// A one-port config whose filter uses `bpf_object`.
fn bpf_config(object: &str) -> String {
    format!(
        "{}\n[[ports]]\nname = \"wan\"\ndevice = \"net_null0\"\n\n\
         [[ports]]\nname = \"lan\"\ndevice = \"net_null1,no-rx=1\"\n\n\
         [workers]\nlcores = [1]\n\n[metrics]\nlisten = \"\"\n\n\
         [overload]\npolicy = \"filter\"\n\n[overload.filter]\nbpf_object = \"{object}\"\n\n{ROUTES}",
        eal_section(),
    )
}

/// Objects that cannot be an overload filter: not ELF, ELF but not eBPF,
/// eBPF the verifier rejects (a loop; a read outside the stack).
fn bad_bpf_objects(dir: &Path) -> Vec<(&'static str, String)> {
    let text = dir.join("text.o");
    std::fs::write(&text, "this is not an ELF object\n").expect("write text.o");
    let native = dir.join("native.o");
    std::fs::copy(std::env::current_exe().expect("test binary"), &native).expect("copy an ELF");
    let looped = build_bpf_text(
        dir,
        "loop",
        "typedef unsigned long long u64;\n\
         u64 entry(void *pkt) {\n\
         \x20 const unsigned char *p = pkt; u64 s = 0;\n\
         \x20 for (unsigned i = 0; i < p[0]; i++) s += p[i & 63];\n\
         \x20 return s;\n}\n",
    );
    let oob = build_bpf_text(
        dir,
        "oob",
        "typedef unsigned long long u64;\n\
         u64 entry(void *pkt) { asm volatile(\"r0 = *(u64 *)(r10 + 8)\" ::: \"r0\"); return 0; }\n",
    );
    vec![
        ("a text file", text.display().to_string()),
        ("a native x86-64 ELF", native.display().to_string()),
        ("an eBPF program with a loop", looped),
        ("an eBPF program reading outside its stack", oob),
    ]
}

#[test]
fn bad_bpf_object_makes_run_exit_78_naming_the_key() {
    let mut rig = Rig::new("filter_bad_bpf_run");
    for (what, obj) in bad_bpf_objects(rig.dir.path()) {
        rig.config = bpf_config(&obj);
        let out = rig.run(&["--duration", "5"]);
        assert_eq!(
            out.code(),
            Some(78),
            "bpf_object = {what}: run must exit 78 (EX_CONFIG)\n{}",
            out.describe()
        );
        let all = out.all();
        assert!(
            all.contains("overload.filter.bpf_object") && all.contains(&obj),
            "bpf_object = {what}: the message must name the key and the file\n{}",
            out.describe()
        );
        assert!(!all.contains("panicked"), "{what}: napifwd panicked\n{all}");
        assert!(
            !rig.stats_path().exists(),
            "{what}: a run that failed at start wrote stats"
        );
    }
}

/// check-config promises every config error without touching hardware;
/// a BPF object that cannot load is one (`run` exits 78 on it).
#[test]
fn bad_bpf_object_is_reported_by_check_config() {
    let mut rig = Rig::new("filter_bad_bpf_check");
    let mut failures = Vec::new();
    for (what, obj) in bad_bpf_objects(rig.dir.path()) {
        rig.config = bpf_config(&obj);
        std::fs::write(rig.config_path(), &rig.config).expect("write config");
        let out = napifwd(
            [
                std::ffi::OsStr::new("check-config"),
                rig.config_path().as_os_str(),
            ],
            rig.dir.path(),
            RUN_TIMEOUT,
        );
        if out.code() != Some(78) || !out.all().contains("overload.filter.bpf_object") {
            failures.push(format!(
                "bpf_object = {what}: check-config exited {:?} without naming \
                 overload.filter.bpf_object (run exits 78 on it)",
                out.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs `napifwd run` on `config` without CAP_SYS_NICE (dropped from the
/// bounding set by `setpriv`: root then cannot set SCHED_FIFO, its
/// RLIMIT_RTPRIO being 0).
fn run_without_cap_sys_nice(rig: &Rig) -> Output {
    let _guard = dpdk_lock();
    let args = rig.args(&["--duration", "5"]);
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--bounding-set",
        "-sys_nice",
        "--inh-caps",
        "-sys_nice",
        "--",
    ])
    .arg(napifwd_bin())
    .args(&args)
    .current_dir(rig.dir.path());
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run setpriv (util-linux)");
    Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

#[test]
fn sched_fifo_without_cap_sys_nice_fails_at_start() {
    let mut rig = Rig::new("fifo_no_cap");
    for (what, workers, overload) in [
        (
            "overload.policy = demote",
            "",
            "[overload]\npolicy = \"demote\"\n",
        ),
        (
            "workers.fifo_priority = 10",
            "fifo_priority = 10\n",
            "[overload]\npolicy = \"none\"\n",
        ),
    ] {
        rig.config = format!(
            "{}\n[[ports]]\nname = \"wan\"\ndevice = \"net_null0\"\n\n\
             [[ports]]\nname = \"lan\"\ndevice = \"net_null1,no-rx=1\"\n\n\
             [workers]\nlcores = [1]\n{workers}\n[metrics]\nlisten = \"\"\n\n{overload}\n{ROUTES}",
            eal_section()
        );
        let out = run_without_cap_sys_nice(&rig);
        let all = out.all();
        assert_eq!(
            out.code(),
            Some(1),
            "{what} without CAP_SYS_NICE: run must fail (exit 1)\n{}",
            out.describe()
        );
        for needle in ["CAP_SYS_NICE", "SCHED_FIFO"] {
            assert!(
                all.contains(needle),
                "{what}: the message must name {needle}\n{}",
                out.describe()
            );
        }
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{what}: it must fail at start, not after --duration 5 ({:?})",
            out.elapsed
        );
        assert!(
            !rig.stats_path().exists(),
            "{what}: a run that failed at start wrote stats"
        );
    }
    // The same configs run with the capability (the suite runs as root).
    let ok = rig.run(&["--duration", "0.2"]);
    assert_eq!(ok.code(), Some(0), "with CAP_SYS_NICE\n{}", ok.describe());
}
