//! L3 (LPM) forwarding, pcap in / pcap out. Every case is one input frame
//! and its verdict: either the exact frame expected on one output port, or
//! the drop reason napifwd must count. The expected frames are computed here
//! independently of napifwd: the destination is given by hand with the port
//! it must leave on (no LPM in the test), the MACs are the output port's and
//! the route's next hop, the IPv4 checksum is recomputed from scratch after
//! the TTL decrement, and Ethernet padding and trailers past the IP length
//! are cut.

mod common;

use std::collections::BTreeMap;

use common::packet::*;
use common::*;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const MAC_C: &str = "02:00:00:00:00:0c";
/// Who sends the input frames.
const PEER: &str = "02:00:00:00:99:01";
const NH_A: &str = "02:00:00:00:aa:01";
const NH_B: &str = "02:00:00:00:bb:01";
const NH_C: &str = "02:00:00:00:cc:01";
const NH_C2: &str = "02:00:00:00:cc:02";

#[derive(Clone, Copy)]
struct Port {
    name: &'static str,
    mac: &'static str,
    mtu: Option<u32>,
}

const PORTS: [Port; 3] = [
    Port {
        name: "a",
        mac: MAC_A,
        mtu: None,
    },
    Port {
        name: "b",
        mac: MAC_B,
        mtu: None,
    },
    Port {
        name: "c",
        mac: MAC_C,
        mtu: None,
    },
];

fn port_mac(name: &str) -> Mac {
    match name {
        "a" => mac(MAC_A),
        "b" => mac(MAC_B),
        "c" => mac(MAC_C),
        _ => panic!("no port {name}"),
    }
}

