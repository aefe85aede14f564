//! Flow keys and the software flow hash used for RPS steering.
//!
//! Like the kernel's flow dissector (`skb_get_hash`), a frame is reduced to
//! the fields that identify its flow, and those are hashed:
//!
//! - IPv4/IPv6 TCP, UDP and SCTP: the 5-tuple (addresses, protocol, ports);
//! - IP fragments (the first one included) and other protocols: the 3-tuple
//!   (addresses, protocol), so that every fragment of a datagram, which only
//!   the first carries ports for, is steered to the same worker;
//! - anything else (ARP, LLDP, IP headers that do not parse): the L2 key
//!   (source and destination MAC, ethertype).
//!
//! Up to two VLAN tags (802.1Q, 802.1ad) are skipped to reach the IP header;
//! the VLAN IDs are not part of the key. IPv6 Hop-by-Hop, Routing and
//! Destination Options headers are skipped (at most [`MAX_IPV6_EXT_HEADERS`]);
//! a Fragment header makes the packet a fragment, whose protocol is the
//! Fragment header's next header (the same in every fragment).
//!
//! The hash is a folded-multiply hash over the key's 32-bit words (see
//! `hash_words`): a fast, non-cryptographic hash with MurmurHash3's
//! finaliser for full avalanche, so that [`reciprocal_scale`] (which uses
//! the *high* bits) spreads flows evenly.
//! With `symmetric`, the two endpoints are ordered first (the kernel's
//! `__flow_hash_consistentify`), so both directions of a flow hash alike.

use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::{
    ethertype, ip_proto, ipv4, ipv6, l4, EthernetFrame, Ipv4Packet, Ipv6Packet, MacAddr,
};

/// The most IPv6 extension headers skipped looking for the upper layer.
pub const MAX_IPV6_EXT_HEADERS: usize = 4;

/// The seed [`FlowKey::hash`] uses. The kernel seeds its flow hash with a
/// random value at boot so that remote hosts cannot aim flows at one CPU;
/// callers that want that pass their own seed to [`FlowKey::hash_with_seed`].
pub const DEFAULT_SEED: u32 = 0x9e37_79b9;

/// What identifies a packet's flow. Addresses are in the byte order of the
/// header (`u32` values in host order); `ports` is `(source, destination)`,
/// `None` for 3-tuple keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowKey {
    /// IPv4 5-tuple (ports `Some`) or 3-tuple (ports `None`).
    V4 {
        /// Source address, host order.
        src: u32,
        /// Destination address, host order.
        dst: u32,
        /// IP protocol.
        proto: u8,
        /// (source port, destination port) for unfragmented TCP/UDP/SCTP.
        ports: Option<(u16, u16)>,
    },
    /// IPv6 5-tuple or 3-tuple.
    V6 {
        /// Source address bytes.
        src: [u8; 16],
        /// Destination address bytes.
        dst: [u8; 16],
        /// Upper-layer protocol (after skipped extension headers).
        proto: u8,
        /// (source port, destination port) for unfragmented TCP/UDP/SCTP.
        ports: Option<(u16, u16)>,
    },
    /// Non-IP frame: MAC addresses and the ethertype after any VLAN tags.
    L2 {
        /// Source MAC.
        src: MacAddr,
        /// Destination MAC.
        dst: MacAddr,
        /// Ethertype.
        ethertype: u16,
    },
}

/// Length of one VLAN tag.
const VLAN_LEN: usize = 4;

impl FlowKey {
    /// The flow key of a frame (the mbuf's first segment); `None` only when
    /// the frame is shorter than an Ethernet header. Never panics.
    #[inline]
    pub fn from_frame(frame: &[u8]) -> Option<FlowKey> {
        let eth = EthernetFrame::new_checked(frame).ok()?;
        let mut et = eth.ethertype();
        let mut off = ETH_LEN;
        for _ in 0..2 {
            if et != ethertype::VLAN && et != ethertype::QINQ {
                break;
            }
            let Some(tag) = frame.get(off..off + VLAN_LEN) else {
                break;
            };
            et = u16::from_be_bytes([tag[2], tag[3]]);
            off += VLAN_LEN;
        }
        let l3 = frame.get(off..).unwrap_or_default();
        let ip = match et {
            ethertype::IPV4 => v4_key(l3),
            ethertype::IPV6 => v6_key(l3),
            _ => None,
        };
        Some(ip.unwrap_or(FlowKey::L2 {
            src: eth.src_addr(),
            dst: eth.dst_addr(),
            ethertype: et,
        }))
    }

