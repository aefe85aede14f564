//! Packet builders for the pcap tests, written from the RFCs and independent
//! of napifwd's own parser: Ethernet (optionally 802.1Q tagged), ARP, IPv4
//! (with options), IPv6, and UDP / TCP / ICMP / ICMPv6 payloads.
//!
//! Every header field that a router checks has a knob, so a test can build a
//! packet with exactly one defect. Checksums are always computed from scratch
//! over the bytes as emitted (never updated incrementally), so a test can build
//! the frame it expects napifwd to emit by building the same packet again with
//! the rewritten fields.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A 48-bit Ethernet address in wire order.
pub type Mac = [u8; 6];

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_NO_NEXT: u8 = 59;

/// Minimum Ethernet frame without FCS: what a NIC pads short frames to.
pub const ETH_MIN_FRAME: usize = 60;
pub const ETH_HEADER_LEN: usize = 14;
pub const IPV4_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;

/// Parses `aa:bb:cc:dd:ee:ff`; panics on anything else (test input only).
pub fn mac(s: &str) -> Mac {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap_or_else(|_| panic!("bad MAC {s:?}")))
        .collect();
    parts.try_into().unwrap_or_else(|_| panic!("bad MAC {s:?}"))
}

/// Formats a MAC the way the config file spells it.
pub fn mac_str(m: &Mac) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn ip4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().expect("IPv4 literal").octets()
}

pub fn ip6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().expect("IPv6 literal").octets()
}

/// The RFC 1071 one's complement sum of `data` (odd length padded with a zero
/// byte), folded to 16 bits, not yet inverted.
pub fn ones_complement_sum(data: &[u8], initial: u32) -> u16 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(u16::from_be_bytes([*last, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (RFC 1071).
pub fn internet_checksum(data: &[u8]) -> u16 {
    !ones_complement_sum(data, 0)
}

/// True if an IPv4 header (its checksum field included) sums to 0xffff.
pub fn ipv4_header_checksum_ok(header: &[u8]) -> bool {
    ones_complement_sum(header, 0) == 0xffff
}

/// What to put in the IPv4 header checksum field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// The correct checksum, computed from scratch.
    Correct,
    /// The correct checksum with one bit flipped.
    Corrupt,
    /// This exact value.
    Value(u16),
}

/// An IPv4 datagram with a knob on every header field.
#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub version: u8,
    /// `None`: 5 + options / 4.
    pub ihl: Option<u8>,
    pub tos: u8,
    /// `None`: header + options + payload.
    pub total_length: Option<u16>,
    pub id: u16,
    /// Flags (3 bits) and fragment offset (13 bits).
    pub flags_fragment: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub checksum: Checksum,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Raw option bytes (a multiple of 4 for a well-formed header).
    pub options: Vec<u8>,
    /// The layer 4 bytes.
    pub payload: Vec<u8>,
}

impl Ipv4 {
    /// A well-formed datagram: TTL 64, DF set, no options.
    pub fn new(src: &str, dst: &str, protocol: u8, payload: Vec<u8>) -> Self {
        Ipv4 {
            version: 4,
            ihl: None,
            tos: 0,
            total_length: None,
            id: 0x1234,
            flags_fragment: 0x4000,
            ttl: 64,
            protocol,
            checksum: Checksum::Correct,
            src: ip4(src),
            dst: ip4(dst),
            options: Vec::new(),
            payload,
        }
    }

    /// UDP with a correct UDP checksum.
    pub fn udp(src: &str, dst: &str, sport: u16, dport: u16, data: &[u8]) -> Self {
        let (s, d) = (ip4(src), ip4(dst));
        let seg = udp_segment(
            sport,
            dport,
            data,
            &pseudo_header_v4(&s, &d, PROTO_UDP, 8 + data.len()),
        );
        Self::new(src, dst, PROTO_UDP, seg)
    }

    /// TCP (ACK|PSH) with a correct TCP checksum.
    pub fn tcp(src: &str, dst: &str, sport: u16, dport: u16, seq: u32, data: &[u8]) -> Self {
        let (s, d) = (ip4(src), ip4(dst));
        let seg = tcp_segment(
            sport,
            dport,
            seq,
            data,
            &pseudo_header_v4(&s, &d, PROTO_TCP, 20 + data.len()),
        );
        Self::new(src, dst, PROTO_TCP, seg)
    }

    /// ICMP echo request.
    pub fn icmp_echo(src: &str, dst: &str, ident: u16, seq: u16, data: &[u8]) -> Self {
        let mut m = vec![8, 0, 0, 0];
        m.extend_from_slice(&ident.to_be_bytes());
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(data);
        let c = internet_checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        Self::new(src, dst, PROTO_ICMP, m)
    }

    pub fn with_ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn with_id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    /// The TOS byte (DSCP in its upper six bits, ECN in the lower two).
    pub fn with_tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// A TCP datagram with these TCP flags (FIN = bit 0 ... CWR = bit 7)
    /// instead of PSH|ACK; the TCP checksum is computed again.
    pub fn with_tcp_flags(mut self, flags: u8) -> Self {
        assert_eq!(
            self.protocol, PROTO_TCP,
            "with_tcp_flags on a non-TCP datagram"
        );
        self.payload[13] = flags;
        self.payload[16..18].copy_from_slice(&[0, 0]);
        let pseudo = pseudo_header_v4(&self.src, &self.dst, PROTO_TCP, self.payload.len());
        let c = !ones_complement_sum(&self.payload, u32::from(ones_complement_sum(&pseudo, 0)));
        self.payload[16..18].copy_from_slice(&c.to_be_bytes());
        self
    }

    /// The header (options included) with its checksum field filled in.
    pub fn header(&self) -> Vec<u8> {
        let ihl = self.ihl.unwrap_or(5 + (self.options.len() / 4) as u8);
        let hlen = IPV4_HEADER_LEN + self.options.len();
        let total = self
            .total_length
            .unwrap_or((hlen + self.payload.len()) as u16);
        let mut h = Vec::with_capacity(hlen);
        h.push((self.version << 4) | (ihl & 0x0f));
        h.push(self.tos);
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&self.id.to_be_bytes());
        h.extend_from_slice(&self.flags_fragment.to_be_bytes());
        h.push(self.ttl);
        h.push(self.protocol);
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&self.src);
        h.extend_from_slice(&self.dst);
        h.extend_from_slice(&self.options);
        let correct = internet_checksum(&h);
        let value = match self.checksum {
            Checksum::Correct => correct,
            Checksum::Corrupt => correct ^ 0x0100,
            Checksum::Value(v) => v,
        };
        h[10..12].copy_from_slice(&value.to_be_bytes());
        h
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.header();
        b.extend_from_slice(&self.payload);
        b
    }

    /// The datagram a router emits: TTL - 1 and the checksum recomputed from
    /// scratch over the new header.
    pub fn forwarded(&self) -> Ipv4 {
        let mut f = self.clone();
        f.ttl -= 1;
        f.checksum = Checksum::Correct;
        f
    }
}

