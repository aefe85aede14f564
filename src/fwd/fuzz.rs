//! The body of the `packet_parser` fuzz target (`fuzz/fuzz_targets/packet_parser.rs`).
//!
//! It lives in the library so that a stable-Rust proptest (below) runs the
//! same code in CI, where cargo-fuzz (nightly) does not run. Not part of the
//! API: it panics when an invariant between the parsers is broken, which is
//! what the fuzzer is looking for.

use super::flow::{frame_hash, FlowKey};
use super::l2::{self, Xconnect};
use super::l3::{self, L3Dst};
use crate::wire::{
    ethertype, l4, EthernetFrame, IcmpPacket, Ipv4Packet, Ipv6Packet, MacAddr, TcpPacket, UdpPacket,
};

const NEXT_HOP: MacAddr = MacAddr([0x02, 0x4e, 0x48, 0, 0, 0x01]);
const PORT_MAC: MacAddr = MacAddr([0x02, 0x50, 0x4f, 0, 0, 0x02]);

/// Runs `classify`, `rewrite`, the flow key, the L2 path and the L4 views on
/// arbitrary input and checks how their results relate.
///
/// The first byte is a control byte: bit 0 = `verify_csum`; bit 7 set =
/// `pkt_len` shorter than the frame by bits 1..=6 (a caller bug that must not
/// panic), clear = longer by 64 * bits 1..=6 (a multi-segment mbuf). The rest
/// is the frame.
#[doc(hidden)]
pub fn packet_parser(data: &[u8]) {
    let Some((&ctl, frame)) = data.split_first() else {
        return;
    };
    let verify = ctl & 1 != 0;
    let delta = usize::from((ctl >> 1) & 0x3f);
    let pkt_len = if ctl & 0x80 != 0 {
        frame.len().saturating_sub(delta)
    } else {
        frame.len() + delta * 64
    };

    if let Ok(p) = l3::classify(frame, pkt_len, verify) {
        check_accepted(frame, pkt_len, verify, &p);
    }

    match FlowKey::from_frame(frame) {
        Some(k) => {
            assert_eq!(k.hash(true), k.reversed().hash(true), "{k:?}");
            assert_eq!(k.reversed().reversed(), k);
            // RPS's fast path hashes what the key hashes.
            for symmetric in [false, true] {
                assert_eq!(frame_hash(frame, symmetric), k.hash(symmetric), "{k:?}");
            }
        }
        None => {
            assert!(frame.len() < 14);
            assert_eq!(frame_hash(frame, false), 0);
        }
    }

    let xc = Xconnect {
        output: 0,
        dst_mac: Some(NEXT_HOP),
        src_mac: None,
    };
    let mut out = frame.to_vec();
    l2::rewrite(&mut out, &xc);
    match l2::check(frame) {
        Ok(()) => {
            assert_eq!(&out[..6], &NEXT_HOP.0);
            assert_eq!(&out[6..], &frame[6..]);
        }
        Err(_) => assert_eq!(out, frame),
    }

    if let Ok(eth) = EthernetFrame::new_checked(frame) {
        let l3 = eth.payload();
        match eth.ethertype() {
            ethertype::IPV4 => {
                if let Ok(ip) = Ipv4Packet::new_checked(l3) {
                    let _ = (ip.src_addr(), ip.options(), ip.dscp(), ip.ecn(), ip.ident());
                    assert_eq!(
                        ip.payload().len() + ip.header_len(),
                        usize::from(ip.total_len())
                    );
                    exercise_l4(ip.protocol(), ip.payload());
                }
            }
            ethertype::IPV6 => {
                if let Ok(ip) = Ipv6Packet::new_checked(l3) {
                    let _ = (ip.traffic_class(), ip.flow_label(), ip.src_addr());
                    exercise_l4(ip.next_header(), ip.payload());
                }
            }
            _ => {}
        }
    }
    // The L4 views on raw bytes too: their own checks must protect them.
    exercise_l4(frame.first().copied().unwrap_or(0), frame);
}

