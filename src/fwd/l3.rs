//! L3 forwarding decisions: the RFC 1812 receive checks (`classify`) and the
//! forwarding rewrite (`rewrite`), as pure functions over a frame's bytes.
//!
//! The DPDK worker calls [`classify`] once per packet on the mbuf's first
//! segment, looks the destination up in its LPM, then calls [`rewrite`] and
//! trims the mbuf to [`L3Packet::frame_len`]. Neither function allocates,
//! logs or panics, whatever the bytes.
//!
//! # RFC 1812 checks done
//!
//! - 5.2.2 IP header validation: the frame holds at least a 20-byte header
//!   (`Truncated`); version is 4 and IHL >= 5 (`BadHeader`); total length >=
//!   header length (`BadHeader`); the link-layer packet holds the whole
//!   datagram (`Truncated`); the header checksum is right (`BadChecksum`),
//!   when `verify_csum` is set. The caller clears `verify_csum` when the NIC
//!   already verified the checksum (`RTE_MBUF_F_RX_IP_CKSUM_GOOD`) and drops
//!   `..._BAD` itself as `BadChecksum`, like DPDK's l3fwd does.
//! - 5.3.1 TTL: a packet whose TTL would reach 0 is not forwarded
//!   (`TtlExceeded`); forwarded packets leave with TTL - 1 and a checksum
//!   updated incrementally (RFC 1624), so a corrupt checksum stays corrupt.
//! - IPv6 (RFC 8200): version 6 (`BadHeader`), the 40-byte header and the
//!   payload length fit in the packet (`Truncated`), hop limit > 1
//!   (`TtlExceeded`).
//! - Link-layer padding (RFC 1812 5.2.1 / RFC 894): bytes past the IP total
//!   (or payload) length are Ethernet padding and are trimmed: `frame_len`
//!   says how much to forward.
//!
//! # Deliberately not done, and why
//!
//! - **No ICMP errors** (Time Exceeded, Destination Unreachable, Fragmentation
//!   Needed, Parameter Problem; RFC 1812 4.3, 5.3.1): napifwd owns no IP
//!   address to send them from, and building, rate-limiting and transmitting a
//!   new packet would put allocation and a second TX path on the hot path.
//!   Each such packet is dropped and counted under its reason instead.
//! - **IPv4 options are forwarded untouched** (RFC 1812 5.2.4 / 5.3.13 ask
//!   routers to process Record Route, Timestamp and source routes): option
//!   processing is per-packet variable-length work, source routing is a
//!   well-known attack vector that routers commonly disable, and DPDK's l3fwd
//!   does not process options either. The header checksum still covers them
//!   and stays correct.
//! - **IPv6 extension headers are not processed**: RFC 8200 section 4 lets
//!   intermediate nodes ignore Hop-by-Hop options unless configured to.
//! - **No address sanity ("martian") checks** (RFC 1812 5.3.7, 5.3.5: source
//!   0/8, 127/8, multicast or class E; limited or directed broadcast
//!   destinations; IPv6 link-local, RFC 4291 2.5.6): napifwd is a data plane
//!   whose forwarding policy is its route table, which has no route for what
//!   it should not forward (`NoRoute`), and whose overload filter drops by
//!   rule. Note that a default route (`0.0.0.0/0`) therefore does forward
//!   255.255.255.255, which a conforming router must not.
//! - **No link-layer destination check** (RFC 1812 5.3.4): ports typically run
//!   promiscuous; the frame's destination MAC is not compared with the port's.
//! - **No fragmentation**: an oversize packet is the caller's `MtuExceeded`
//!   drop, DF or not.
//! - **VLAN-tagged and non-IP frames** are `Unsupported` in l3 mode.
//! - **IPv6 jumbograms** (payload length 0 + Jumbo option) cannot arrive over
//!   Ethernet; a payload length of 0 is taken literally.

