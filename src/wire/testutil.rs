//! Test-only packet builders (and proptest strategies) shared by the `wire`
//! and `fwd` tests. Not compiled into the library.

use proptest::prelude::*;

use super::{ethertype, ip_proto, EthernetFrame, Ipv4Packet, Ipv6Packet, MacAddr};

/// Default addresses used by the builders.
pub(crate) const DST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
pub(crate) const SRC_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

/// An Ethernet + IPv4 frame description; `build` makes the bytes with a
/// correct header checksum.
#[derive(Clone, Debug)]
pub(crate) struct Ipv4Builder {
    pub dst_mac: MacAddr,
    pub src_mac: MacAddr,
    pub ethertype: u16,
    pub dscp_ecn: u8,
    pub ident: u16,
    /// Flags (3 bits) and fragment offset (13 bits) as on the wire.
    pub flags_frag: u16,
    pub ttl: u8,
    pub proto: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Options; padded with zeros (EOL) to a multiple of 4.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
    /// Pad the frame with zeros to at least this many bytes (60 = Ethernet minimum without FCS).
    pub pad_to: usize,
}

impl Default for Ipv4Builder {
    fn default() -> Self {
        Ipv4Builder {
            dst_mac: DST_MAC,
            src_mac: SRC_MAC,
            ethertype: ethertype::IPV4,
            dscp_ecn: 0,
            ident: 0x1234,
            flags_frag: 0x4000,
            ttl: 64,
            proto: ip_proto::UDP,
            src: [198, 18, 0, 1],
            dst: [198, 19, 0, 2],
            options: Vec::new(),
            payload: udp(1024, 2048, &[0xab; 4]),
            pad_to: 0,
        }
    }
}

impl Ipv4Builder {
    pub fn build(&self) -> Vec<u8> {
        let mut opts = self.options.clone();
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let hl = 20 + opts.len();
        let total = hl + self.payload.len();
        let mut b = vec![0u8; 14 + total];
        let mut eth = EthernetFrame::new_unchecked(&mut b[..]);
        eth.set_dst_addr(self.dst_mac);
        eth.set_src_addr(self.src_mac);
        eth.set_ethertype(self.ethertype);
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut b[14..]);
            ip.set_version(4);
            ip.set_header_len(hl);
            ip.set_dscp(self.dscp_ecn >> 2);
            ip.set_ecn(self.dscp_ecn & 3);
            ip.set_total_len(total as u16);
            ip.set_ident(self.ident);
            ip.set_flags_and_frag_offset((self.flags_frag >> 13) as u8, self.flags_frag & 0x1fff);
            ip.set_ttl(self.ttl);
            ip.set_protocol(self.proto);
            ip.set_src_addr(self.src.into());
            ip.set_dst_addr(self.dst.into());
            ip.options_mut().copy_from_slice(&opts);
            ip.payload_mut().copy_from_slice(&self.payload);
            ip.fill_checksum();
        }
        if b.len() < self.pad_to {
            b.resize(self.pad_to, 0);
        }
        b
    }
}

/// An Ethernet + IPv6 frame description.
#[derive(Clone, Debug)]
pub(crate) struct Ipv6Builder {
    pub dst_mac: MacAddr,
    pub src_mac: MacAddr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// Everything after the fixed header (extension headers included).
    pub payload: Vec<u8>,
    pub pad_to: usize,
}

impl Default for Ipv6Builder {
    fn default() -> Self {
        Ipv6Builder {
            dst_mac: DST_MAC,
            src_mac: SRC_MAC,
            traffic_class: 0,
            flow_label: 0,
            next_header: ip_proto::UDP,
            hop_limit: 64,
            src: "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            dst: "2001:db8:1::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            payload: udp(1024, 2048, &[0xcd; 4]),
            pad_to: 0,
        }
    }
}