    /// The key of the opposite direction: endpoints swapped.
    #[inline]
    pub fn reversed(&self) -> FlowKey {
        match *self {
            FlowKey::V4 {
                src,
                dst,
                proto,
                ports,
            } => FlowKey::V4 {
                src: dst,
                dst: src,
                proto,
                ports: ports.map(|(s, d)| (d, s)),
            },
            FlowKey::V6 {
                src,
                dst,
                proto,
                ports,
            } => FlowKey::V6 {
                src: dst,
                dst: src,
                proto,
                ports: ports.map(|(s, d)| (d, s)),
            },
            FlowKey::L2 {
                src,
                dst,
                ethertype,
            } => FlowKey::L2 {
                src: dst,
                dst: src,
                ethertype,
            },
        }
    }

    /// The same key with its endpoints in a canonical order, (address, port)
    /// of the source <= that of the destination, so that a key and its
    /// reverse have the same canonical form.
    #[inline]
    fn canonical(&self) -> FlowKey {
        let swap = match self {
            FlowKey::V4 {
                src, dst, ports, ..
            } => (dst, ports.map(|p| p.1)) < (src, ports.map(|p| p.0)),
            FlowKey::V6 {
                src, dst, ports, ..
            } => (dst, ports.map(|p| p.1)) < (src, ports.map(|p| p.0)),
            FlowKey::L2 { src, dst, .. } => dst < src,
        };
        if swap {
            self.reversed()
        } else {
            *self
        }
    }

    /// The flow hash with [`DEFAULT_SEED`]. With `symmetric`, both directions
    /// of a flow get the same hash.
    #[inline]
    pub fn hash(&self, symmetric: bool) -> u32 {
        self.hash_with_seed(DEFAULT_SEED, symmetric)
    }

    /// The flow hash with a caller-chosen seed (e.g. random per process).
    #[inline]
    pub fn hash_with_seed(&self, seed: u32, symmetric: bool) -> u32 {
        let key = if symmetric { self.canonical() } else { *self };
        match key {
            FlowKey::V4 {
                src,
                dst,
                proto,
                ports,
            } => hash_words(v4_words(proto, src, dst, ports), seed),
            FlowKey::V6 {
                src,
                dst,
                proto,
                ports,
            } => {
                let w = |a: &[u8; 16], i: usize| {
                    u32::from_be_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
                };
                hash_words(
                    [
                        0x0600_0000 | has_ports_tag(ports) | u32::from(proto),
                        w(&src, 0),
                        w(&src, 4),
                        w(&src, 8),
                        w(&src, 12),
                        w(&dst, 0),
                        w(&dst, 4),
                        w(&dst, 8),
                        w(&dst, 12),
                        ports_word(ports),
                    ],
                    seed,
                )
            }
            FlowKey::L2 {
                src,
                dst,
                ethertype,
            } => {
                let (s, d) = (src.0, dst.0);
                hash_words(
                    [
                        0x0200_0000 | u32::from(ethertype),
                        u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
                        u32::from_be_bytes([s[4], s[5], d[0], d[1]]),
                        u32::from_be_bytes([d[2], d[3], d[4], d[5]]),
                    ],
                    seed,
                )
            }
        }
    }
}

/// The words an IPv4 key hashes. The first word tags the family (and
/// whether ports are present) so that keys of different kinds with equal
/// fields do not collide.
#[inline(always)]
fn v4_words(proto: u8, src: u32, dst: u32, ports: Option<(u16, u16)>) -> [u32; 4] {
    [
        0x0400_0000 | has_ports_tag(ports) | u32::from(proto),
        src,
        dst,
        ports_word(ports),
    ]
}

/// The tag bit of a key that has ports.
#[inline(always)]
fn has_ports_tag(ports: Option<(u16, u16)>) -> u32 {
    if ports.is_some() {
        0x0001_0000
    } else {
        0
    }
}

/// Source and destination port in one word (0 without ports).
#[inline(always)]
fn ports_word(ports: Option<(u16, u16)>) -> u32 {
    match ports {
        Some((s, d)) => (u32::from(s) << 16) | u32::from(d),
        None => 0,
    }
}