/// Invariants of a packet `classify` accepted, and of its rewrite.
fn check_accepted(frame: &[u8], pkt_len: usize, verify: bool, p: &l3::L3Packet) {
    assert!(p.frame_len <= pkt_len);
    let eth = EthernetFrame::new_checked(frame).expect("accepted a frame without Ethernet header");
    let mut out = frame.to_vec();
    l3::rewrite(&mut out, &p.dst, NEXT_HOP, PORT_MAC);
    assert_eq!(&out[..6], &NEXT_HOP.0);
    assert_eq!(&out[6..12], &PORT_MAC.0);
    match p.dst {
        L3Dst::V4(dst) => {
            assert_eq!(eth.ethertype(), ethertype::IPV4);
            let ip = Ipv4Packet::new_unchecked(&frame[14..]);
            assert_eq!(ip.version(), 4);
            assert!(ip.header_len() >= 20 && 14 + ip.header_len() <= frame.len());
            assert_eq!(p.frame_len, 14 + usize::from(ip.total_len()));
            assert_eq!(ip.dst_u32(), dst);
            assert!(ip.ttl() > 1);
            let was_valid = ip.verify_checksum();
            assert!(was_valid || !verify);
            let new = Ipv4Packet::new_unchecked(&out[14..]);
            assert_eq!(new.ttl(), ip.ttl() - 1);
            assert_eq!(new.verify_checksum(), was_valid);
            if was_valid {
                // RFC 1624 eqn. 3 is bit-identical to a full recomputation.
                assert_eq!(new.checksum(), new.compute_checksum());
            }
            for i in 12..frame.len() {
                if i != 22 && i != 24 && i != 25 {
                    assert_eq!(out[i], frame[i], "byte {i}");
                }
            }
            if p.frame_len <= frame.len() {
                Ipv4Packet::new_checked(&frame[14..p.frame_len])
                    .expect("classify accepted what the view rejects");
            }
        }
        L3Dst::V6(dst) => {
            assert_eq!(eth.ethertype(), ethertype::IPV6);
            let ip = Ipv6Packet::new_unchecked(&frame[14..]);
            assert_eq!(ip.version(), 6);
            assert_eq!(p.frame_len, 54 + usize::from(ip.payload_len()));
            assert_eq!(ip.dst_bytes(), dst);
            assert!(ip.hop_limit() > 1);
            assert_eq!(out[21], ip.hop_limit() - 1);
            for i in 12..frame.len() {
                if i != 21 {
                    assert_eq!(out[i], frame[i], "byte {i}");
                }
            }
            if p.frame_len <= frame.len() {
                Ipv6Packet::new_checked(&frame[14..p.frame_len])
                    .expect("classify accepted what the view rejects");
            }
        }
    }
}

/// Calls every L4 accessor the views allow after their checks.
fn exercise_l4(proto: u8, l4: &[u8]) {
    if let Some((s, d)) = l4::ports(proto, l4) {
        assert_eq!(
            (s, d),
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]])
            )
        );
    }
    if let Ok(t) = TcpPacket::new_checked(l4) {
        assert!(t.header_len() >= 20 && t.header_len() <= l4.len());
        let _ = (
            t.src_port(),
            t.dst_port(),
            t.seq_number(),
            t.ack_number(),
            t.flags(),
        );
        let _ = (
            t.window_len(),
            t.checksum(),
            t.urgent_at(),
            t.options(),
            t.has_flags(0x12),
        );
    }
    if let Ok(u) = UdpPacket::new_checked(l4) {
        let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
    }
    if let Ok(i) = IcmpPacket::new_checked(l4) {
        let _ = (i.msg_type(), i.msg_code(), i.checksum(), i.rest_of_header());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{arb_ipv4, arb_ipv6, Ipv4Builder, Ipv6Builder};
    use proptest::prelude::*;

    /// The harness reaches the accepted-packet invariants (it is not vacuous).
    #[test]
    fn valid_packets_take_the_accepted_path() {
        for frame in [
            Ipv4Builder::default().build(),
            Ipv6Builder::default().build(),
        ] {
            for ctl in [0u8, 1, 0x7f] {
                let mut data = vec![ctl];
                data.extend(&frame);
                assert!(l3::classify(&frame, frame.len(), ctl & 1 != 0).is_ok());
                packet_parser(&data);
            }
        }
        packet_parser(&[]);
        packet_parser(&[0xff]);
    }

    proptest! {
        /// Stable-Rust smoke test of the fuzz target on arbitrary bytes.
        #[test]
        fn packet_parser_smoke_arbitrary(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            packet_parser(&data);
        }

        /// ... and on valid IPv4/IPv6 packets with a few bytes changed, which
        /// reach deeper than random bytes do.
        #[test]
        fn packet_parser_smoke_mutated(
            v4 in arb_ipv4(),
            v6 in arb_ipv6(),
            ctl in any::<u8>(),
            edits in proptest::collection::vec((0usize..100, any::<u8>()), 0..3),
            cut in 0usize..400,
        ) {
            for frame in [v4.build(), v6.build()] {
                let mut data = vec![ctl];
                data.extend(&frame);
                for &(at, v) in &edits {
                    if let Some(x) = data.get_mut(at + 1) {
                        *x = v;
                    }
                }
                data.truncate(cut.max(1));
                packet_parser(&data);
            }
        }
    }
}
