//! L2 cross-connect, pcap in / pcap out: napifwd runs on `net_pcap` ports,
//! the test writes each port's input pcap, and checks every output frame
//! byte for byte (only the MACs a cross-connect asks for may change), the
//! drop counters by reason, and the conservation law of the final stats.

mod common;

use common::packet::*;
use common::*;

const MAC_A: &str = "02:00:00:00:00:0a";
const MAC_B: &str = "02:00:00:00:00:0b";
const MAC_C: &str = "02:00:00:00:00:0c";
const PEER_1: &str = "02:00:00:00:01:01";
const PEER_2: &str = "02:00:00:00:01:02";

fn l2_rule(input: &str, output: &str, rewrites: &str) -> String {
    format!("\n[[forward.l2]]\ninput = \"{input}\"\noutput = \"{output}\"\n{rewrites}")
}

/// A mix of everything an L2 cross-connect must pass untouched: IPv4, IPv6,
/// ARP, VLAN-tagged, unknown ethertypes, broadcast and multicast, bad IP
/// headers (L2 does not look at them), a bare 14-byte header, frames with
/// and without padding, and a full-size frame. `tag` makes every frame of
/// one stream unique.
fn l2_mix(tag: u8, src: Mac, dst: Mac) -> Vec<Vec<u8>> {
    let t = u32::from(tag);
    let mut v = Vec::new();
    let udp = Ipv4::udp("10.0.0.1", "10.0.0.2", 1000 + t as u16, 53, &filler(t, 18));
    v.push(Frame::ipv4(dst, src, &udp).bytes());
    let tcp = Ipv4::tcp("10.0.0.1", "10.9.9.9", 40000, 443, t, &filler(t + 1, 700));
    v.push(Frame::ipv4(dst, src, &tcp).bytes());
    let v6 = Ipv6::udp(
        "2001:db8::1",
        "2001:db8::2",
        5353,
        5353,
        &filler(t + 2, 100),
    );
    v.push(Frame::ipv6(dst, src, &v6).bytes());
    v.push(Frame::arp(src, arp_request(src, "10.0.0.1", &format!("10.0.0.{tag}"))).bytes());
    let tagged = Ipv4::icmp_echo("10.0.0.1", "10.0.0.3", 7, t as u16, &filler(t + 3, 32));
    v.push(Frame::ipv4(dst, src, &tagged).tagged(0x2000 | 100).bytes());
    let mut bad = Ipv4::udp("10.0.0.1", "10.0.0.2", 1, 2, &filler(t + 4, 4));
    bad.checksum = Checksum::Corrupt;
    bad.ttl = 0;
    v.push(Frame::ipv4(dst, src, &bad).bytes());
    v.push(Frame::new(mac("01:00:5e:00:00:fb"), src, 0x88b5, filler(t + 5, 46)).bytes());
    v.push(
        Frame::new([0xff; 6], src, 0x88b6, filler(t + 6, 3))
            .unpadded()
            .bytes(),
    );
    // A bare Ethernet header: 14 bytes, not truncated.
    v.push(
        Frame::new(dst, src, 0x0800 + t as u16, Vec::new())
            .unpadded()
            .bytes(),
    );
    // An unpadded runt with a payload.
    v.push(
        Frame::new(dst, src, 0x88b5, filler(t + 7, 9))
            .unpadded()
            .bytes(),
    );
    // Maximum standard frame.
    v.push(Frame::new(dst, src, 0x88b5, filler(t + 8, 1500)).bytes());
    v
}

/// The frame with its MACs rewritten (None: unchanged).
fn rewrite(frame: &[u8], dst: Option<Mac>, src: Option<Mac>) -> Vec<u8> {
    let mut f = frame.to_vec();
    if let Some(d) = dst {
        f[0..6].copy_from_slice(&d);
    }
    if let Some(s) = src {
        f[6..12].copy_from_slice(&s);
    }
    f
}

#[test]
fn cross_connect_both_directions_is_byte_exact() {
    let mut s = PcapSetup::new("l2_both_directions");
    let a_in = l2_mix(1, mac(PEER_1), mac(PEER_2));
    let b_in = l2_mix(2, mac(PEER_2), mac(PEER_1));
    s.port("a", mac(MAC_A), &a_in);
    s.port("b", mac(MAC_B), &b_in);
    s.extra = format!(
        "[forward]\nmode = \"l2\"\n{}{}",
        l2_rule("a", "b", ""),
        l2_rule("b", "a", "")
    );
    let r = s.replay();

    assert_frames_eq("b", &s.output("b"), &a_in);
    assert_frames_eq("a", &s.output("a"), &b_in);

    let n = (a_in.len() + b_in.len()) as u64;
    assert_eq!(r.stats.total("rx_packets"), n);
    assert_eq!(r.stats.total("tx_packets"), n);
    assert_eq!(r.stats.port("a", "rx_packets"), a_in.len() as u64);
    assert_eq!(r.stats.port("b", "tx_packets"), a_in.len() as u64);
    assert_eq!(r.stats.port("b", "rx_packets"), b_in.len() as u64);
    assert_eq!(r.stats.port("a", "tx_packets"), b_in.len() as u64);
    r.stats.assert_drops(&[]);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
    r.stats.assert_workers(&[1]);
}