/// The IPv4 key, or `None` when the fixed header is not there or not IPv4.
#[inline]
fn v4_key(l3: &[u8]) -> Option<FlowKey> {
    if l3.len() < ipv4::MIN_HEADER_LEN {
        return None;
    }
    let ip = Ipv4Packet::new_unchecked(l3);
    if ip.version() != 4 {
        return None;
    }
    let proto = ip.protocol();
    let header_len = ip.header_len();
    let ports = if header_len >= ipv4::MIN_HEADER_LEN && !ip.is_fragment() {
        l3.get(header_len..).and_then(|rest| l4::ports(proto, rest))
    } else {
        None
    };
    Some(FlowKey::V4 {
        src: ip.src_u32(),
        dst: ip.dst_u32(),
        proto,
        ports,
    })
}

/// The flow hash of a frame: [`FlowKey::from_frame`] hashed with
/// [`FlowKey::hash`], 0 for a frame too short to have a key. RPS takes it
/// for every packet the NIC gave no RSS hash, so the common frame (untagged
/// IPv4 without options, not a fragment, TCP, UDP or SCTP) is hashed
/// straight from its bytes: parsing it into a key first made the hash cost
/// the RX worker ~47 cycles per packet, ~25 this way (TSC breakdown of the
/// RX worker's burst, map `[1, 2, 2]`, with MurmurHash3; ~16 per frame
/// since `hash_words` replaced it).
#[inline]
pub fn frame_hash(frame: &[u8], symmetric: bool) -> u32 {
    if let Some(h) = ipv4_ports_hash(frame, symmetric) {
        return h;
    }
    FlowKey::from_frame(frame).map_or(0, |k| k.hash(symmetric))
}

/// [`frame_hash`]'s fast path; `None` for any frame it does not cover.
/// Must give exactly what the key would (a proptest checks it).
#[inline(always)]
fn ipv4_ports_hash(frame: &[u8], symmetric: bool) -> Option<u32> {
    // Ethernet (14) + IPv4 without options (20) + both ports (4).
    let b: &[u8; ETH_LEN + ipv4::MIN_HEADER_LEN + 4] = frame
        .get(..ETH_LEN + ipv4::MIN_HEADER_LEN + 4)?
        .try_into()
        .ok()?;
    let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    // Version 4, IHL 5; flags and offset: neither more fragments nor an offset.
    if be16(12) != ethertype::IPV4 || b[14] != 0x45 || be16(20) & 0x3fff != 0 {
        return None;
    }
    let proto = b[23];
    if !ip_proto::has_ports(proto) {
        return None;
    }
    let (mut src, mut dst) = (be32(26), be32(30));
    let (mut sp, mut dp) = (be16(34), be16(36));
    // FlowKey::canonical's order, for this one kind of key.
    if symmetric && (dst, dp) < (src, sp) {
        (src, dst, sp, dp) = (dst, src, dp, sp);
    }
    Some(hash_words(
        v4_words(proto, src, dst, Some((sp, dp))),
        DEFAULT_SEED,
    ))
}

/// The IPv6 key, or `None` when the fixed header is not there or not IPv6.
#[inline]
fn v6_key(l3: &[u8]) -> Option<FlowKey> {
    if l3.len() < ipv6::HEADER_LEN {
        return None;
    }
    let ip = Ipv6Packet::new_unchecked(l3);
    if ip.version() != 6 {
        return None;
    }
    let mut proto = ip.next_header();
    let mut off = ipv6::HEADER_LEN;
    let mut fragment = false;
    for _ in 0..MAX_IPV6_EXT_HEADERS {
        match proto {
            ip_proto::HOPOPTS | ip_proto::ROUTING | ip_proto::DSTOPTS => {
                // Next header, then length in 8-octet units not counting the first 8.
                let Some(h) = l3.get(off..off + 2) else {
                    break;
                };
                proto = h[0];
                off += (usize::from(h[1]) + 1) * 8;
            }
            ip_proto::FRAGMENT => {
                let Some(&next) = l3.get(off) else {
                    break;
                };
                proto = next;
                fragment = true;
                // What follows a non-first fragment header is data: stop.
                break;
            }
            _ => break,
        }
    }
    let ports = if fragment {
        None
    } else {
        l3.get(off..).and_then(|rest| l4::ports(proto, rest))
    };
    Some(FlowKey::V6 {
        src: ip.src_bytes(),
        dst: ip.dst_bytes(),
        proto,
        ports,
    })
}

/// Maps a 32-bit hash onto `0..n` with a multiply and a shift (the kernel's
/// `reciprocal_scale`): uses the hash's high bits, no division.
#[inline]
pub const fn reciprocal_scale(hash: u32, n: u32) -> u32 {
    ((hash as u64 * n as u64) >> 32) as u32
}

