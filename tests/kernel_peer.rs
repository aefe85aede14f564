//! Kernel peers through napifwd (test layer 3): two network namespaces,
//! each with a veth pair whose other end sits in a third namespace where
//! napifwd runs on `net_af_packet`, routing between the two subnets. The
//! namespaces' kernels are the end hosts: real `ping` and `iperf3`, with a
//! static neighbour entry for their gateway (napifwd answers no ARP) that
//! points at napifwd's port, and every offload off on the veths (a GSO or
//! checksum-partial frame from a veth is not a wire frame).
//!
//! napifwd runs in its own namespace so that no kernel forwards the same
//! packets beside it (af_packet is a tap: the kernel sees them too).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::rig;
use common::*;
use serde_json::Value;

/// Runs `cmd`, requires success, returns stdout.
fn run(cmd: &mut Command) -> String {
    rig::run_checked(
        cmd,
        "kernel-peer tests need root, iproute2, ethtool, ping, iperf3",
    )
}

fn ip(args: &[&str]) -> String {
    run(Command::new("ip").args(args))
}

/// Two end-host namespaces (`h1`, `h2`) and napifwd's (`mid`), wired
/// `h1:e1 <-> mid:n1` and `h2:e2 <-> mid:n2`; subnets 10.71.1.0/24 and
/// 10.71.2.0/24, hosts .2, gateways .1 (napifwd's ports).
struct Peers {
    h1: String,
    h2: String,
    mid: String,
    /// MACs of e1, n1, e2, n2.
    macs: [String; 4],
}

const H1_IP: &str = "10.71.1.2";
const H2_IP: &str = "10.71.2.2";