#[test]
fn rewrites_only_the_macs_asked_for() {
    // A ring a -> b -> c -> a, each hop with a different set of rewrites.
    let mut s = PcapSetup::new("l2_rewrites");
    let a_in = l2_mix(3, mac(PEER_1), mac(MAC_A));
    let b_in = l2_mix(4, mac(PEER_2), mac(MAC_B));
    let c_in = l2_mix(5, mac(PEER_1), mac(MAC_C));
    s.port("a", mac(MAC_A), &a_in);
    s.port("b", mac(MAC_B), &b_in);
    s.port("c", mac(MAC_C), &c_in);
    s.extra = format!(
        "[forward]\nmode = \"l2\"\n{}{}{}",
        // both rewrites
        l2_rule(
            "a",
            "b",
            &format!("dst_mac = \"{PEER_2}\"\nsrc_mac = \"port\"\n")
        ),
        // source only
        l2_rule("b", "c", "src_mac = \"port\"\n"),
        // destination only
        l2_rule("c", "a", &format!("dst_mac = \"{PEER_1}\"\n")),
    );
    let r = s.replay();

    let want_b: Vec<_> = a_in
        .iter()
        .map(|f| rewrite(f, Some(mac(PEER_2)), Some(mac(MAC_B))))
        .collect();
    let want_c: Vec<_> = b_in
        .iter()
        .map(|f| rewrite(f, None, Some(mac(MAC_C))))
        .collect();
    let want_a: Vec<_> = c_in
        .iter()
        .map(|f| rewrite(f, Some(mac(PEER_1)), None))
        .collect();
    assert_frames_eq("b", &s.output("b"), &want_b);
    assert_frames_eq("c", &s.output("c"), &want_c);
    assert_frames_eq("a", &s.output("a"), &want_a);

    r.stats.assert_drops(&[]);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b", "c"]);
    r.stats.assert_no_mbuf_leak();
}

#[test]
fn runts_are_truncated_and_unconnected_inputs_have_no_route() {
    let mut s = PcapSetup::new("l2_drops");
    let good = l2_mix(6, mac(PEER_1), mac(PEER_2));
    // Interleave runts (< 14 bytes) with good frames: the good ones must
    // still come out, in order.
    let runts: Vec<Vec<u8>> = vec![Vec::new(), vec![0xff], filler(9, 6), filler(10, 13)];
    let mut a_in = Vec::new();
    for (i, g) in good.iter().enumerate() {
        if let Some(r) = runts.get(i) {
            a_in.push(r.clone());
        }
        a_in.push(g.clone());
    }
    // Port c receives, but no cross-connect has c as its input.
    let c_in = l2_mix(7, mac(PEER_2), mac(MAC_C));
    s.port("a", mac(MAC_A), &a_in);
    s.port("b", mac(MAC_B), &[]);
    s.port("c", mac(MAC_C), &c_in);
    s.extra = format!("[forward]\nmode = \"l2\"\n{}", l2_rule("a", "b", ""));
    let r = s.replay();

    assert_frames_eq("b", &s.output("b"), &good);
    assert_frames_eq("a", &s.output("a"), &[]);
    assert_frames_eq("c", &s.output("c"), &[]);
    r.stats.assert_drops(&[
        ("truncated", runts.len() as u64),
        ("no_route", c_in.len() as u64),
    ]);
    assert_eq!(
        r.stats.total("rx_packets"),
        (a_in.len() + c_in.len()) as u64
    );
    assert_eq!(r.stats.total("tx_packets"), good.len() as u64);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b", "c"]);
    r.stats.assert_no_mbuf_leak();
}

/// `n` unique frames of pseudo-random sizes between 60 and 1514 bytes, each
/// carrying its sequence number and stream id.
fn numbered_frames(stream: u8, n: u32, src: Mac, dst: Mac) -> Vec<Vec<u8>> {
    let sizes = filler(u32::from(stream) * 7919, 2 * n as usize);
    (0..n)
        .map(|i| {
            let k = i as usize;
            let r = u16::from_be_bytes([sizes[2 * k], sizes[2 * k + 1]]) as usize;
            let len = 60 + r % (1514 - 60 + 1);
            let mut payload = vec![stream];
            payload.extend_from_slice(&i.to_be_bytes());
            payload.extend_from_slice(&filler(i ^ (u32::from(stream) << 24), len - 14 - 5));
            Frame::new(dst, src, 0x88b5, payload).bytes()
        })
        .collect()
}