use crate::drop_reason::DropReason;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::ipv4::MIN_HEADER_LEN as IPV4_LEN;
use crate::wire::ipv6::HEADER_LEN as IPV6_LEN;
use crate::wire::{ethertype, EthernetFrame, Ipv4Packet, Ipv6Packet, MacAddr};

/// The destination address to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L3Dst {
    /// IPv4 destination, host byte order (what `rte_lpm_lookup` takes).
    V4(u32),
    /// IPv6 destination, network byte order (what `rte_lpm6_lookup` takes).
    V6([u8; 16]),
}

/// A packet that passed the receive checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L3Packet {
    /// Where it is going.
    pub dst: L3Dst,
    /// 14 + IP total length (IPv4) or 14 + 40 + payload length (IPv6): what to
    /// forward. Anything past it is Ethernet padding and must be trimmed.
    /// Always `<= pkt_len`.
    pub frame_len: usize,
}

/// RFC 1812 receive checks, no mutation (see the module documentation for
/// what is and is not checked).
///
/// - Ethernet: frame shorter than 14 bytes: `Truncated`; ethertype other than
///   IPv4 or IPv6 (incl. VLAN-tagged and ARP): `Unsupported`.
/// - IPv4, in this order: frame < 14 + 20: `Truncated`; version != 4 or
///   IHL < 5: `BadHeader`; total length < header length: `BadHeader`;
///   14 + total length > `pkt_len`: `Truncated`; header (with options) not
///   inside `frame`: `Truncated`; wrong checksum when `verify_csum`:
///   `BadChecksum`; TTL <= 1: `TtlExceeded`.
/// - IPv6, in this order: frame < 14 + 40: `Truncated`; version != 6:
///   `BadHeader`; 14 + 40 + payload length > `pkt_len`: `Truncated`; hop
///   limit <= 1: `TtlExceeded`.
///
/// `frame` is the contiguous first segment and `pkt_len` the whole packet's
/// length (`>= frame.len()` for multi-segment mbufs); the headers must be
/// inside `frame`. A `pkt_len` below `frame.len()` is a caller bug; it cannot
/// make this function panic, only drop more (the datagram must fit in
/// `pkt_len`).
#[inline]
pub fn classify(frame: &[u8], pkt_len: usize, verify_csum: bool) -> Result<L3Packet, DropReason> {
    Ok(match family(frame)? {
        Family::V4 => {
            let (dst, frame_len) = classify_v4(frame, pkt_len, verify_csum)?;
            L3Packet {
                dst: L3Dst::V4(dst),
                frame_len,
            }
        }
        Family::V6 => {
            let (dst, frame_len) = classify_v6(frame, pkt_len)?;
            L3Packet {
                dst: L3Dst::V6(dst),
                frame_len,
            }
        }
    })
}

/// The IP version a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Ethertype 0x0800.
    V4,
    /// Ethertype 0x86DD.
    V6,
}

/// [`classify`]'s first step, for callers that take each family its own
/// way: `Truncated` below 14 bytes, `Unsupported` for any ethertype but
/// IPv4 and IPv6. The worker routes with this, [`classify_v4`] /
/// [`classify_v6`] and [`rewrite_v4`] / [`rewrite_v6`] rather than
/// through [`L3Packet`]: the enum, whose IPv6 arm is a byte array, was
/// built and copied through the stack a byte at a time for every IPv4
/// packet too.
#[inline(always)]
pub fn family(frame: &[u8]) -> Result<Family, DropReason> {
    match EthernetFrame::new_checked(frame)?.ethertype() {
        ethertype::IPV4 => Ok(Family::V4),
        ethertype::IPV6 => Ok(Family::V6),
        _ => Err(DropReason::Unsupported),
    }
}