impl Peers {
    fn new() -> Peers {
        let id = std::process::id();
        let ns = |t: &str| format!("nfkp-{t}-{id}");
        let (h1, h2, mid) = (ns("h1"), ns("h2"), ns("mid"));
        for n in [&h1, &h2, &mid] {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
            ip(&["netns", "add", n]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        let mut p = Peers {
            h1,
            h2,
            mid,
            macs: Default::default(),
        };
        let ends = [(&p.h1, "e1", "n1"), (&p.h2, "e2", "n2")];
        for (host, e, n) in ends {
            ip(&[
                "link", "add", e, "netns", host, "type", "veth", "peer", "name", n, "netns", &p.mid,
            ]);
            for (ns, ifname) in [(host, e), (&p.mid, n)] {
                run(Command::new("ip").args([
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
                ]));
                run(Command::new("ip").args([
                    "netns", "exec", ns, "ethtool", "-K", ifname, "rx", "off", "tx", "off", "tso",
                    "off", "gso", "off", "gro", "off",
                ]));
                ip(&["-n", ns, "link", "set", ifname, "up"]);
            }
        }
        let mac = |ns: &str, ifname: &str| -> String {
            let out = ip(&["-n", ns, "-br", "link", "show", ifname]);
            out.split_whitespace()
                .nth(2)
                .unwrap_or_else(|| panic!("no MAC in {out:?}"))
                .to_owned()
        };
        p.macs = [
            mac(&p.h1, "e1"),
            mac(&p.mid, "n1"),
            mac(&p.h2, "e2"),
            mac(&p.mid, "n2"),
        ];
        for (host, e, addr, gw, gw_mac) in [
            (&p.h1, "e1", H1_IP, "10.71.1.1", &p.macs[1]),
            (&p.h2, "e2", H2_IP, "10.71.2.1", &p.macs[3]),
        ] {
            ip(&["-n", host, "addr", "add", &format!("{addr}/24"), "dev", e]);
            ip(&["-n", host, "route", "add", "default", "via", gw]);
            ip(&[
                "-n",
                host,
                "neigh",
                "add",
                gw,
                "lladdr",
                gw_mac,
                "dev",
                e,
                "nud",
                "permanent",
            ]);
        }
        p
    }

    fn in_ns(&self, ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }

    fn config(&self) -> String {
        let [e1, _, e2, _] = &self.macs;
        format!(
            "{}\n\
             [[ports]]\nname = \"n1\"\ndevice = \"net_af_packet0,iface=n1\"\n\n\
             [[ports]]\nname = \"n2\"\ndevice = \"net_af_packet1,iface=n2\"\n\n\
             [workers]\nlcores = [1]\n\n\
             [forward]\nmode = \"l3\"\n\n\
             [[forward.routes]]\nprefix = \"10.71.1.0/24\"\nport = \"n1\"\nnext_hop_mac = \"{e1}\"\n\n\
             [[forward.routes]]\nprefix = \"10.71.2.0/24\"\nport = \"n2\"\nnext_hop_mac = \"{e2}\"\n\n\
             [metrics]\nlisten = \"\"\n",
            eal_section_custom("0-1", 512)
        )
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for n in [&self.h1, &self.h2, &self.mid] {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// ping from h1 to h2 through napifwd: every echo answered, with the TTL
/// napifwd decremented (64 - 1: one router on the way); then a 2 s TCP
/// iperf3 run: data arrives; at exit napifwd accounts for every packet,
/// dropped nothing but what a full TX ring refused, leaked no mbuf.
#[test]
fn ping_and_iperf3_between_two_kernels_through_napifwd() {
    let peers = Peers::new();
    let dir = TempDir::new("kernel_peer");
    let cfg = dir.join("napifwd.toml");
    std::fs::write(&cfg, peers.config()).expect("write config");
    let stats = dir.join("stats.json");
    let _g = dpdk_lock();
    let n = spawn_napifwd_in_netns(
        &peers.mid,
        [
            "run".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
            "--stats-json".as_ref(),
            stats.as_os_str(),
        ],
        dir.path(),
    );
    // Up once one echo goes through (napifwd starts in about a second).
    let t0 = Instant::now();
    loop {
        let ok = peers
            .in_ns(&peers.h1, "ping")
            .args(["-c", "1", "-W", "1", H2_IP])
            .stdout(Stdio::null())
            .status()
            .expect("run ping")
            .success();
        if ok {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no echo through napifwd within 20 s"
        );
    }
    let ping = run(peers
        .in_ns(&peers.h1, "ping")
        .args(["-c", "20", "-i", "0.02", "-W", "1", H2_IP]));
    assert!(
        ping.contains("20 packets transmitted, 20 received"),
        "{ping}"
    );
    assert_eq!(
        ping.matches("ttl=63").count(),
        20,
        "every reply one router away\n{ping}"
    );

    let mut server = peers
        .in_ns(&peers.h2, "iperf3")
        .args(["-s", "-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 -s");
    // The client only once the server listens (iperf3 3.12 with -J exits 0
    // even when the connection is refused: its JSON says so).
    let t0 = Instant::now();
    while !run(peers
        .in_ns(&peers.h2, "ss")
        .args(["-Hltn", "sport = :5201"]))
    .contains("5201")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "iperf3 -s not listening after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = run(peers.in_ns(&peers.h1, "iperf3").args([
        "-c",
        H2_IP,
        "-t",
        "2",
        "--connect-timeout",
        "3000",
        "-J",
    ]));
    // One test and the server exits; never wait on it unbounded.
    let t0 = Instant::now();
    while server.try_wait().expect("iperf3 -s status").is_none()
        && t0.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
    let report: Value = serde_json::from_str(&client).expect("iperf3 -J output");
    assert!(
        report.get("error").is_none(),
        "iperf3 failed through napifwd\n{client}"
    );
    let received = report
        .pointer("/end/sum_received/bytes")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    assert!(
        received > 1_000_000,
        "iperf3 moved only {received} bytes through napifwd\n{client}"
    );

    n.signal("TERM");
    let out = n.wait(Duration::from_secs(30));
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let st = Stats::read(&stats).unwrap_or_else(|e| panic!("{e}"));
    st.assert_balanced();
    st.assert_no_mbuf_leak();
    // TCP may outrun an af_packet TX ring (counted tx_full, and TCP
    // resends); nothing else may be dropped.
    let drops = st.drops();
    assert!(
        drops.keys().all(|r| r == "tx_full"),
        "drops other than tx_full: {drops:?}"
    );
    // 20 echoes, 20 replies and the TCP run both ways.
    assert!(
        st.total("tx_packets") > 40 + received / 1500,
        "{}",
        st.pretty()
    );
    eprintln!(
        "kernel peers: 20/20 pings, iperf3 {:.2} Gbit/s, napifwd forwarded {}",
        report
            .pointer("/end/sum_received/bits_per_second")
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
            / 1e9,
        st.total("tx_packets")
    );
}