/// An IPv6 packet with a knob on every fixed-header field.
#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub version: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    /// `None`: the payload's length.
    pub payload_length: Option<u16>,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub payload: Vec<u8>,
}

impl Ipv6 {
    pub fn new(src: &str, dst: &str, next_header: u8, payload: Vec<u8>) -> Self {
        Ipv6 {
            version: 6,
            traffic_class: 0,
            flow_label: 0x12345,
            payload_length: None,
            next_header,
            hop_limit: 64,
            src: ip6(src),
            dst: ip6(dst),
            payload,
        }
    }

    pub fn udp(src: &str, dst: &str, sport: u16, dport: u16, data: &[u8]) -> Self {
        let (s, d) = (ip6(src), ip6(dst));
        let seg = udp_segment(
            sport,
            dport,
            data,
            &pseudo_header_v6(&s, &d, PROTO_UDP, 8 + data.len()),
        );
        Self::new(src, dst, PROTO_UDP, seg)
    }

    pub fn tcp(src: &str, dst: &str, sport: u16, dport: u16, seq: u32, data: &[u8]) -> Self {
        let (s, d) = (ip6(src), ip6(dst));
        let seg = tcp_segment(
            sport,
            dport,
            seq,
            data,
            &pseudo_header_v6(&s, &d, PROTO_TCP, 20 + data.len()),
        );
        Self::new(src, dst, PROTO_TCP, seg)
    }

    /// ICMPv6 echo request.
    pub fn icmp_echo(src: &str, dst: &str, ident: u16, seq: u16, data: &[u8]) -> Self {
        let (s, d) = (ip6(src), ip6(dst));
        let mut m = vec![128, 0, 0, 0];
        m.extend_from_slice(&ident.to_be_bytes());
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(data);
        let pseudo = pseudo_header_v6(&s, &d, PROTO_ICMPV6, m.len());
        let c = !ones_complement_sum(&m, u32::from(ones_complement_sum(&pseudo, 0)));
        m[2..4].copy_from_slice(&c.to_be_bytes());
        Self::new(src, dst, PROTO_ICMPV6, m)
    }

    pub fn with_hop_limit(mut self, hop_limit: u8) -> Self {
        self.hop_limit = hop_limit;
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let len = self.payload_length.unwrap_or(self.payload.len() as u16);
        let word = (u32::from(self.version) << 28)
            | (u32::from(self.traffic_class) << 20)
            | (self.flow_label & 0xf_ffff);
        let mut b = Vec::with_capacity(IPV6_HEADER_LEN + self.payload.len());
        b.extend_from_slice(&word.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b.push(self.next_header);
        b.push(self.hop_limit);
        b.extend_from_slice(&self.src);
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&self.payload);
        b
    }