impl Ipv6Builder {
    pub fn build(&self) -> Vec<u8> {
        let mut b = vec![0u8; 14 + 40 + self.payload.len()];
        let mut eth = EthernetFrame::new_unchecked(&mut b[..]);
        eth.set_dst_addr(self.dst_mac);
        eth.set_src_addr(self.src_mac);
        eth.set_ethertype(ethertype::IPV6);
        {
            let mut ip = Ipv6Packet::new_unchecked(&mut b[14..]);
            ip.set_version(6);
            ip.set_traffic_class(self.traffic_class);
            ip.set_flow_label(self.flow_label);
            ip.set_payload_len(self.payload.len() as u16);
            ip.set_next_header(self.next_header);
            ip.set_hop_limit(self.hop_limit);
            ip.set_src_addr(self.src.into());
            ip.set_dst_addr(self.dst.into());
            ip.payload_mut().copy_from_slice(&self.payload);
        }
        if b.len() < self.pad_to {
            b.resize(self.pad_to, 0);
        }
        b
    }
}

/// A UDP header + data (length set, checksum 0).
pub(crate) fn udp(src_port: u16, dst_port: u16, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(8 + data.len());
    b.extend_from_slice(&src_port.to_be_bytes());
    b.extend_from_slice(&dst_port.to_be_bytes());
    b.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(data);
    b
}

/// A 20-byte TCP header with the given flags.
pub(crate) fn tcp(src_port: u16, dst_port: u16, flags: u8) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    b[0..2].copy_from_slice(&src_port.to_be_bytes());
    b[2..4].copy_from_slice(&dst_port.to_be_bytes());
    b[12] = 0x50;
    b[13] = flags;
    b
}

/// An 8-byte ICMP header.
pub(crate) fn icmp(ty: u8, code: u8) -> Vec<u8> {
    vec![ty, code, 0, 0, 0, 1, 0, 1]
}

/// A non-IP frame (e.g. ARP) of `len` bytes.
pub(crate) fn non_ip(ethertype: u16, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(14)];
    let mut eth = EthernetFrame::new_unchecked(&mut b[..]);
    eth.set_dst_addr(DST_MAC);
    eth.set_src_addr(SRC_MAC);
    eth.set_ethertype(ethertype);
    b
}

/// Valid IPv4 frames that pass every `classify` check: TTL >= 2, any
/// options (<= 40 bytes), any payload, any padding.
pub(crate) fn arb_ipv4() -> impl Strategy<Value = Ipv4Builder> {
    (
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            any::<u8>(),
            any::<u16>(),
        ),
        (
            0u16..0x4000,
            2u8..=255,
            any::<u8>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
        ),
        proptest::collection::vec(any::<u8>(), 0..=40),
        proptest::collection::vec(any::<u8>(), 0..200),
        0usize..300,
    )
        .prop_map(
            |((dm, sm, dscp_ecn, ident), (ff, ttl, proto, src, dst), options, payload, pad_to)| {
                Ipv4Builder {
                    dst_mac: MacAddr(dm),
                    src_mac: MacAddr(sm),
                    ethertype: ethertype::IPV4,
                    dscp_ecn,
                    ident,
                    flags_frag: ff & 0x7fff,
                    ttl,
                    proto,
                    src,
                    dst,
                    options,
                    payload,
                    pad_to,
                }
            },
        )
}

/// Valid IPv6 frames that pass every `classify` check (hop limit >= 2).
pub(crate) fn arb_ipv6() -> impl Strategy<Value = Ipv6Builder> {
    (
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            any::<u8>(),
            0u32..0x10_0000,
        ),
        (any::<u8>(), 2u8..=255, any::<[u8; 16]>(), any::<[u8; 16]>()),
        proptest::collection::vec(any::<u8>(), 0..200),
        0usize..300,
    )
        .prop_map(
            |((dm, sm, tc, fl), (nh, hop_limit, src, dst), payload, pad_to)| Ipv6Builder {
                dst_mac: MacAddr(dm),
                src_mac: MacAddr(sm),
                traffic_class: tc,
                flow_label: fl,
                next_header: nh,
                hop_limit,
                src,
                dst,
                payload,
                pad_to,
            },
        )
}