#[test]
fn five_thousand_frames_arrive_complete_and_in_order() {
    let mut s = PcapSetup::new("l2_many");
    let a_in = numbered_frames(1, 5000, mac(PEER_1), mac(PEER_2));
    let b_in = numbered_frames(2, 1000, mac(PEER_2), mac(PEER_1));
    assert!(a_in.iter().any(|f| f.len() == 60) || a_in.iter().any(|f| f.len() < 100));
    assert!(a_in.iter().any(|f| f.len() > 1400));
    s.port("a", mac(MAC_A), &a_in);
    s.port("b", mac(MAC_B), &b_in);
    s.extra = format!(
        "[forward]\nmode = \"l2\"\n{}{}",
        l2_rule("a", "b", "src_mac = \"port\"\n"),
        l2_rule("b", "a", "")
    );
    let r = s.replay();

    let want_b: Vec<_> = a_in
        .iter()
        .map(|f| rewrite(f, None, Some(mac(MAC_B))))
        .collect();
    assert_frames_eq("b", &s.output("b"), &want_b);
    assert_frames_eq("a", &s.output("a"), &b_in);
    assert_eq!(r.stats.total("tx_packets"), 6000);
    r.stats.assert_drops(&[]);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
}

/// The one cross-connect a -> b, rewriting both MACs: the next hop
/// `PEER_1` as destination, b's own MAC as source.
fn a_to_b_rewriting_both() -> String {
    format!(
        "[forward]\nmode = \"l2\"\n{}",
        l2_rule(
            "a",
            "b",
            &format!("dst_mac = \"{PEER_1}\"\nsrc_mac = \"port\"\n")
        )
    )
}

/// `frame` as [`a_to_b_rewriting_both`] sends it out of b.
fn rewritten_for_b(frame: &[u8]) -> Vec<u8> {
    rewrite(frame, Some(mac(PEER_1)), Some(mac(MAC_B)))
}

#[test]
fn jumbo_frames_spanning_several_mbufs_are_forwarded_whole() {
    let mut s = PcapSetup::new("l2_jumbo");
    let a_in: Vec<Vec<u8>> = [2000usize, 60, 4000, 9014, 2049, 1514]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            Frame::new(mac(PEER_2), mac(PEER_1), 0x88b5, filler(i as u32, len - 14)).bytes()
        })
        .collect();
    s.port("a", mac(MAC_A), &a_in).mtu = Some(9000);
    s.port("b", mac(MAC_B), &[]).mtu = Some(9000);
    s.extra = a_to_b_rewriting_both();
    let r = s.replay();
    let want: Vec<_> = a_in.iter().map(|f| rewritten_for_b(f)).collect();
    assert_frames_eq("b", &s.output("b"), &want);
    r.stats.assert_drops(&[]);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
}

#[test]
fn frames_over_the_output_mtu_are_dropped_in_a_rewritten_stream() {
    // Output b's MTU is 1000: frames up to 1014 bytes (1000 + the 14-byte
    // header) leave rewritten, longer ones are mtu_exceeded, runts are
    // truncated; the rest keeps its order around the holes.
    let mut s = PcapSetup::new("l2_mtu");
    let lens = [60usize, 1014, 1015, 8, 1514, 500, 1013, 13, 1016, 64];
    let a_in: Vec<Vec<u8>> = lens
        .iter()
        .enumerate()
        .map(|(i, &len)| match len {
            0..=13 => filler(i as u32, len),
            _ => Frame::new(mac(PEER_2), mac(PEER_1), 0x88b5, filler(i as u32, len - 14))
                .unpadded()
                .bytes(),
        })
        .collect();
    s.port("a", mac(MAC_A), &a_in);
    s.port("b", mac(MAC_B), &[]).mtu = Some(1000);
    s.extra = a_to_b_rewriting_both();
    let r = s.replay();
    let want: Vec<_> = a_in
        .iter()
        .filter(|f| (14..=1014).contains(&f.len()))
        .map(|f| rewritten_for_b(f))
        .collect();
    assert_eq!(want.len(), 5);
    assert_frames_eq("b", &s.output("b"), &want);
    r.stats
        .assert_drops(&[("mtu_exceeded", 3), ("truncated", 2)]);
    assert_eq!(r.stats.total("tx_packets"), 5);
    r.stats.assert_balanced();
    r.stats.assert_ports_consistent(&["a", "b"]);
    r.stats.assert_no_mbuf_leak();
}