/// The flow hash of `N` 32-bit words: each block of four words (two
/// 64-bit lanes, the last block padded with zeros) goes through one
/// folded 64 x 64 -> 128-bit multiply, chained through the previous
/// block's result; a 32-bit finaliser gives every output bit a dependence
/// on every input bit. An IPv4 key is one block: one multiply, where
/// MurmurHash3 (this hash until RPS's cost was measured) chained eight
/// through its four words: [`frame_hash`] went from ~25 to ~16 cycles per
/// frame (release build, 1024 different frames hashed in a loop).
///
/// Like any multiply hash it has inputs that collide by construction (a
/// lane equal to its mask makes the product zero); where they are depends
/// on the seed, which is why a caller worried about chosen flows passes a
/// random one.
#[inline(always)]
fn hash_words<const N: usize>(words: [u32; N], seed: u32) -> u32 {
    // Digits of pi, as nothing-up-my-sleeve masks; the seed is spread
    // over all 64 bits of both (odd multipliers: distinct seeds, distinct
    // masks), so the colliding inputs move with it. For a constant seed
    // the compiler folds all of this away.
    const PI_A: u64 = 0x243f_6a88_85a3_08d3;
    const PI_B: u64 = 0x1319_8a2e_0370_7344;
    let s = u64::from(seed);
    let mut acc = PI_A ^ s.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mask_b = PI_B ^ s.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    let w = |i: usize| words.get(i).copied().map_or(0, u64::from);
    for i in (0..N).step_by(4) {
        let a = (w(i) << 32) | w(i + 1);
        let b = (w(i + 2) << 32) | w(i + 3);
        acc = folded_mul(a ^ acc, b ^ mask_b);
    }
    fmix32((acc >> 32) as u32 ^ acc as u32)
}

/// The 128-bit product of `a` and `b`, its halves xored.
#[inline(always)]
fn folded_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p >> 64) as u64 ^ p as u64
}