/// (prefix, port, next hop MAC)
type Route = (&'static str, &'static str, &'static str);

/// The routes of most tests. Note the more specific prefixes inside the
/// /15 and the /48: longest prefix must win.
const ROUTES: &[Route] = &[
    ("198.18.0.0/15", "b", NH_B),
    ("198.18.128.0/24", "c", NH_C),
    ("203.0.113.0/24", "c", NH_C2),
    ("10.0.0.0/8", "a", NH_A),
    ("2001:db8:b::/48", "b", NH_B),
    ("2001:db8:b:80::/64", "c", NH_C),
    ("2001:db8:a::/48", "a", NH_A),
];

/// (destination, output port, next hop) for traffic entering on port a,
/// worked out by hand from ROUTES, including the edges of each prefix.
const V4_FROM_A: &[Route] = &[
    ("198.18.0.1", "b", NH_B),
    ("198.19.255.254", "b", NH_B),
    ("198.18.127.255", "b", NH_B),
    ("198.18.128.1", "c", NH_C),
    ("198.18.128.255", "c", NH_C),
    ("198.18.129.0", "b", NH_B),
    ("203.0.113.77", "c", NH_C2),
];
const V6_FROM_A: &[Route] = &[
    ("2001:db8:b::1", "b", NH_B),
    ("2001:db8:b:7f:ffff:ffff:ffff:ffff", "b", NH_B),
    ("2001:db8:b:80::1", "c", NH_C),
    ("2001:db8:b:80:ffff::1", "c", NH_C),
    ("2001:db8:b:81::1", "b", NH_B),
    ("2001:db8:b:ffff::1", "b", NH_B),
];
const V4_FROM_B: &[Route] = &[
    ("10.1.2.3", "a", NH_A),
    ("198.18.128.9", "c", NH_C),
    ("203.0.113.1", "c", NH_C2),
];
const V6_FROM_B: &[Route] = &[
    ("2001:db8:a::99", "a", NH_A),
    ("2001:db8:b:80::2", "c", NH_C),
];

#[derive(Debug)]
enum Verdict {
    Out { port: &'static str, frame: Vec<u8> },
    Drop(&'static str),
}

#[derive(Debug)]
struct Case {
    frame: Vec<u8>,
    verdict: Verdict,
}

fn input_frame_v4(input: &str, ip: &Ipv4, trailer: &[u8]) -> Frame {
    Frame::ipv4(port_mac(input), mac(PEER), ip).with_trailer(trailer)
}

fn input_frame_v6(input: &str, ip: &Ipv6, trailer: &[u8]) -> Frame {
    Frame::ipv6(port_mac(input), mac(PEER), ip).with_trailer(trailer)
}

/// A valid IPv4 datagram entering on `input`, expected on `out` via `nh`.
fn fwd4(input: &str, ip: &Ipv4, trailer: &[u8], (_, out, nh): Route) -> Case {
    let frame = input_frame_v4(input, ip, trailer).bytes();
    let expected = Frame::ipv4(mac(nh), port_mac(out), &ip.forwarded())
        .unpadded()
        .bytes();
    Case {
        frame,
        verdict: Verdict::Out {
            port: out,
            frame: expected,
        },
    }
}

fn fwd6(input: &str, ip: &Ipv6, trailer: &[u8], (_, out, nh): Route) -> Case {
    let frame = input_frame_v6(input, ip, trailer).bytes();
    let expected = Frame::ipv6(mac(nh), port_mac(out), &ip.forwarded())
        .unpadded()
        .bytes();
    Case {
        frame,
        verdict: Verdict::Out {
            port: out,
            frame: expected,
        },
    }
}

fn drop(frame: Vec<u8>, reason: &'static str) -> Case {
    Case {
        frame,
        verdict: Verdict::Drop(reason),
    }
}

fn routes_toml(routes: &[Route]) -> String {
    let mut t = String::from("[forward]\nmode = \"l3\"\n");
    for (prefix, port, nh) in routes {
        t.push_str(&format!(
            "\n[[forward.routes]]\nprefix = \"{prefix}\"\nport = \"{port}\"\nnext_hop_mac = \"{nh}\"\n"
        ));
    }
    t
}

/// Runs napifwd with `ports`, `routes` and the cases fed to each input
/// port, then checks every output port, the drop counts by reason, the
/// per-port counters and the conservation law.
fn run_l3(name: &str, ports: &[Port], routes: &[Route], inputs: &[(&str, Vec<Case>)]) -> Replay {
    run_l3_on(Workers::One, name, ports, routes, inputs)
}

/// Where the forwarding happens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workers {
    /// One worker on lcore 1: every output port keeps the input order.
    One,
    /// Two workers sharing CPU 1 with RPS on: each packet of the cases is
    /// its own flow, so only "exactly once, on the right port, with the
    /// right bytes" can be checked, not the order between packets.
    TwoWithRps,
}

fn run_l3_on(
    workers: Workers,
    name: &str,
    ports: &[Port],
    routes: &[Route],
    inputs: &[(&str, Vec<Case>)],
) -> Replay {
    let mut s = PcapSetup::new(name);
    for p in ports {
        let frames: Vec<Vec<u8>> = inputs
            .iter()
            .filter(|(n, _)| *n == p.name)
            .flat_map(|(_, cases)| cases.iter().map(|c| c.frame.clone()))
            .collect();
        let port = s.port(p.name, mac(p.mac), &frames);
        port.mtu = p.mtu;
        if workers == Workers::TwoWithRps {
            port.tx_queues = 2;
        }
    }
    s.extra = routes_toml(routes);
    if workers == Workers::TwoWithRps {
        s.eal = eal_section_two_workers();
        s.workers = vec![1, 2];
        s.extra = format!("[rps]\nenabled = true\n\n{}", s.extra);
    }
    // What each input frame should become, for whoever reads a failed run's
    // kept temp dir.
    let mut plan = String::new();
    for (port, cases) in inputs {
        for (i, c) in cases.iter().enumerate() {
            let verdict = match &c.verdict {
                Verdict::Out { port, .. } => format!("out on {port}"),
                Verdict::Drop(reason) => format!("drop {reason}"),
            };
            plan.push_str(&format!("{port}[{i}] {verdict}: {}\n", hex(&c.frame)));
        }
    }
    std::fs::write(s.dir.join("expected.txt"), plan).expect("write expected.txt");
    let r = s.replay();

    let mut want_drops: BTreeMap<&str, u64> = BTreeMap::new();
    let mut want_tx = 0u64;
    for (_, cases) in inputs {
        for c in cases {
            match c.verdict {
                Verdict::Drop(reason) => *want_drops.entry(reason).or_default() += 1,
                Verdict::Out { .. } => want_tx += 1,
            }
        }
    }

    for p in ports {
        let streams: Vec<Vec<Vec<u8>>> = inputs
            .iter()
            .map(|(_, cases)| {
                cases
                    .iter()
                    .filter_map(|c| match &c.verdict {
                        Verdict::Out { port, frame } if *port == p.name => Some(frame.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        if workers == Workers::One {
            let refs: Vec<&[Vec<u8>]> = streams.iter().map(Vec::as_slice).collect();
            assert_interleaving(p.name, &s.output(p.name), &refs);
        } else {
            let singles: Vec<Vec<Vec<u8>>> =
                streams.concat().into_iter().map(|f| vec![f]).collect();
            assert_streams_split_by_queue(p.name, &s.output_by_queue(p.name), &singles);
        }
        let n_out: usize = streams.iter().map(Vec::len).sum();
        let n_in: usize = inputs
            .iter()
            .filter(|(n, _)| *n == p.name)
            .map(|(_, c)| c.len())
            .sum();
        assert_eq!(
            r.stats.port(p.name, "tx_packets"),
            n_out as u64,
            "ports.{}.tx_packets",
            p.name
        );
        assert_eq!(
            r.stats.port(p.name, "rx_packets"),
            n_in as u64,
            "ports.{}.rx_packets",
            p.name
        );
    }

    let want: Vec<(&str, u64)> = want_drops.into_iter().collect();
    r.stats.assert_drops(&want);
    let n_in: usize = inputs.iter().map(|(_, c)| c.len()).sum();
    assert_eq!(
        r.stats.total("rx_packets"),
        n_in as u64,
        "totals.rx_packets"
    );
    assert_eq!(r.stats.total("tx_packets"), want_tx, "totals.tx_packets");
    r.stats.assert_balanced();
    let names: Vec<&str> = ports.iter().map(|p| p.name).collect();
    r.stats.assert_ports_consistent(&names);
    r.stats.assert_no_mbuf_leak();
    match workers {
        Workers::One => r.stats.assert_workers(&[1]),
        Workers::TwoWithRps => r.stats.assert_workers(&[1, 2]),
    }
    r
}

/// `n` valid packets entering on `input`: IPv4 and IPv6, UDP/TCP/ICMP,
/// sizes from an empty payload (padded on input, trimmed on output) up to
/// 1500-byte datagrams, TTLs from 2 to 255, some fragments, some frames
/// with junk after the IP datagram. `stream` makes every frame unique.
fn valid_cases(input: &str, stream: u32, n: u32, v4: &[Route], v6: &[Route]) -> Vec<Case> {
    const DATA_LEN: [usize; 12] = [0, 1, 6, 18, 19, 40, 100, 333, 512, 1000, 1200, 1400];
    const TTL: [u8; 5] = [2, 3, 64, 128, 255];
    let mut cases = Vec::new();
    for i in 0..n {
        let seed = stream * 100_000 + i;
        let r = filler(seed, 4);
        let data_len = DATA_LEN[(r[0] as usize) % DATA_LEN.len()];
        let data = {
            let mut d = seed.to_be_bytes().to_vec();
            d.extend_from_slice(&filler(seed, data_len));
            d.truncate(data_len.max(4));
            d
        };
        let ttl = if i % 6 == 5 {
            2 + r[1] % 254
        } else {
            TTL[(i as usize) % TTL.len()]
        };
        let trailer = if i % 11 == 5 {
            filler(seed + 1, 1 + (i as usize % 8))
        } else {
            Vec::new()
        };
        let (sport, dport) = (1024 + (i % 5000) as u16, 53 + (i % 7) as u16);
        if i % 5 == 1 || i % 5 == 3 {
            let route = v6[(r[2] as usize) % v6.len()];
            let (src, dst) = ("2001:db8:ffff::1", route.0);
            let mut ip = match i % 3 {
                0 => Ipv6::udp(src, dst, sport, dport, &data),
                1 => Ipv6::tcp(src, dst, sport, dport, seed, &data),
                _ => Ipv6::icmp_echo(src, dst, sport, i as u16, &data),
            };
            ip.hop_limit = ttl;
            ip.traffic_class = i as u8;
            cases.push(fwd6(input, &ip, &trailer, route));
        } else {
            let route = v4[(r[2] as usize) % v4.len()];
            let (src, dst) = ("192.0.2.10", route.0);
            let mut ip = match i % 3 {
                0 => Ipv4::udp(src, dst, sport, dport, &data),
                1 => Ipv4::tcp(src, dst, sport, dport, seed, &data),
                _ => Ipv4::icmp_echo(src, dst, sport, i as u16, &data),
            };
            ip.ttl = ttl;
            ip.tos = i as u8;
            ip.id = (stream << 12) as u16 ^ i as u16;
            if i % 13 == 7 {
                // A fragment (MF set, non-zero offset): routed like any datagram.
                ip.flags_fragment = 0x2000 | (i % 100) as u16;
            }
            cases.push(fwd4(input, &ip, &trailer, route));
        }
    }
    cases
}

/// Datagrams at the edges of the size limits: the smallest (padded to 60 on
/// input, so the output is shorter than the input) and exactly the MTU.
fn boundary_cases(input: &str) -> Vec<Case> {
    let to_b4 = V4_FROM_A[0];
    let to_b6 = V6_FROM_A[0];
    let mut v = Vec::new();
    // 20 + 8 bytes: a 60-byte frame in, a 42-byte frame out.
    let tiny4 = Ipv4::udp("192.0.2.10", to_b4.0, 9, 9, &[]).with_id(0xee01);
    let c = fwd4(input, &tiny4, &[], to_b4);
    assert_eq!(c.frame.len(), 60);
    assert!(matches!(&c.verdict, Verdict::Out { frame, .. } if frame.len() == 42));
    v.push(c);
    // A bare IPv6 header (no next header): 54 bytes padded to 60 in, 54 out.
    let tiny6 = Ipv6::new("2001:db8:ffff::2", to_b6.0, PROTO_NO_NEXT, Vec::new());
    let c = fwd6(input, &tiny6, &[], to_b6);
    assert_eq!(c.frame.len(), 60);
    v.push(c);
    // Exactly 1500 bytes of IP: fits the default MTU.
    let max4 = Ipv4::udp("192.0.2.10", to_b4.0, 9, 9, &filler(1, 1500 - 28)).with_id(0xee02);
    assert_eq!(max4.bytes().len(), 1500);
    v.push(fwd4(input, &max4, &[], to_b4));
    let max6 = Ipv6::udp("2001:db8:ffff::2", to_b6.0, 9, 9, &filler(2, 1500 - 48));
    assert_eq!(max6.bytes().len(), 1500);
    v.push(fwd6(input, &max6, &[], to_b6));
    v
}

/// One case per malformed kind, each with exactly one defect, named by the
/// drop reason of the contract. Where RFC 1812's order of checks and the
/// contract's could disagree, the packet is built so that both give the
/// same reason (e.g. a checksum that is right over either header length).
fn malformed_cases(input: &str) -> Vec<Case> {
    let routable4 = V4_FROM_A[0].0;
    let routable6 = V6_FROM_A[0].0;
    let ok4 = |seed: u32| {
        Ipv4::udp("192.0.2.10", routable4, 7, 7, &filler(seed, 30)).with_id(0xdd00 ^ seed as u16)
    };
    let ok6 = |seed: u32| Ipv6::udp("2001:db8:ffff::3", routable6, 7, 7, &filler(seed, 30));
    let f4 = |ip: &Ipv4| input_frame_v4(input, ip, &[]);
    let f6 = |ip: &Ipv6| input_frame_v6(input, ip, &[]);
    let mut v = Vec::new();

    // --- truncated: the frame is shorter than the headers it claims.
    v.push(drop(filler(1, 10), "truncated")); // not even an Ethernet header
    for ethertype in [ETHERTYPE_IPV4, ETHERTYPE_IPV6] {
        // An Ethernet header and nothing else.
        let bare = Frame::new(port_mac(input), mac(PEER), ethertype, Vec::new()).unpadded();
        v.push(drop(bare.bytes(), "truncated"));
    }
    let mut short_ip = f4(&ok4(2)).unpadded().bytes();
    short_ip.truncate(ETH_HEADER_LEN + IPV4_HEADER_LEN - 1);
    v.push(drop(short_ip, "truncated"));
    let mut ihl6 = ok4(3);
    ihl6.ihl = Some(6); // claims 24 header bytes, 20 present
    ihl6.payload.clear();
    ihl6.total_length = Some(24);
    v.push(drop(f4(&ihl6).unpadded().bytes(), "truncated"));
    let mut long_total = ok4(4);
    long_total.total_length = Some(58 + 100);
    v.push(drop(f4(&long_total).bytes(), "truncated"));
    // 28 bytes of IP padded to 60: 46 bytes present, total length says 47.
    let mut into_padding = Ipv4::udp("192.0.2.10", routable4, 7, 7, &[]).with_id(0xdd05);
    into_padding.total_length = Some(47);
    let frame = f4(&into_padding).bytes();
    assert_eq!(frame.len(), 60);
    v.push(drop(frame, "truncated"));
    let mut short_v6 = f6(&ok6(6)).unpadded().bytes();
    short_v6.truncate(ETH_HEADER_LEN + IPV6_HEADER_LEN - 1);
    v.push(drop(short_v6, "truncated"));
    let mut long_payload6 = ok6(7);
    long_payload6.payload_length = Some(38 + 50);
    v.push(drop(f6(&long_payload6).bytes(), "truncated"));

    // --- bad_header (checksums correct).
    let mut version6 = ok4(8);
    version6.version = 6;
    v.push(drop(f4(&version6).bytes(), "bad_header"));
    // IHL 4 with destination 0.0.0.0: the checksum is right over 16 and over
    // 20 bytes, so only the IHL is wrong whichever is checked first.
    let mut ihl4 = ok4(9);
    ihl4.ihl = Some(4);
    ihl4.dst = [0; 4];
    let h = ihl4.header();
    assert!(ipv4_header_checksum_ok(&h[..16]) && ipv4_header_checksum_ok(&h[..20]));
    v.push(drop(f4(&ihl4).bytes(), "bad_header"));
    let mut total19 = ok4(10);
    total19.total_length = Some(19);
    v.push(drop(f4(&total19).bytes(), "bad_header"));
    let mut total_in_options = ok4(11);
    total_in_options.options = vec![1, 1, 1, 0];
    total_in_options.total_length = Some(22);
    v.push(drop(f4(&total_in_options).bytes(), "bad_header"));
    let mut v6_version4 = ok6(12);
    v6_version4.version = 4;
    v.push(drop(f6(&v6_version4).bytes(), "bad_header"));

    // --- bad_checksum
    let mut corrupt = ok4(13);
    corrupt.checksum = Checksum::Corrupt;
    v.push(drop(f4(&corrupt).bytes(), "bad_checksum"));
    let mut zero = ok4(14);
    assert_ne!(&zero.header()[10..12], &[0, 0]);
    zero.checksum = Checksum::Value(0);
    v.push(drop(f4(&zero).bytes(), "bad_checksum"));
    let mut corrupt_tcp = Ipv4::tcp("192.0.2.10", V4_FROM_A[3].0, 5, 5, 1, &filler(15, 200));
    corrupt_tcp.checksum = Checksum::Corrupt;
    v.push(drop(f4(&corrupt_tcp).bytes(), "bad_checksum"));

    // --- ttl_exceeded (routable, otherwise valid)
    v.push(drop(f4(&ok4(16).with_ttl(1)).bytes(), "ttl_exceeded"));
    v.push(drop(f4(&ok4(17).with_ttl(0)).bytes(), "ttl_exceeded"));
    v.push(drop(f6(&ok6(18).with_hop_limit(1)).bytes(), "ttl_exceeded"));
    v.push(drop(f6(&ok6(19).with_hop_limit(0)).bytes(), "ttl_exceeded"));

    // --- no_route (valid, just outside every prefix)
    for (i, dst) in ["192.0.2.1", "198.20.0.1", "198.17.255.255", "100.64.0.1"]
        .iter()
        .enumerate()
    {
        let ip = Ipv4::udp("192.0.2.10", dst, 7, 7, &filler(20 + i as u32, 30));
        v.push(drop(f4(&ip).bytes(), "no_route"));
    }
    for (i, dst) in ["2001:db8:c::1", "2001:db8:dead::1", "2001:db9:b::1"]
        .iter()
        .enumerate()
    {
        let ip = Ipv6::udp("2001:db8:ffff::3", dst, 7, 7, &filler(30 + i as u32, 30));
        v.push(drop(f6(&ip).bytes(), "no_route"));
    }

    // --- unsupported: not IP, or VLAN-tagged IP.
    v.push(drop(
        Frame::arp(mac(PEER), arp_request(mac(PEER), "192.0.2.10", "192.0.2.1")).bytes(),
        "unsupported",
    ));
    v.push(drop(f4(&ok4(40)).tagged(100).bytes(), "unsupported"));
    v.push(drop(
        f6(&ok6(41)).tagged(0x6000 | 200).bytes(),
        "unsupported",
    ));
    v.push(drop(
        Frame::new(mac("01:80:c2:00:00:0e"), mac(PEER), 0x88cc, filler(42, 40)).bytes(),
        "unsupported",
    ));
    // 802.3 length field with LLC instead of an ethertype.
    v.push(drop(
        Frame::new(port_mac(input), mac(PEER), 46, filler(43, 46)).bytes(),
        "unsupported",
    ));

    // --- mtu_exceeded: valid, routable, one byte (or more) over 1500.
    let big4 = Ipv4::udp("192.0.2.10", routable4, 7, 7, &filler(50, 1501 - 28));
    assert_eq!(big4.bytes().len(), 1501);
    v.push(drop(f4(&big4).bytes(), "mtu_exceeded"));
    let mut big4_no_df = Ipv4::udp("192.0.2.10", routable4, 7, 7, &filler(51, 1514 - 28));
    big4_no_df.flags_fragment = 0; // napifwd does not fragment either way
    v.push(drop(f4(&big4_no_df).bytes(), "mtu_exceeded"));
    let big6 = Ipv6::udp("2001:db8:ffff::3", routable6, 7, 7, &filler(52, 1501 - 48));
    assert_eq!(big6.bytes().len(), 1501);
    v.push(drop(f6(&big6).bytes(), "mtu_exceeded"));
    v
}

#[test]
fn mixed_traffic_is_routed_rewritten_and_dropped_by_reason() {
    let valid_a = valid_cases("a", 1, 300, V4_FROM_A, V6_FROM_A);
    let mut bad_a = malformed_cases("a").into_iter();
    let mut a = boundary_cases("a");
    // Interleave the malformed cases with the valid ones: a drop must not
    // disturb the packets around it.
    for (i, c) in valid_a.into_iter().enumerate() {
        a.push(c);
        if i % 8 == 3 {
            if let Some(bad) = bad_a.next() {
                a.push(bad);
            }
        }
    }
    a.extend(bad_a);
    // Port b feeds ports a and c at the same time.
    let b = valid_cases("b", 2, 100, V4_FROM_B, V6_FROM_B);

    let kinds: BTreeMap<&str, usize> = a.iter().fold(BTreeMap::new(), |mut m, c| {
        if let Verdict::Drop(r) = c.verdict {
            *m.entry(r).or_default() += 1;
        }
        m
    });
    for reason in [
        "truncated",
        "bad_header",
        "bad_checksum",
        "unsupported",
        "ttl_exceeded",
        "no_route",
        "mtu_exceeded",
    ] {
        assert!(kinds.contains_key(reason), "the mix lacks {reason}");
    }

    run_l3("l3_mixed", &PORTS, ROUTES, &[("a", a), ("b", b)]);
}

#[test]
fn mixed_traffic_through_two_workers_with_rps() {
    // The same verdicts when packets cross from the polling worker to the
    // other one through its backlog: drops are counted wherever they happen,
    // and mbufs freed by the worker that does not own their pool go home.
    let mut a = boundary_cases("a");
    a.extend(valid_cases("a", 3, 200, V4_FROM_A, V6_FROM_A));
    a.extend(malformed_cases("a"));
    let b = valid_cases("b", 4, 60, V4_FROM_B, V6_FROM_B);
    let r = run_l3_on(
        Workers::TwoWithRps,
        "l3_rps",
        &PORTS,
        ROUTES,
        &[("a", a), ("b", b)],
    );
    let steered: u64 = (0..2)
        .map(|w| r.stats.u64_at(&format!("/workers/{w}/rps_sent")))
        .sum();
    assert!(steered > 0, "rps.enabled = true but nothing was steered");
}

#[test]
fn each_port_enforces_its_own_configured_mtu() {
    let mut ports = PORTS;
    ports[2].mtu = Some(1280);
    let to_c4 = V4_FROM_A[3];
    let to_c6 = V6_FROM_A[2];
    let to_b4 = V4_FROM_A[0];
    let to_b6 = V6_FROM_A[0];
    let v4 = |dst: &str, len: usize, seed: u32| {
        Ipv4::udp("192.0.2.10", dst, 7, 7, &filler(seed, len - 28)).with_id(seed as u16)
    };
    let v6 = |dst: &str, len: usize, seed: u32| {
        Ipv6::udp("2001:db8:ffff::4", dst, 7, 7, &filler(seed, len - 48))
    };
    let f4 = |ip: &Ipv4| input_frame_v4("a", ip, &[]).bytes();
    let f6 = |ip: &Ipv6| input_frame_v6("a", ip, &[]).bytes();
    let cases = vec![
        fwd4("a", &v4(to_c4.0, 1280, 1), &[], to_c4),
        drop(f4(&v4(to_c4.0, 1281, 2)), "mtu_exceeded"),
        fwd6("a", &v6(to_c6.0, 1280, 3), &[], to_c6),
        drop(f6(&v6(to_c6.0, 1281, 4)), "mtu_exceeded"),
        // Port b keeps the default 1500.
        fwd4("a", &v4(to_b4.0, 1400, 5), &[], to_b4),
        fwd6("a", &v6(to_b6.0, 1500, 6), &[], to_b6),
        drop(f4(&v4(to_c4.0, 1500, 7)), "mtu_exceeded"),
        fwd4("a", &v4(to_c4.0, 100, 8), &[], to_c4),
    ];
    run_l3("l3_mtu", &ports, ROUTES, &[("a", cases)]);
}

#[test]
fn default_and_host_routes_follow_longest_prefix() {
    const R: &[Route] = &[
        ("0.0.0.0/0", "b", NH_B),
        ("198.51.100.0/24", "c", NH_C2),
        ("198.51.100.7/32", "c", NH_C),
        ("::/0", "b", NH_B),
        ("2001:db8::/32", "c", NH_C2),
        ("2001:db8::7/128", "c", NH_C),
    ];
    let dests4: &[Route] = &[
        ("198.51.100.7", "c", NH_C),
        ("198.51.100.6", "c", NH_C2),
        ("198.51.100.8", "c", NH_C2),
        ("198.51.101.7", "b", NH_B),
        ("8.8.8.8", "b", NH_B),
        ("255.255.255.254", "b", NH_B),
    ];
    let dests6: &[Route] = &[
        ("2001:db8::7", "c", NH_C),
        ("2001:db8::6", "c", NH_C2),
        ("2001:db8:ffff::7", "c", NH_C2),
        ("2001:db9::7", "b", NH_B),
        ("fd00::1", "b", NH_B),
    ];
    let mut cases = Vec::new();
    for (i, d) in dests4.iter().enumerate() {
        let ip = Ipv4::udp("192.0.2.10", d.0, 7, 7, &filler(i as u32, 20)).with_id(i as u16);
        cases.push(fwd4("a", &ip, &[], *d));
    }
    for (i, d) in dests6.iter().enumerate() {
        let ip = Ipv6::udp("2001:db8:ffff::5", d.0, 7, 7, &filler(100 + i as u32, 20));
        cases.push(fwd6("a", &ip, &[], *d));
    }
    run_l3("l3_lpm", &PORTS, R, &[("a", cases)]);
}

/// A header for `dst` and `ttl` whose checksum field is `target`, found by
/// varying the IP identification (the checksum moves by one per id step).
fn ipv4_with_checksum(dst: &str, ttl: u8, target: u16) -> Ipv4 {
    let base = Ipv4::udp("192.0.2.10", dst, 7, 7, &filler(9, 16))
        .with_ttl(ttl)
        .with_id(0);
    let mut h = base.header();
    h[10..12].copy_from_slice(&[0, 0]);
    let s0 = u32::from(ones_complement_sum(&h, 0));
    let id = (0..=u16::MAX)
        .find(|&id| !ones_complement_sum(&[], s0 + u32::from(id)) == target)
        .unwrap_or_else(|| panic!("no IP id gives checksum {target:#06x}"));
    let ip = base.with_id(id);
    assert_eq!(ip.header()[10..12], target.to_be_bytes());
    ip
}

#[test]
fn ttl_decrement_checksum_corner_cases() {
    // RFC 1624: an incremental update must give what a full recomputation
    // gives. 0xfeff + 0x0100 is 0xffff, which must come out as 0x0000; sums
    // past 0xffff need the end-around carry.
    let to_b = V4_FROM_A[0];
    let mut cases = Vec::new();
    for (ttl, before, after) in [
        (64, 0xfeff, 0x0000),
        (64, 0xff80, 0x0081),
        (64, 0xfffe, 0x00ff),
        (64, 0x0000, 0x0100),
        (2, 0x1234, 0x1334),
        (255, 0xfeff, 0x0000),
        (255, 0x00ff, 0x01ff),
    ] {
        let ip = ipv4_with_checksum(to_b.0, ttl, before);
        let out = ip.forwarded().header();
        assert_eq!(
            out[10..12],
            u16::to_be_bytes(after),
            "test's own arithmetic"
        );
        cases.push(fwd4("a", &ip, &[], to_b));
    }
    run_l3("l3_checksum", &PORTS, ROUTES, &[("a", cases)]);
}

#[test]
fn ipv4_options_and_ipv6_extension_headers_pass_through() {
    // Options that ask nothing of a router (NOP, EOL, Router Alert) and an
    // IPv6 hop-by-hop header with only padding are forwarded as they are,
    // apart from TTL / hop limit and the checksum.
    let to_b4 = V4_FROM_A[0];
    let to_c4 = V4_FROM_A[3];
    let to_b6 = V6_FROM_A[0];
    let mut cases = Vec::new();
    for (i, opts) in [
        vec![1, 1, 1, 0],
        vec![148, 4, 0, 0, 1, 1, 1, 0],
        vec![1; 40],
    ]
    .into_iter()
    .enumerate()
    {
        let mut ip =
            Ipv4::udp("192.0.2.10", to_b4.0, 7, 7, &filler(i as u32, 10)).with_id(i as u16);
        ip.options = opts;
        cases.push(fwd4("a", &ip, &[], to_b4));
        let mut ip =
            Ipv4::icmp_echo("192.0.2.10", to_c4.0, 1, i as u16, &[]).with_id(0x100 + i as u16);
        ip.options = vec![1, 1, 1, 0];
        cases.push(fwd4("a", &ip, &filler(i as u32, 3), to_c4));
    }
    // Hop-by-hop options (next header 0) with a PadN option, then UDP.
    let udp = Ipv6::udp("2001:db8:ffff::6", to_b6.0, 7, 7, &filler(7, 12));
    let mut hbh = vec![PROTO_UDP, 0, 1, 4, 0, 0, 0, 0];
    hbh.extend_from_slice(&udp.payload);
    let ip = Ipv6::new("2001:db8:ffff::6", to_b6.0, 0, hbh);
    cases.push(fwd6("a", &ip, &[], to_b6));
    run_l3("l3_options", &PORTS, ROUTES, &[("a", cases)]);
}

#[test]
fn a_route_back_out_of_the_input_port_is_followed() {
    // RFC 1812 5.2.7.2: a router forwards a packet back out of the interface
    // it came in on (it may also send a redirect; napifwd sends nothing).
    let back4: Route = ("10.20.30.40", "a", NH_A);
    let back6: Route = ("2001:db8:a::40", "a", NH_A);
    let mut cases = Vec::new();
    for i in 0..3u32 {
        let ip = Ipv4::udp("192.0.2.10", back4.0, 7, 7, &filler(i, 40)).with_id(i as u16);
        cases.push(fwd4("a", &ip, &[], back4));
        let ip = Ipv6::udp("2001:db8:ffff::7", back6.0, 7, 7, &filler(10 + i, 40));
        cases.push(fwd6("a", &ip, &[], back6));
        let ip = Ipv4::udp("192.0.2.10", V4_FROM_A[0].0, 7, 7, &filler(20 + i, 40))
            .with_id(0x40 + i as u16);
        cases.push(fwd4("a", &ip, &[], V4_FROM_A[0]));
    }
    run_l3("l3_hairpin", &PORTS, ROUTES, &[("a", cases)]);
}

/// Ports a and b take 9000-byte datagrams; c keeps 1500.
fn jumbo_ports() -> [Port; 3] {
    let mut ports = PORTS;
    ports[0].mtu = Some(9000);
    ports[1].mtu = Some(9000);
    ports
}

fn jumbo4(dst: &str, len: usize, seed: u32) -> Ipv4 {
    Ipv4::udp("192.0.2.10", dst, 7, 7, &filler(seed, len - 28)).with_id(seed as u16)
}

fn jumbo6(dst: &str, len: usize, seed: u32) -> Ipv6 {
    Ipv6::udp("2001:db8:ffff::8", dst, 7, 7, &filler(seed, len - 48))
}

#[test]
fn jumbo_frames_span_several_mbufs_and_are_routed_whole() {
    // net_pcap chains mbufs for a frame larger than one mbuf's data room:
    // the headers are in the first segment, the length is the chain's. A
    // chained frame must be routed whole, or dropped with every segment
    // freed (the leak check).
    let to_b4 = V4_FROM_A[0];
    let to_b6 = V6_FROM_A[0];
    let to_c4 = V4_FROM_A[3];
    let cases = vec![
        fwd4("a", &jumbo4(to_b4.0, 9000, 1), &[], to_b4),
        fwd4("a", &jumbo4(to_b4.0, 100, 2), &[], to_b4),
        fwd6("a", &jumbo6(to_b6.0, 8000, 3), &[], to_b6),
        fwd4("a", &jumbo4(to_b4.0, 2100, 4), &[], to_b4),
        drop(
            input_frame_v4("a", &jumbo4(to_b4.0, 9001, 5), &[]).bytes(),
            "mtu_exceeded",
        ),
        drop(
            input_frame_v4("a", &jumbo4(to_c4.0, 3000, 6), &[]).bytes(),
            "mtu_exceeded",
        ),
        drop(
            input_frame_v6("a", &jumbo6(to_b6.0, 9001, 7), &[]).bytes(),
            "mtu_exceeded",
        ),
        fwd4("a", &jumbo4(to_c4.0, 1500, 8), &[], to_c4),
    ];
    run_l3("l3_jumbo", &jumbo_ports(), ROUTES, &[("a", cases)]);
}

#[test]
fn bytes_after_the_ip_datagram_of_a_chained_frame_are_cut() {
    // Like the padding of a short frame, whatever follows the IP datagram
    // in a frame that spans several mbufs must not be forwarded.
    let to_b4 = V4_FROM_A[0];
    let to_b6 = V6_FROM_A[0];
    let cases = vec![
        fwd6("a", &jumbo6(to_b6.0, 8000, 3), &filler(3, 5), to_b6),
        fwd4("a", &jumbo4(to_b4.0, 2100, 4), &filler(4, 7), to_b4),
        fwd4("a", &jumbo4(to_b4.0, 9000, 5), &filler(5, 1), to_b4),
    ];
    run_l3("l3_jumbo_trailer", &jumbo_ports(), ROUTES, &[("a", cases)]);
}
