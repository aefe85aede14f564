//! IPv6 fixed header view (RFC 8200).
//!
//! Extension headers are not parsed here; `fwd::flow` walks the few it needs.

use std::net::Ipv6Addr;

use super::{read_array, read_u16, read_u32, write_u16, write_u32, Field};
use crate::drop_reason::DropReason;

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// A view of an IPv6 packet.
///
/// Every fixed-header accessor is safe once the buffer holds 40 bytes;
/// [`check_len`](Self::check_len) `Ok` also covers [`payload`](Self::payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it; accessors may panic on a short one.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer and checks it (see [`check_len`](Self::check_len)).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the 40-byte header or than
    /// the header plus the payload length. The version is not checked.
    /// A payload length of 0 is taken literally: jumbograms (RFC 2675) need a
    /// link MTU above 65575 bytes and cannot arrive over Ethernet.
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < Self::HEADER_LEN || len < Self::HEADER_LEN + usize::from(self.payload_len()) {
            Err(DropReason::Truncated)
        } else {
            Ok(())
        }
    }

    /// Unwraps the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (6 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (read_u16(self.buffer.as_ref(), field::VER_TC_FLOW.start) >> 4) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000f_ffff
    }

    /// Payload length: bytes after the 40-byte header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header (an extension header or the upper-layer protocol).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address bytes, network order.
    #[inline]
    pub fn src_bytes(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address bytes, network order.
    #[inline]
    pub fn dst_bytes(&self) -> [u8; 16] {
        read_array(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src_bytes())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst_bytes())
    }

    /// The payload: payload_len bytes after the header (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = Self::HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[Self::HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_TC_FLOW.start];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let d = self.buffer.as_mut();
        let v = read_u16(d, field::VER_TC_FLOW.start) & 0xf00f;
        write_u16(d, field::VER_TC_FLOW.start, v | (u16::from(tc) << 4));
    }

    /// Sets the flow label (20 bits).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let d = self.buffer.as_mut();
        let v = read_u32(d, field::VER_TC_FLOW.start) & 0xfff0_0000;
        write_u32(d, field::VER_TC_FLOW.start, v | (label & 0x000f_ffff));
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = nh;
    }

    /// Sets the hop limit (IPv6 has no header checksum to update).
    #[inline]
    pub fn set_hop_limit(&mut self, hops: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hops;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = Self::HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[Self::HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_proto;
    use proptest::prelude::*;

    fn sample() -> [u8; 44] {
        let mut b = [0u8; 44];
        b[..8].copy_from_slice(&[0x6a, 0xb1, 0x23, 0x45, 0x00, 0x04, 17, 64]);
        b[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b[24..40].copy_from_slice(&"2001:db8:ffff::2".parse::<Ipv6Addr>().unwrap().octets());
        b[40..].copy_from_slice(&[1, 2, 3, 4]);
        b
    }

    #[test]
    fn reads_fields() {
        let b = sample();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xab);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.next_header(), ip_proto::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            p.dst_addr(),
            "2001:db8:ffff::2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(p.src_bytes(), p.src_addr().octets());
        assert_eq!(p.dst_bytes(), p.dst_addr().octets());
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
    }

    #[test]
    fn setters_round_trip_without_disturbing_neighbours() {
        let mut b = sample();
        let mut p = Ipv6Packet::new_unchecked(&mut b[..]);
        p.set_traffic_class(0x5c);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x5c, 0x12345)
        );
        p.set_flow_label(0xfffff);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x5c, 0xfffff)
        );
        p.set_flow_label(0x1_00001); // only 20 bits are kept
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (6, 0x5c, 1)
        );
        p.set_version(0);
        assert_eq!(
            (p.version(), p.traffic_class(), p.flow_label()),
            (0, 0x5c, 1)
        );
        p.set_version(6);
        p.set_hop_limit(1);
        p.set_next_header(ip_proto::TCP);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        p.set_payload_len(2);
        p.payload_mut().copy_from_slice(&[7, 7]);
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.next_header(), ip_proto::TCP);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.payload(), &[7, 7]);
        assert_eq!(b[42..], [3, 4]);
    }

    #[test]
    fn check_len_errors() {
        let b = sample();
        for n in 0..44 {
            assert_eq!(
                Ipv6Packet::new_checked(&b[..n]).unwrap_err(),
                DropReason::Truncated,
                "len {n}"
            );
        }
        let mut padded = [0u8; 60];
        padded[..44].copy_from_slice(&b);
        assert_eq!(
            Ipv6Packet::new_checked(&padded[..])
                .unwrap()
                .payload()
                .len(),
            4
        );
    }

    proptest! {
        #[test]
        fn check_len_ok_means_no_accessor_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = Ipv6Packet::new_unchecked(&b[..]);
            if p.check_len().is_ok() {
                let _ = (p.version(), p.traffic_class(), p.flow_label(), p.next_header());
                let _ = (p.hop_limit(), p.src_addr(), p.dst_addr(), p.payload());
            }
        }
    }
}