/// MurmurHash3's finaliser: every input bit affects every output bit.
#[inline(always)]
const fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::testutil::{self, Ipv4Builder, Ipv6Builder};
    use proptest::prelude::*;

    #[test]
    fn reciprocal_scale_uses_high_bits() {
        assert_eq!(reciprocal_scale(0, 7), 0);
        assert_eq!(reciprocal_scale(u32::MAX, 7), 6);
        assert_eq!(reciprocal_scale(0x8000_0000, 2), 1);
        assert_eq!(reciprocal_scale(0x7fff_ffff, 2), 0);
        assert_eq!(reciprocal_scale(12345, 0), 0);
        assert_eq!(reciprocal_scale(u32::MAX, 1), 0);
    }

    fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, ports: Option<(u16, u16)>) -> FlowKey {
        FlowKey::V4 {
            src: u32::from_be_bytes(src),
            dst: u32::from_be_bytes(dst),
            proto,
            ports,
        }
    }

    #[test]
    fn ipv4_five_tuples() {
        let b = Ipv4Builder {
            proto: ip_proto::TCP,
            payload: testutil::tcp(1234, 80, 0x02),
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&b.build()),
            Some(v4(b.src, b.dst, ip_proto::TCP, Some((1234, 80))))
        );
        let u = Ipv4Builder::default();
        assert_eq!(
            FlowKey::from_frame(&u.build()),
            Some(v4(u.src, u.dst, ip_proto::UDP, Some((1024, 2048))))
        );
        let s = Ipv4Builder {
            proto: ip_proto::SCTP,
            payload: vec![0x0b, 0xb8, 0x0b, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&s.build()),
            Some(v4(s.src, s.dst, ip_proto::SCTP, Some((3000, 3001))))
        );
        // Ports are read after the options.
        let o = Ipv4Builder {
            options: vec![1; 12],
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&o.build()),
            Some(v4(o.src, o.dst, ip_proto::UDP, Some((1024, 2048))))
        );
    }

    #[test]
    fn ipv4_three_tuples() {
        let i = Ipv4Builder {
            proto: ip_proto::ICMP,
            payload: testutil::icmp(8, 0),
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&i.build()),
            Some(v4(i.src, i.dst, ip_proto::ICMP, None))
        );
        // Every fragment of a datagram has the same key: first (MF), middle, last.
        let keys: Vec<_> = [0x2000u16, 0x2000 | 185, 370]
            .iter()
            .map(|&ff| {
                FlowKey::from_frame(
                    &Ipv4Builder {
                        flags_frag: ff,
                        ..Default::default()
                    }
                    .build(),
                )
                .unwrap()
            })
            .collect();
        assert_eq!(keys[0], v4(i.src, i.dst, ip_proto::UDP, None));
        assert!(keys.iter().all(|k| *k == keys[0]));
        // TCP with the ports cut off by the end of the segment.
        let b = Ipv4Builder {
            proto: ip_proto::TCP,
            payload: testutil::tcp(1, 2, 0),
            ..Default::default()
        }
        .build();
        assert_eq!(
            FlowKey::from_frame(&b[..34 + 3]),
            Some(v4(i.src, i.dst, ip_proto::TCP, None))
        );
        // A bad IHL still gives the 3-tuple from the fixed header.
        let mut b = Ipv4Builder::default().build();
        b[14] = 0x43;
        assert_eq!(
            FlowKey::from_frame(&b),
            Some(v4(i.src, i.dst, ip_proto::UDP, None))
        );
    }

    #[test]
    fn ipv6_keys() {
        let t = Ipv6Builder {
            next_header: ip_proto::TCP,
            payload: testutil::tcp(443, 50000, 0x10),
            ..Default::default()
        };
        let want = |proto, ports| FlowKey::V6 {
            src: t.src,
            dst: t.dst,
            proto,
            ports,
        };
        assert_eq!(
            FlowKey::from_frame(&t.build()),
            Some(want(ip_proto::TCP, Some((443, 50000))))
        );
        // Hop-by-hop (8 bytes) + destination options (16 bytes), then UDP.
        let mut payload = vec![ip_proto::DSTOPTS, 0, 1, 4, 0, 0, 0, 0];
        payload.extend([ip_proto::UDP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        payload.extend(testutil::udp(53, 5353, &[]));
        let e = Ipv6Builder {
            next_header: ip_proto::HOPOPTS,
            payload,
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&e.build()),
            Some(want(ip_proto::UDP, Some((53, 5353))))
        );
        // Fragments: first (offset 0, M=1) and a later one have the same key.
        let frag = |offset_m: u16| {
            let mut payload = vec![ip_proto::UDP, 0];
            payload.extend(offset_m.to_be_bytes());
            payload.extend([0, 0, 0, 7]);
            payload.extend(testutil::udp(53, 5353, &[0; 8]));
            FlowKey::from_frame(
                &Ipv6Builder {
                    next_header: ip_proto::FRAGMENT,
                    payload,
                    ..Default::default()
                }
                .build(),
            )
        };
        assert_eq!(frag(0x0001), Some(want(ip_proto::UDP, None)));
        assert_eq!(frag(0x0001), frag(0x00b8));
        // ICMPv6: 3-tuple.
        let i = Ipv6Builder {
            next_header: ip_proto::ICMPV6,
            payload: testutil::icmp(128, 0),
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&i.build()),
            Some(want(ip_proto::ICMPV6, None))
        );
        // An extension header chain longer than the limit stops at the limit.
        let mut payload = Vec::new();
        for _ in 0..MAX_IPV6_EXT_HEADERS {
            payload.extend([ip_proto::DSTOPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        payload.extend(testutil::udp(1, 2, &[]));
        let l = Ipv6Builder {
            next_header: ip_proto::DSTOPTS,
            payload,
            ..Default::default()
        };
        assert_eq!(
            FlowKey::from_frame(&l.build()),
            Some(want(ip_proto::DSTOPTS, None))
        );
        // A truncated extension header: the key names where the walk stopped.
        let mut b = e.build();
        b.truncate(54 + 1);
        assert_eq!(FlowKey::from_frame(&b), Some(want(ip_proto::HOPOPTS, None)));
    }

    #[test]
    fn non_ip_and_broken_ip_use_the_l2_key() {
        let l2 = |et| FlowKey::L2 {
            src: testutil::SRC_MAC,
            dst: testutil::DST_MAC,
            ethertype: et,
        };
        assert_eq!(
            FlowKey::from_frame(&testutil::non_ip(ethertype::ARP, 60)),
            Some(l2(ethertype::ARP))
        );
        let b = Ipv4Builder::default().build();
        assert_eq!(FlowKey::from_frame(&b[..33]), Some(l2(ethertype::IPV4)));
        let mut b = Ipv4Builder::default().build();
        b[14] = 0x65;
        assert_eq!(FlowKey::from_frame(&b), Some(l2(ethertype::IPV4)));
        let b = Ipv6Builder::default().build();
        assert_eq!(FlowKey::from_frame(&b[..53]), Some(l2(ethertype::IPV6)));
        assert_eq!(FlowKey::from_frame(&b[..14]), Some(l2(ethertype::IPV6)));
        assert_eq!(FlowKey::from_frame(&b[..13]), None);
        assert_eq!(FlowKey::from_frame(&[]), None);
    }

    #[test]
    fn vlan_tags_are_skipped() {
        let plain = Ipv4Builder::default().build();
        let want = FlowKey::from_frame(&plain);
        let mut one = plain.clone();
        one.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
        assert_eq!(FlowKey::from_frame(&one), want);
        let mut two = plain.clone();
        two.splice(12..12, [0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x64]);
        assert_eq!(FlowKey::from_frame(&two), want);
        // A truncated tag: L2 key with the TPID as ethertype.
        assert_eq!(
            FlowKey::from_frame(&one[..16]),
            Some(FlowKey::L2 {
                src: testutil::SRC_MAC,
                dst: testutil::DST_MAC,
                ethertype: ethertype::VLAN
            })
        );
    }

    /// SplitMix64: a deterministic generator for the statistical tests.
    struct SplitMix(u64);
    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    /// Pearson's chi-squared statistic of the bucket counts of `hashes`
    /// over `n` buckets chosen by `reciprocal_scale`.
    fn chi2(hashes: &[u32], n: u32) -> f64 {
        let mut counts = vec![0u64; n as usize];
        for &h in hashes {
            counts[reciprocal_scale(h, n) as usize] += 1;
        }
        let e = hashes.len() as f64 / f64::from(n);
        counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
    }

    /// Checks that `hashes` are close to uniform over 2..=16 buckets: the
    /// chi-squared statistic (n - 1 degrees of freedom, at most 15) stays
    /// under 45, which a uniform source exceeds with probability < 1e-4, and
    /// no bucket is more than 5% off its share.
    fn assert_uniform(what: &str, hashes: &[u32]) {
        for n in 2..=16u32 {
            let c = chi2(hashes, n);
            assert!(c < 45.0, "{what}: chi2 {c:.1} over {n} buckets");
            let mut counts = vec![0u64; n as usize];
            for &h in hashes {
                counts[reciprocal_scale(h, n) as usize] += 1;
            }
            let e = hashes.len() as f64 / f64::from(n);
            for (b, &k) in counts.iter().enumerate() {
                let dev = (k as f64 - e).abs() / e;
                assert!(
                    dev < 0.05,
                    "{what}: bucket {b}/{n} has {k}, expected {e:.0}"
                );
            }
        }
    }

    #[test]
    fn random_flows_spread_uniformly() {
        let mut r = SplitMix(1);
        for symmetric in [false, true] {
            let v4: Vec<u32> = (0..100_000)
                .map(|_| {
                    let x = r.next();
                    FlowKey::V4 {
                        src: x as u32,
                        dst: (x >> 32) as u32,
                        proto: ip_proto::UDP,
                        ports: Some((r.next() as u16, (r.next() >> 16) as u16)),
                    }
                    .hash(symmetric)
                })
                .collect();
            assert_uniform("random v4", &v4);
            let v6: Vec<u32> = (0..50_000)
                .map(|_| {
                    let mut src = [0u8; 16];
                    let mut dst = [0u8; 16];
                    src[..8].copy_from_slice(&r.next().to_be_bytes());
                    src[8..].copy_from_slice(&r.next().to_be_bytes());
                    dst[8..].copy_from_slice(&r.next().to_be_bytes());
                    FlowKey::V6 {
                        src,
                        dst,
                        proto: ip_proto::TCP,
                        ports: Some((r.next() as u16, 443)),
                    }
                    .hash(symmetric)
                })
                .collect();
            assert_uniform("random v6", &v6);
        }
    }

    /// Flipping any one input bit flips each of the top output bits (the
    /// ones `reciprocal_scale` picks a worker by) about half the time.
    fn assert_avalanche<const N: usize>(seed: u32) {
        const TRIALS: u32 = 2000;
        let mut r = SplitMix(7);
        for bit in 0..32 * N {
            let mut flips = [0u32; 8];
            for _ in 0..TRIALS {
                let words: [u32; N] = std::array::from_fn(|_| r.next() as u32);
                let mut flipped = words;
                flipped[bit / 32] ^= 1 << (bit % 32);
                let d = hash_words(words, seed) ^ hash_words(flipped, seed);
                for (i, f) in flips.iter_mut().enumerate() {
                    *f += (d >> (31 - i)) & 1;
                }
            }
            for (i, &f) in flips.iter().enumerate() {
                let p = f64::from(f) / f64::from(TRIALS);
                assert!(
                    (0.42..=0.58).contains(&p),
                    "{N} words, seed {seed:#x}: input bit {bit} flips output bit {} with p = {p:.3}",
                    31 - i
                );
            }
        }
    }

    #[test]
    fn every_input_bit_moves_the_high_output_bits() {
        for seed in [DEFAULT_SEED, 0] {
            assert_avalanche::<4>(seed); // IPv4 and L2 keys
            assert_avalanche::<10>(seed); // IPv6 keys
        }
    }

    /// The traffic a weak hash fails on: one field counting up, the rest fixed
    /// (a load generator sweeping source addresses or ports).
    #[test]
    fn sequential_flows_spread_uniformly() {
        let base = u32::from_be_bytes([198, 18, 0, 0]);
        for symmetric in [false, true] {
            let by_src: Vec<u32> = (0..65_536u32)
                .map(|i| {
                    FlowKey::V4 {
                        src: base + i,
                        dst: base + 0x1_0000,
                        proto: ip_proto::UDP,
                        ports: Some((1024, 1024)),
                    }
                    .hash(symmetric)
                })
                .collect();
            assert_uniform("sequential source addresses", &by_src);
            let by_port: Vec<u32> = (0..=65_535u16)
                .map(|p| {
                    FlowKey::V4 {
                        src: base + 1,
                        dst: base + 2,
                        proto: ip_proto::TCP,
                        ports: Some((p, 80)),
                    }
                    .hash(symmetric)
                })
                .collect();
            assert_uniform("sequential source ports", &by_port);
            let v6_by_low: Vec<u32> = (0..65_536u32)
                .map(|i| {
                    let mut src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    src[12..].copy_from_slice(&i.to_be_bytes());
                    FlowKey::V6 {
                        src,
                        dst: [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                        proto: ip_proto::UDP,
                        ports: Some((5000, 5001)),
                    }
                    .hash(symmetric)
                })
                .collect();
            assert_uniform("sequential v6 source addresses", &v6_by_low);
        }
    }

    /// Flipping any one input bit flips each output bit about half the time.
    #[test]
    fn avalanche() {
        let mut r = SplitMix(7);
        const SAMPLES: usize = 2000;
        // 32 src + 32 dst + 16 + 16 port bits.
        let mut flips = vec![[0u32; 32]; 96];
        for _ in 0..SAMPLES {
            let x = r.next();
            let y = r.next();
            let key = |src: u32, dst: u32, sp: u16, dp: u16| FlowKey::V4 {
                src,
                dst,
                proto: ip_proto::TCP,
                ports: Some((sp, dp)),
            };
            let (s, d, sp, dp) = (x as u32, (x >> 32) as u32, y as u16, (y >> 16) as u16);
            let h = key(s, d, sp, dp).hash(false);
            for (bit, f) in flips.iter_mut().enumerate() {
                let h2 = match bit {
                    0..=31 => key(s ^ (1 << bit), d, sp, dp),
                    32..=63 => key(s, d ^ (1 << (bit - 32)), sp, dp),
                    64..=79 => key(s, d, sp ^ (1 << (bit - 64)), dp),
                    _ => key(s, d, sp, dp ^ (1 << (bit - 80))),
                }
                .hash(false);
                let diff = h ^ h2;
                for (o, c) in f.iter_mut().enumerate() {
                    *c += (diff >> o) & 1;
                }
            }
        }
        for (bit, f) in flips.iter().enumerate() {
            for (o, &c) in f.iter().enumerate() {
                let p = f64::from(c) / SAMPLES as f64;
                assert!(
                    (0.42..0.58).contains(&p),
                    "input bit {bit} -> output bit {o}: {p:.3}"
                );
            }
        }
    }

    #[test]
    fn families_and_kinds_do_not_collide_trivially() {
        let a = v4([10, 0, 0, 1], [10, 0, 0, 2], ip_proto::UDP, None);
        let b = v4([10, 0, 0, 1], [10, 0, 0, 2], ip_proto::UDP, Some((0, 0)));
        assert_ne!(a.hash(false), b.hash(false));
        assert_ne!(a.hash(false), a.hash_with_seed(1, false));
        assert_eq!(a.hash(false), a.hash_with_seed(DEFAULT_SEED, false));
    }

    fn arb_key() -> impl Strategy<Value = FlowKey> {
        let ports = proptest::option::of((any::<u16>(), any::<u16>()));
        prop_oneof![
            (any::<u32>(), any::<u32>(), any::<u8>(), ports.clone()).prop_map(
                |(src, dst, proto, ports)| FlowKey::V4 {
                    src,
                    dst,
                    proto,
                    ports
                }
            ),
            // Equal addresses make the port tie-break matter.
            (any::<u32>(), any::<u8>(), ports.clone()).prop_map(|(a, proto, ports)| {
                FlowKey::V4 {
                    src: a,
                    dst: a,
                    proto,
                    ports,
                }
            }),
            (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u8>(), ports).prop_map(
                |(src, dst, proto, ports)| FlowKey::V6 {
                    src,
                    dst,
                    proto,
                    ports
                }
            ),
            (any::<[u8; 6]>(), any::<[u8; 6]>(), any::<u16>()).prop_map(|(s, d, et)| {
                FlowKey::L2 {
                    src: MacAddr(s),
                    dst: MacAddr(d),
                    ethertype: et,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn symmetric_hash_is_the_same_both_ways(k in arb_key(), seed in any::<u32>()) {
            prop_assert_eq!(k.reversed().reversed(), k);
            prop_assert_eq!(k.hash_with_seed(seed, true), k.reversed().hash_with_seed(seed, true));
            prop_assert_eq!(k.canonical(), k.reversed().canonical());
        }

        /// Without `symmetric` the directions are (almost always) apart; with
        /// it, the hash is one of the two directional hashes.
        #[test]
        fn asymmetric_hash_tells_directions_apart(k in arb_key()) {
            let r = k.reversed();
            if r != k {
                prop_assert_ne!(k.hash(false), r.hash(false));
            }
            let s = k.hash(true);
            prop_assert!(s == k.hash(false) || s == r.hash(false));
        }

        /// The fast path of frame_hash gives what the parsed key gives, on
        /// frames it covers and on near misses (other protocols, options,
        /// fragments, VLAN, short frames).
        #[test]
        fn frame_hash_is_the_key_hash(
            v4 in testutil::arb_ipv4(),
            proto in prop_oneof![Just(ip_proto::TCP), Just(ip_proto::UDP), Just(ip_proto::SCTP), any::<u8>()],
            flags in prop_oneof![Just(0u16), Just(0x4000u16), any::<u16>()],
            ihl_byte in prop_oneof![Just(0x45u8), any::<u8>()],
            ethertype in prop_oneof![Just(ethertype::IPV4), Just(ethertype::VLAN), any::<u16>()],
            cut in 0usize..64,
            symmetric in any::<bool>(),
        ) {
            let mut f = Ipv4Builder { payload: testutil::udp(1000, 2000, &[]), ..v4 }.build();
            if f.len() >= 38 {
                f[12..14].copy_from_slice(&ethertype.to_be_bytes());
                f[14] = ihl_byte;
                f[20..22].copy_from_slice(&flags.to_be_bytes());
                f[23] = proto;
            }
            let f = &f[..f.len().min(cut.max(1) * 4)];
            let want = FlowKey::from_frame(f).map_or(0, |k| k.hash(symmetric));
            prop_assert_eq!(frame_hash(f, symmetric), want);
        }

        /// A frame and its mirror image (MACs, addresses and ports swapped)
        /// get the same symmetric hash.
        #[test]
        fn mirrored_frames_hash_alike(v4 in testutil::arb_ipv4(), sp in any::<u16>(), dp in any::<u16>()) {
            let fwd = Ipv4Builder { proto: ip_proto::UDP, payload: testutil::udp(sp, dp, &[]), ..v4.clone() };
            let rev = Ipv4Builder {
                src: v4.dst,
                dst: v4.src,
                src_mac: v4.dst_mac,
                dst_mac: v4.src_mac,
                payload: testutil::udp(dp, sp, &[]),
                ..fwd.clone()
            };
            let (a, b) = (FlowKey::from_frame(&fwd.build()).unwrap(), FlowKey::from_frame(&rev.build()).unwrap());
            prop_assert_eq!(a.reversed(), b);
            prop_assert_eq!(a.hash(true), b.hash(true));
        }
    }
}