/// [`classify`] for a frame [`family`] found to be IPv4: the destination
/// (host byte order) and the frame length to forward.
#[inline(always)]
pub fn classify_v4(
    frame: &[u8],
    pkt_len: usize,
    verify_csum: bool,
) -> Result<(u32, usize), DropReason> {
    let Some(ip) = frame.get(ETH_LEN..) else {
        return Err(DropReason::Truncated);
    };
    if ip.len() < IPV4_LEN {
        return Err(DropReason::Truncated);
    }
    // From here the fixed 20-byte header is in `ip`.
    let ip = Ipv4Packet::new_unchecked(ip);
    if ip.version() != 4 || ip.ihl() < 5 {
        return Err(DropReason::BadHeader);
    }
    let header_len = ip.header_len();
    let total_len = usize::from(ip.total_len());
    if total_len < header_len {
        return Err(DropReason::BadHeader);
    }
    let frame_len = ETH_LEN + total_len;
    if frame_len > pkt_len {
        return Err(DropReason::Truncated);
    }
    if ETH_LEN + header_len > frame.len() {
        // Options past the first segment: never with DPDK's 2 KiB data rooms,
        // but the checksum needs the whole header in one slice.
        return Err(DropReason::Truncated);
    }
    if verify_csum && !ip.verify_checksum() {
        return Err(DropReason::BadChecksum);
    }
    if ip.ttl() <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    Ok((ip.dst_u32(), frame_len))
}

/// [`classify`] for a frame [`family`] found to be IPv6: the destination
/// (network byte order) and the frame length to forward.
#[inline(always)]
pub fn classify_v6(frame: &[u8], pkt_len: usize) -> Result<([u8; 16], usize), DropReason> {
    let Some(ip) = frame.get(ETH_LEN..) else {
        return Err(DropReason::Truncated);
    };
    if ip.len() < IPV6_LEN {
        return Err(DropReason::Truncated);
    }
    let ip = Ipv6Packet::new_unchecked(ip);
    if ip.version() != 6 {
        return Err(DropReason::BadHeader);
    }
    let frame_len = ETH_LEN + IPV6_LEN + usize::from(ip.payload_len());
    if frame_len > pkt_len {
        return Err(DropReason::Truncated);
    }
    if ip.hop_limit() <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    Ok((ip.dst_bytes(), frame_len))
}

/// The forwarding rewrite after a route lookup: decrements the IPv4 TTL
/// (incremental checksum, RFC 1624) or the IPv6 hop limit, and writes
/// destination MAC = `next_hop_mac`, source MAC = `port_mac`.
///
/// `dst` is the [`L3Packet::dst`] that [`classify`] returned for this frame:
/// only its family is used. On a frame `classify` accepted this cannot fail;
/// on a frame too short for the headers it writes nothing rather than panic.
/// A TTL or hop limit of 0 stays 0.
#[inline]
pub fn rewrite(frame: &mut [u8], dst: &L3Dst, next_hop_mac: MacAddr, port_mac: MacAddr) {
    match dst {
        L3Dst::V4(_) => rewrite_v4(frame, next_hop_mac, port_mac),
        L3Dst::V6(_) => rewrite_v6(frame, next_hop_mac, port_mac),
    }
}

/// [`rewrite`] of an IPv4 frame.
#[inline(always)]
pub fn rewrite_v4(frame: &mut [u8], next_hop_mac: MacAddr, port_mac: MacAddr) {
    let Some(ip) = frame.get_mut(ETH_LEN..ETH_LEN + IPV4_LEN) else {
        return;
    };
    Ipv4Packet::new_unchecked(ip).decrement_ttl();
    write_macs(frame, next_hop_mac, port_mac);
}

/// [`rewrite`] of an IPv6 frame.
#[inline(always)]
pub fn rewrite_v6(frame: &mut [u8], next_hop_mac: MacAddr, port_mac: MacAddr) {
    let Some(ip) = frame.get_mut(ETH_LEN..ETH_LEN + IPV6_LEN) else {
        return;
    };
    let mut ip = Ipv6Packet::new_unchecked(ip);
    let hops = ip.hop_limit().saturating_sub(1);
    ip.set_hop_limit(hops);
    write_macs(frame, next_hop_mac, port_mac);
}

