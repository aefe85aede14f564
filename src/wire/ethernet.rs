//! Ethernet II frame header view.
//!
//! Only the 14-byte untagged header is described here; VLAN tags (0x8100,
//! 0x88a8) are recognised by their ethertype, and l3 mode drops tagged frames
//! as `Unsupported` (see `fwd::l3`).

use super::{read_array, read_u16, write_u16, Field, MacAddr, Rest};
use crate::drop_reason::DropReason;

/// Ethertype values napifwd recognises.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag (C-tag).
    pub const VLAN: u16 = 0x8100;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// IEEE 802.1ad service VLAN tag (S-tag, "QinQ").
    pub const QINQ: u16 = 0x88a8;
}

/// Length of the untagged Ethernet header (no FCS).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

mod field {
    use super::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// A view of an Ethernet II frame.
///
/// After [`check_len`](Self::check_len) (buffer >= 14 bytes) no accessor panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Length of the untagged Ethernet header.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it; accessors may panic on a short one.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer and checks its length (see [`check_len`](Self::check_len)).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// `Err(Truncated)` if the buffer cannot hold the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
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

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr(read_array(self.buffer.as_ref(), field::DESTINATION.start))
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        MacAddr(read_array(self.buffer.as_ref(), field::SOURCE.start))
    }

    /// The ethertype (or the TPID of a VLAN tag).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }

    /// Everything after the 14-byte header, including any Ethernet padding.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the ethertype.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, value);
    }

    /// Mutable access to everything after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x00, // IPv4
        0xaa, 0xbb, 0xcc, 0xdd,
    ];

    #[test]
    fn reads_fields() {
        let f = EthernetFrame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), MacAddr([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.src_addr(), MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(EthernetFrame::<&[u8]>::HEADER_LEN, 14);
    }

    #[test]
    fn writes_fields() {
        let mut buf = FRAME;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.set_dst_addr(MacAddr([0xff; 6]));
        f.set_src_addr(MacAddr([1, 2, 3, 4, 5, 6]));
        f.set_ethertype(ethertype::IPV6);
        f.payload_mut()[0] = 0x11;
        assert_eq!(
            buf,
            [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0x86, 0xdd, 0x11, 0xbb, 0xcc,
                0xdd
            ]
        );
    }

    #[test]
    fn header_only_frame_has_empty_payload() {
        let f = EthernetFrame::new_checked(&FRAME[..14]).unwrap();
        assert!(f.payload().is_empty());
    }

    #[test]
    fn short_buffers_are_truncated() {
        for n in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&FRAME[..n]).unwrap_err(),
                DropReason::Truncated
            );
        }
    }

    #[test]
    fn ethertype_values() {
        assert_eq!(ethertype::IPV4, 0x0800);
        assert_eq!(ethertype::IPV6, 0x86dd);
        assert_eq!(ethertype::ARP, 0x0806);
        assert_eq!(ethertype::VLAN, 0x8100);
        assert_eq!(ethertype::QINQ, 0x88a8);
    }
}