    /// The packet a router emits: hop limit - 1.
    pub fn forwarded(&self) -> Ipv6 {
        let mut f = self.clone();
        f.hop_limit -= 1;
        f
    }
}

/// An ARP request for `target` from `sender`.
pub fn arp_request(sender_mac: Mac, sender: &str, target: &str) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend_from_slice(&sender_mac);
    a.extend_from_slice(&ip4(sender));
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&ip4(target));
    a
}

/// An Ethernet frame, optionally 802.1Q tagged.
#[derive(Clone, Debug)]
pub struct Frame {
    pub dst: Mac,
    pub src: Mac,
    /// 802.1Q TCI (PCP/DEI/VID) when tagged.
    pub vlan: Option<u16>,
    pub ethertype: u16,
    pub payload: Vec<u8>,
    /// Pad with zeros to 60 bytes, as a NIC does for short frames.
    pub pad_to_min: bool,
    /// Extra bytes after the payload (before any padding): junk a router
    /// must not forward beyond the IP length.
    pub trailer: Vec<u8>,
}

impl Frame {
    pub fn new(dst: Mac, src: Mac, ethertype: u16, payload: Vec<u8>) -> Self {
        Frame {
            dst,
            src,
            vlan: None,
            ethertype,
            payload,
            pad_to_min: true,
            trailer: Vec::new(),
        }
    }

    pub fn ipv4(dst: Mac, src: Mac, ip: &Ipv4) -> Self {
        Self::new(dst, src, ETHERTYPE_IPV4, ip.bytes())
    }

    pub fn ipv6(dst: Mac, src: Mac, ip: &Ipv6) -> Self {
        Self::new(dst, src, ETHERTYPE_IPV6, ip.bytes())
    }

    pub fn arp(src: Mac, arp: Vec<u8>) -> Self {
        Self::new([0xff; 6], src, ETHERTYPE_ARP, arp)
    }

    pub fn tagged(mut self, tci: u16) -> Self {
        self.vlan = Some(tci);
        self
    }

    pub fn with_trailer(mut self, trailer: &[u8]) -> Self {
        self.trailer = trailer.to_vec();
        self
    }

    pub fn unpadded(mut self) -> Self {
        self.pad_to_min = false;
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(ETH_MIN_FRAME.max(18 + self.payload.len()));
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&self.src);
        if let Some(tci) = self.vlan {
            b.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            b.extend_from_slice(&tci.to_be_bytes());
        }
        b.extend_from_slice(&self.ethertype.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b.extend_from_slice(&self.trailer);
        if self.pad_to_min && b.len() < ETH_MIN_FRAME {
            b.resize(ETH_MIN_FRAME, 0);
        }
        b
    }
}

fn pseudo_header_v4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(12);
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    p.extend_from_slice(&(len as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, proto]);
    p
}

fn udp_segment(sport: u16, dport: u16, data: &[u8], pseudo: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(8 + data.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(data);
    let mut c = !ones_complement_sum(&s, u32::from(ones_complement_sum(pseudo, 0)));
    if c == 0 {
        c = 0xffff;
    }
    s[6..8].copy_from_slice(&c.to_be_bytes());
    s
}

fn tcp_segment(sport: u16, dport: u16, seq: u32, data: &[u8], pseudo: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(20 + data.len());
    s.extend_from_slice(&sport.to_be_bytes());
    s.extend_from_slice(&dport.to_be_bytes());
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&0u32.to_be_bytes()); // ack
    s.extend_from_slice(&[5 << 4, 0x18]); // data offset 5, PSH|ACK
    s.extend_from_slice(&0xffffu16.to_be_bytes()); // window
    s.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    s.extend_from_slice(data);
    let c = !ones_complement_sum(&s, u32::from(ones_complement_sum(pseudo, 0)));
    s[16..18].copy_from_slice(&c.to_be_bytes());
    s
}

/// Deterministic filler bytes, different for each `seed`.
pub fn filler(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(0x9e37_79b9);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3 example: sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(ones_complement_sum(&data, 0), 0xddf2);
    }

    #[test]
    fn ipv4_header_is_the_textbook_one() {
        // The classic example header (Wikipedia "IPv4 header checksum").
        let mut ip = Ipv4::new(
            "192.168.0.1",
            "192.168.0.199",
            PROTO_UDP,
            vec![0; 0x73 - 20],
        );
        ip.id = 0;
        ip.ttl = 0x40;
        ip.flags_fragment = 0x4000;
        let h = ip.header();
        assert_eq!(&h[10..12], &[0xb8, 0x61]);
        assert!(ipv4_header_checksum_ok(&h));
    }
}