#[inline(always)]
fn write_macs(frame: &mut [u8], next_hop_mac: MacAddr, port_mac: MacAddr) {
    if let Some(hdr) = frame.get_mut(..ETH_LEN) {
        let mut eth = EthernetFrame::new_unchecked(hdr);
        eth.set_dst_addr(next_hop_mac);
        eth.set_src_addr(port_mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{self, arb_ipv4, arb_ipv6, Ipv4Builder, Ipv6Builder};
    use crate::wire::{ip_proto, ipv4::Ipv4Packet};
    use proptest::prelude::*;

    const NH: MacAddr = MacAddr([0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]);
    const PORT: MacAddr = MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);

    fn classify_all(b: &[u8], verify: bool) -> Result<L3Packet, DropReason> {
        classify(b, b.len(), verify)
    }

    /// Edits the IPv4 header of a built frame and refreshes its checksum, so
    /// the edit is the only thing wrong with it.
    fn edit_v4(mut b: Vec<u8>, f: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
        let room = b.len() - 14;
        let mut ip = Ipv4Packet::new_unchecked(&mut b[14..]);
        f(&mut ip);
        if (20..=room).contains(&ip.header_len()) {
            ip.fill_checksum();
        }
        b
    }

    #[test]
    fn valid_ipv4_is_accepted() {
        let b = Ipv4Builder::default().build();
        let p = classify_all(&b, true).unwrap();
        assert_eq!(p.dst, L3Dst::V4(u32::from_be_bytes([198, 19, 0, 2])));
        assert_eq!(p.frame_len, b.len());
    }

    #[test]
    fn valid_ipv6_is_accepted() {
        let b = Ipv6Builder::default().build();
        let p = classify_all(&b, true).unwrap();
        assert_eq!(p.dst, L3Dst::V6(Ipv6Builder::default().dst));
        assert_eq!(p.frame_len, b.len());
    }

    #[test]
    fn padding_is_trimmed() {
        // A 60-byte minimum frame carrying a 28-byte IPv4 datagram (20 + 8-byte UDP).
        let b = Ipv4Builder {
            payload: testutil::udp(1, 2, &[]),
            pad_to: 60,
            ..Default::default()
        }
        .build();
        assert_eq!(b.len(), 60);
        let p = classify_all(&b, true).unwrap();
        assert_eq!(p.frame_len, 42);
        // The same for IPv6: 54 + 8 = 62 > 60, so pad a 0-payload packet.
        let b = Ipv6Builder {
            payload: Vec::new(),
            next_header: ip_proto::NONXT,
            pad_to: 64,
            ..Default::default()
        }
        .build();
        assert_eq!(classify_all(&b, true).unwrap().frame_len, 54);
    }

    #[test]
    fn multi_segment_packets_use_pkt_len() {
        let b = Ipv4Builder {
            payload: vec![0; 1400],
            ..Default::default()
        }
        .build();
        // Only the first 64 bytes are in the first segment.
        let p = classify(&b[..64], b.len(), true).unwrap();
        assert_eq!(p.frame_len, b.len());
        assert_eq!(
            classify(&b[..64], b.len() - 1, true),
            Err(DropReason::Truncated)
        );
        let b6 = Ipv6Builder {
            payload: vec![0; 1400],
            ..Default::default()
        }
        .build();
        assert_eq!(
            classify(&b6[..54], b6.len(), true).unwrap().frame_len,
            b6.len()
        );
        assert_eq!(
            classify(&b6[..54], b6.len() - 1, true),
            Err(DropReason::Truncated)
        );
    }

    #[test]
    fn ethernet_truncated() {
        let b = Ipv4Builder::default().build();
        for n in 0..14 {
            assert_eq!(
                classify_all(&b[..n], true),
                Err(DropReason::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn non_ip_is_unsupported() {
        for et in [
            ethertype::ARP,
            ethertype::VLAN,
            ethertype::QINQ,
            0x88cc,
            0x0000,
            0xffff,
        ] {
            assert_eq!(
                classify_all(&testutil::non_ip(et, 60), true),
                Err(DropReason::Unsupported),
                "{et:#x}"
            );
        }
        // A VLAN-tagged IPv4 packet is Unsupported, not parsed through the tag.
        let mut b = Ipv4Builder::default().build();
        b.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
        assert_eq!(classify_all(&b, true), Err(DropReason::Unsupported));
    }

    #[test]
    fn ipv4_shorter_than_20_bytes_is_truncated() {
        let b = Ipv4Builder::default().build();
        for n in 14..34 {
            assert_eq!(
                classify_all(&b[..n], true),
                Err(DropReason::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn ipv4_bad_version() {
        for v in [0, 6, 15] {
            let b = edit_v4(Ipv4Builder::default().build(), |ip| ip.set_version(v));
            assert_eq!(classify_all(&b, true), Err(DropReason::BadHeader), "{v}");
        }
    }

    #[test]
    fn ipv4_ihl_below_5() {
        for ihl in 0..5 {
            let mut b = Ipv4Builder::default().build();
            b[14] = 0x40 | ihl;
            assert_eq!(classify_all(&b, false), Err(DropReason::BadHeader), "{ihl}");
        }
    }

    #[test]
    fn ipv4_total_len_below_header_len() {
        let b = edit_v4(Ipv4Builder::default().build(), |ip| ip.set_total_len(19));
        assert_eq!(classify_all(&b, true), Err(DropReason::BadHeader));
        let b = Ipv4Builder {
            options: vec![1; 8],
            ..Default::default()
        }
        .build();
        let b = edit_v4(b, |ip| ip.set_total_len(27));
        assert_eq!(classify_all(&b, true), Err(DropReason::BadHeader));
        // total_len == header_len (no payload) is fine.
        let b = Ipv4Builder {
            payload: Vec::new(),
            ..Default::default()
        }
        .build();
        assert_eq!(classify_all(&b, true).unwrap().frame_len, 34);
    }

    #[test]
    fn ipv4_total_len_beyond_packet() {
        let b = Ipv4Builder::default().build();
        let len = b.len();
        let b = edit_v4(b, |ip| ip.set_total_len((len - 14 + 1) as u16));
        assert_eq!(classify_all(&b, true), Err(DropReason::Truncated));
        assert_eq!(classify(&b, len + 1, true).unwrap().frame_len, len + 1);
    }

    #[test]
    fn ipv4_options_outside_the_first_segment() {
        let b = Ipv4Builder {
            options: vec![1; 20],
            ..Default::default()
        }
        .build();
        assert!(classify_all(&b, true).is_ok());
        // The 40-byte header does not fit in a 50-byte first segment.
        assert_eq!(
            classify(&b[..50], b.len(), false),
            Err(DropReason::Truncated)
        );
        assert!(classify(&b[..54], b.len(), true).is_ok());
    }

    #[test]
    fn ipv4_bad_checksum() {
        let mut b = Ipv4Builder::default().build();
        b[24] ^= 0x01;
        assert_eq!(classify_all(&b, true), Err(DropReason::BadChecksum));
        assert!(
            classify_all(&b, false).is_ok(),
            "not checked without verify_csum"
        );
        // A checksum error in the options is caught too.
        let mut b = Ipv4Builder {
            options: vec![1, 1, 1, 1],
            ..Default::default()
        }
        .build();
        b[14 + 21] = 0;
        assert_eq!(classify_all(&b, true), Err(DropReason::BadChecksum));
    }

    #[test]
    fn ipv4_ttl_exceeded() {
        for ttl in [0, 1] {
            let b = Ipv4Builder {
                ttl,
                ..Default::default()
            }
            .build();
            assert_eq!(
                classify_all(&b, true),
                Err(DropReason::TtlExceeded),
                "{ttl}"
            );
        }
        let b = Ipv4Builder {
            ttl: 2,
            ..Default::default()
        }
        .build();
        assert!(classify_all(&b, true).is_ok());
    }

    #[test]
    fn ipv6_shorter_than_40_bytes_is_truncated() {
        let b = Ipv6Builder::default().build();
        for n in 14..54 {
            assert_eq!(
                classify_all(&b[..n], true),
                Err(DropReason::Truncated),
                "{n}"
            );
        }
    }

    #[test]
    fn ipv6_bad_version() {
        for v in [0, 4, 15] {
            let mut b = Ipv6Builder::default().build();
            b[14] = (b[14] & 0x0f) | (v << 4);
            assert_eq!(classify_all(&b, true), Err(DropReason::BadHeader), "{v}");
        }
    }

    #[test]
    fn ipv6_payload_len_beyond_packet() {
        let mut b = Ipv6Builder::default().build();
        let pl = (b.len() - 54 + 1) as u16;
        b[18..20].copy_from_slice(&pl.to_be_bytes());
        assert_eq!(classify_all(&b, true), Err(DropReason::Truncated));
    }

    #[test]
    fn ipv6_hop_limit_exceeded() {
        for hop_limit in [0, 1] {
            let b = Ipv6Builder {
                hop_limit,
                ..Default::default()
            }
            .build();
            assert_eq!(classify_all(&b, true), Err(DropReason::TtlExceeded));
        }
    }

    #[test]
    fn pkt_len_below_frame_len_does_not_panic() {
        let b = Ipv4Builder::default().build();
        for pkt_len in [0, 1, 14, 33, 34] {
            assert_eq!(classify(&b, pkt_len, true), Err(DropReason::Truncated));
        }
    }

    #[test]
    fn rewrite_ipv4_is_byte_exact() {
        let base = Ipv4Builder {
            ttl: 64,
            options: vec![0x94, 0x04, 0, 0], // Router Alert: forwarded untouched
            pad_to: 80,
            ..Default::default()
        };
        let mut b = base.build();
        let p = classify_all(&b, true).unwrap();
        rewrite(&mut b, &p.dst, NH, PORT);
        let want = Ipv4Builder {
            ttl: 63,
            dst_mac: NH,
            src_mac: PORT,
            ..base
        }
        .build();
        assert_eq!(b, want);
        // The documented TTL/checksum bytes changed as RFC 1624 says.
        assert!(Ipv4Packet::new_unchecked(&b[14..]).verify_checksum());
    }

    #[test]
    fn rewrite_ipv6_is_byte_exact() {
        let base = Ipv6Builder {
            hop_limit: 2,
            flow_label: 0xabcde,
            pad_to: 120,
            ..Default::default()
        };
        let mut b = base.build();
        let p = classify_all(&b, true).unwrap();
        rewrite(&mut b, &p.dst, NH, PORT);
        let want = Ipv6Builder {
            hop_limit: 1,
            dst_mac: NH,
            src_mac: PORT,
            ..base
        }
        .build();
        assert_eq!(b, want);
    }

    #[test]
    fn rewrite_on_short_frames_does_not_panic() {
        for n in 0..60 {
            let mut b = vec![0x45; n];
            rewrite(&mut b, &L3Dst::V4(0), NH, PORT);
            rewrite(&mut b, &L3Dst::V6([0; 16]), NH, PORT);
        }
        // Too short for the IP header: nothing is written, not even the MACs.
        let mut b = vec![0u8; 33];
        rewrite(&mut b, &L3Dst::V4(0), NH, PORT);
        assert_eq!(b, vec![0u8; 33]);
    }

    proptest! {
        #[test]
        fn classify_never_panics(
            b in proptest::collection::vec(any::<u8>(), 0..160),
            extra in 0usize..2000,
            shrink in 0usize..40,
            verify in any::<bool>(),
        ) {
            let _ = classify(&b, b.len() + extra, verify);
            let _ = classify(&b, b.len().saturating_sub(shrink), verify);
        }

        #[test]
        fn classify_never_panics_on_mutated_ip(
            v4 in arb_ipv4(),
            v6 in arb_ipv6(),
            edits in proptest::collection::vec((0usize..80, any::<u8>()), 1..4),
            cut in 0usize..400,
            verify in any::<bool>(),
        ) {
            for mut b in [v4.build(), v6.build()] {
                for &(at, v) in &edits {
                    if let Some(x) = b.get_mut(at) {
                        *x = v;
                    }
                }
                let len = b.len();
                b.truncate(cut);
                if let Ok(p) = classify(&b, len, verify) {
                    prop_assert!(p.frame_len <= len);
                    let mut c = b.clone();
                    rewrite(&mut c, &p.dst, NH, PORT);
                }
            }
        }

        #[test]
        fn valid_ipv4_rewrite_verifies_and_decrements(v4 in arb_ipv4()) {
            let mut b = v4.build();
            let orig = b.clone();
            let p = classify(&b, b.len(), true).unwrap();
            let total = 14 + 20 + v4.options.len().div_ceil(4) * 4 + v4.payload.len();
            prop_assert_eq!(p.frame_len, total);
            prop_assert_eq!(p.dst, L3Dst::V4(u32::from_be_bytes(v4.dst)));
            rewrite(&mut b, &p.dst, NH, PORT);
            let ip = Ipv4Packet::new_checked(&b[14..p.frame_len]).unwrap();
            prop_assert!(ip.verify_checksum());
            prop_assert_eq!(ip.ttl(), v4.ttl - 1);
            prop_assert_eq!(&b[..6], &NH.0[..]);
            prop_assert_eq!(&b[6..12], &PORT.0[..]);
            // Nothing else changed: only TTL (byte 22) and checksum (24..26).
            for i in 12..b.len() {
                if i != 22 && i != 24 && i != 25 {
                    prop_assert_eq!(b[i], orig[i], "byte {}", i);
                }
            }
        }

        #[test]
        fn valid_ipv6_rewrite_decrements(v6 in arb_ipv6()) {
            let mut b = v6.build();
            let orig = b.clone();
            let p = classify(&b, b.len(), true).unwrap();
            prop_assert_eq!(p.frame_len, 54 + v6.payload.len());
            rewrite(&mut b, &p.dst, NH, PORT);
            prop_assert_eq!(b[21], v6.hop_limit - 1);
            prop_assert_eq!(&b[..6], &NH.0[..]);
            prop_assert_eq!(&b[6..12], &PORT.0[..]);
            for i in 12..b.len() {
                if i != 21 {
                    prop_assert_eq!(b[i], orig[i], "byte {}", i);
                }
            }
        }

        /// `classify` agrees with the views: whatever it accepts, the IPv4
        /// view's full `check_len` accepts too.
        #[test]
        fn accepted_ipv4_passes_the_view_checks(
            v4 in arb_ipv4(),
            at in 14usize..60,
            v in any::<u8>(),
        ) {
            let mut b = v4.build();
            if at < b.len() {
                b[at] = v;
            }
            if let Ok(p) = classify(&b, b.len(), false) {
                if matches!(p.dst, L3Dst::V4(_)) {
                    let ip = Ipv4Packet::new_checked(&b[14..p.frame_len]);
                    prop_assert!(ip.is_ok());
                    let ip = ip.unwrap();
                    prop_assert_eq!(ip.version(), 4);
                    prop_assert!(ip.ttl() > 1);
                }
            }
        }
    }
}
