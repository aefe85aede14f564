//! The parts of TCP, UDP and ICMP headers that napifwd reads: ports (for flow
//! hashing and filter rules), TCP flags, ICMP type and code.
//!
//! These views check only that their own header is in the buffer: the buffer
//! is usually the rest of an mbuf's first segment, so L4 lengths and
//! checksums are not validated (a forwarder does not own them).

use super::{ip_proto, read_u16, read_u32, write_u16, Field};
use crate::drop_reason::DropReason;

/// TCP flag bits as in byte 13 of the header ([`TcpPacket::flags`]).
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN-Echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// Source and destination ports of a TCP, UDP or SCTP header at the start of
/// `l4` (all three put them in the first 4 bytes); `None` for other
/// protocols or when fewer than 4 bytes are present.
#[inline]
pub fn ports(proto: u8, l4: &[u8]) -> Option<(u16, u16)> {
    if ip_proto::has_ports(proto) && l4.len() >= 4 {
        Some((read_u16(l4, 0), read_u16(l4, 2)))
    } else {
        None
    }
}

mod tcp_field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// A view of a TCP header.
///
/// After [`check_len`](Self::check_len) no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = tcp_field::URGENT.end;

    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer and checks it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than 20 bytes or than the data
    /// offset says; `BadHeader` if the data offset is below 5 words.
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            Err(DropReason::Truncated)
        } else if self.header_len() < Self::MIN_HEADER_LEN {
            Err(DropReason::BadHeader)
        } else if len < self.header_len() {
            Err(DropReason::Truncated)
        } else {
            Ok(())
        }
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tcp_field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tcp_field::DST_PORT.start)
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), tcp_field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), tcp_field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[tcp_field::DATA_OFF] >> 4) * 4
    }

    /// The eight flag bits CWR..FIN (see [`tcp_flags`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[tcp_field::FLAGS]
    }

    /// True when every bit of `mask` is set, e.g. `tcp_flags::SYN | tcp_flags::ACK`.
    #[inline]
    pub fn has_flags(&self, mask: u8) -> bool {
        self.flags() & mask == mask
    }

    /// Window size.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tcp_field::WIN_SIZE.start)
    }

    /// Checksum as stored (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tcp_field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tcp_field::URGENT.start)
    }

    /// Options: bytes 20..header_len.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), tcp_field::SRC_PORT.start, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), tcp_field::DST_PORT.start, port);
    }

    /// Sets the header length in bytes (multiple of 4, <= 60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[tcp_field::DATA_OFF];
        *b = (*b & 0x0f) | (((len / 4) as u8) << 4);
    }

    /// Sets the flag bits.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[tcp_field::FLAGS] = flags;
    }
}

mod udp_field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// A view of a UDP header. After [`check_len`](Self::check_len) no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Length of the UDP header.
    pub const HEADER_LEN: usize = udp_field::CHECKSUM.end;

    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer and checks it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the 8-byte header. The
    /// length field is not checked against the buffer (the datagram may
    /// continue in later mbuf segments).
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(DropReason::Truncated)
        } else {
            Ok(())
        }
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp_field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp_field::DST_PORT.start)
    }

    /// Length field (header + data), as stored.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp_field::LENGTH.start)
    }

    /// True when the length field is zero (invalid, but readable).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum as stored (not verified; 0 means none over IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), udp_field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), udp_field::SRC_PORT.start, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), udp_field::DST_PORT.start, port);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), udp_field::LENGTH.start, len);
    }
}

mod icmp_field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const REST: Field = 4..8;
}

/// A view of an ICMP (RFC 792) or ICMPv6 (RFC 4443) header: both start with
/// type, code, checksum and a 4-byte rest-of-header.
/// After [`check_len`](Self::check_len) no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Length of the common ICMP header.
    pub const HEADER_LEN: usize = icmp_field::REST.end;

    /// Wraps a buffer without checking it.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps a buffer and checks it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            Err(DropReason::Truncated)
        } else {
            Ok(())
        }
    }

    /// Message type (e.g. 8 echo request, 0 echo reply; ICMPv6 128/129).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[icmp_field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[icmp_field::CODE]
    }

    /// Checksum as stored (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), icmp_field::CHECKSUM.start)
    }

    /// The type-specific 4 bytes after the checksum (echo: ident and sequence).
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        read_u32(self.buffer.as_ref(), icmp_field::REST.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, ty: u8) {
        self.buffer.as_mut()[icmp_field::TYPE] = ty;
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, code: u8) {
        self.buffer.as_mut()[icmp_field::CODE] = code;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TCP: [u8; 24] = [
        0x30, 0x39, 0x00, 0x50, // 12345 -> 80
        0x00, 0x00, 0x00, 0x01, // seq 1
        0x00, 0x00, 0x00, 0x02, // ack 2
        0x60, 0x12, // data offset 6, SYN|ACK
        0xff, 0xff, // window
        0xab, 0xcd, // checksum
        0x00, 0x07, // urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
    ];

    #[test]
    fn tcp_fields() {
        let t = TcpPacket::new_checked(&TCP[..]).unwrap();
        assert_eq!(t.src_port(), 12345);
        assert_eq!(t.dst_port(), 80);
        assert_eq!(t.seq_number(), 1);
        assert_eq!(t.ack_number(), 2);
        assert_eq!(t.header_len(), 24);
        assert_eq!(t.flags(), tcp_flags::SYN | tcp_flags::ACK);
        assert!(t.has_flags(tcp_flags::SYN));
        assert!(t.has_flags(tcp_flags::SYN | tcp_flags::ACK));
        assert!(!t.has_flags(tcp_flags::SYN | tcp_flags::FIN));
        assert_eq!(t.window_len(), 0xffff);
        assert_eq!(t.checksum(), 0xabcd);
        assert_eq!(t.urgent_at(), 7);
        assert_eq!(t.options(), &[2, 4, 5, 0xb4]);
    }

    #[test]
    fn tcp_setters() {
        let mut b = TCP;
        let mut t = TcpPacket::new_unchecked(&mut b[..]);
        t.set_src_port(1);
        t.set_dst_port(2);
        t.set_flags(tcp_flags::RST);
        t.set_header_len(20);
        assert_eq!(
            (t.src_port(), t.dst_port(), t.flags()),
            (1, 2, tcp_flags::RST)
        );
        assert!(t.options().is_empty());
        assert_eq!(b[12], 0x50);
    }

    #[test]
    fn tcp_check_len() {
        for n in 0..20 {
            assert_eq!(
                TcpPacket::new_checked(&TCP[..n]).unwrap_err(),
                DropReason::Truncated
            );
        }
        // Data offset 6 needs 24 bytes.
        assert_eq!(
            TcpPacket::new_checked(&TCP[..23]).unwrap_err(),
            DropReason::Truncated
        );
        let mut b = TCP;
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            DropReason::BadHeader
        );
    }

    #[test]
    fn udp_fields() {
        let mut b = [0x00, 0x35, 0xc0, 0x00, 0x00, 0x0c, 0x12, 0x34, 1, 2, 3, 4];
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port()), (53, 0xc000));
        assert_eq!(u.len(), 12);
        assert!(!u.is_empty());
        assert_eq!(u.checksum(), 0x1234);
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        u.set_src_port(7);
        u.set_dst_port(9);
        u.set_len(0);
        assert_eq!((u.src_port(), u.dst_port(), u.len()), (7, 9, 0));
        assert!(u.is_empty());
        for n in 0..8 {
            assert_eq!(
                UdpPacket::new_checked(&b[..n]).unwrap_err(),
                DropReason::Truncated
            );
        }
    }

    #[test]
    fn icmp_fields() {
        let mut b = [8, 0, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x02];
        let i = IcmpPacket::new_checked(&b[..]).unwrap();
        assert_eq!((i.msg_type(), i.msg_code()), (8, 0));
        assert_eq!(i.checksum(), 0xf7fe);
        assert_eq!(i.rest_of_header(), 0x0001_0002);
        let mut i = IcmpPacket::new_unchecked(&mut b[..]);
        i.set_msg_type(11);
        i.set_msg_code(1);
        assert_eq!((i.msg_type(), i.msg_code()), (11, 1));
        for n in 0..8 {
            assert_eq!(
                IcmpPacket::new_checked(&b[..n]).unwrap_err(),
                DropReason::Truncated
            );
        }
    }

    #[test]
    fn ports_for_port_protocols_only() {
        let b = [0x00, 0x50, 0x01, 0xbb];
        assert_eq!(ports(ip_proto::TCP, &b), Some((80, 443)));
        assert_eq!(ports(ip_proto::UDP, &b), Some((80, 443)));
        assert_eq!(ports(ip_proto::SCTP, &b), Some((80, 443)));
        assert_eq!(ports(ip_proto::ICMP, &b), None);
        assert_eq!(ports(ip_proto::TCP, &b[..3]), None);
    }

    proptest! {
        #[test]
        fn check_len_ok_means_no_accessor_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(t) = TcpPacket::new_checked(&b[..]) {
                let _ = (t.src_port(), t.dst_port(), t.seq_number(), t.ack_number(), t.flags());
                let _ = (t.window_len(), t.checksum(), t.urgent_at(), t.options());
            }
            if let Ok(u) = UdpPacket::new_checked(&b[..]) {
                let _ = (u.src_port(), u.dst_port(), u.len(), u.checksum());
            }
            if let Ok(i) = IcmpPacket::new_checked(&b[..]) {
                let _ = (i.msg_type(), i.msg_code(), i.checksum(), i.rest_of_header());
            }
            let _ = ports(b.first().copied().unwrap_or(0), &b);
        }
    }
}
