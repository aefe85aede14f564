//! IPv4 header view (RFC 791), with RFC 1071 checksum and RFC 1624
//! incremental update for the TTL decrement.

use std::net::Ipv4Addr;

use super::checksum;
use super::{read_u16, read_u32, write_u16, write_u32, Field};
use crate::drop_reason::DropReason;

/// Length of the IPv4 header without options.
pub const MIN_HEADER_LEN: usize = field::DST_ADDR.end;

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Flag bit: don't fragment (in the high byte of the flags/offset word).
const FLAG_DF: u16 = 0x4000;
/// Flag bit: more fragments.
const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask, in 8-octet units.
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet (header, options and payload).
///
/// Which accessors are safe after which check:
/// - buffer >= 20 bytes: every fixed-header accessor and setter (version
///   through `dst_addr`, `decrement_ttl`);
/// - additionally `header_len() <= buffer len`: `options`,
///   `compute_checksum`, `verify_checksum`, `fill_checksum`;
/// - [`check_len`](Self::check_len) `Ok`: everything, including `payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Length of the header without options.
    pub const MIN_HEADER_LEN: usize = MIN_HEADER_LEN;

    /// Wraps a buffer without checking it; accessors may panic on a short one.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer and checks it (see [`check_len`](Self::check_len)).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that every accessor can be called without panicking:
    /// - buffer shorter than 20 bytes: `Truncated`;
    /// - IHL < 5: `BadHeader`;
    /// - buffer shorter than the header length: `Truncated`;
    /// - total length smaller than the header length: `BadHeader`;
    /// - buffer shorter than the total length: `Truncated`.
    ///
    /// The version is not checked (it is not a length): callers check
    /// [`version`](Self::version). Bytes past the total length (Ethernet
    /// padding) are allowed and ignored by [`payload`](Self::payload).
    #[inline]
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < Self::MIN_HEADER_LEN {
            return Err(DropReason::Truncated);
        }
        let header_len = self.header_len();
        if header_len < Self::MIN_HEADER_LEN {
            return Err(DropReason::BadHeader);
        }
        if len < header_len {
            return Err(DropReason::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(DropReason::BadHeader);
        }
        if len < total_len {
            return Err(DropReason::Truncated);
        }
        Ok(())
    }

    /// Unwraps the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (4 for a valid packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Internet header length in 32-bit words (>= 5 for a valid packet).
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Header length in bytes, options included: `4 * ihl`.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length of the datagram (header + payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// The three flag bits as a 3-bit value: `0b100` reserved (evil bit),
    /// `0b010` don't fragment, `0b001` more fragments.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLG_OFF.start] >> 5
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_fragments(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// Fragment offset in 8-octet units, as on the wire.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FRAG_OFFSET_MASK
    }

    /// True for any fragment of a fragmented datagram, the first included:
    /// MF set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol number of the payload (see [`ip_proto`](super::ip_proto)).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address, host byte order.
    #[inline]
    pub fn src_u32(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    /// Destination address, host byte order.
    #[inline]
    pub fn dst_u32(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_u32())
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_u32())
    }

    /// The options: bytes 20..header_len (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[Self::MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload: bytes header_len..total_len; Ethernet padding past the
    /// total length is not part of it.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// The RFC 1071 checksum of the header (options included), computed as if
    /// the checksum field were zero.
    #[inline]
    pub fn compute_checksum(&self) -> u16 {
        let h = &self.buffer.as_ref()[..self.header_len()];
        // Both pieces start at even offsets, so word alignment is preserved.
        !checksum::fold(
            checksum::sum(&h[..field::CHECKSUM.start]) + checksum::sum(&h[field::CHECKSUM.end..]),
        )
    }

    /// True when the header (options included) sums to 0xffff, i.e. the
    /// stored checksum is right (RFC 1812 5.2.2). Both representations of
    /// zero (0x0000 and 0xffff) verify, as RFC 1624 section 3 requires.
    #[inline(always)]
    pub fn verify_checksum(&self) -> bool {
        let h = &self.buffer.as_ref()[..self.header_len()];
        checksum::sums_to_ones(h)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (must be a multiple of 4, <= 60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }

    /// Sets the DSCP (6 bits).
    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (dscp << 2);
    }

    /// Sets the ECN bits (2 bits).
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (ecn & 0x03);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, ident);
    }

    /// Sets the flags (3 bits, as [`flags`](Ipv4Packet::flags) returns them)
    /// and the fragment offset (13 bits, 8-octet units).
    #[inline]
    pub fn set_flags_and_frag_offset(&mut self, flags: u8, offset: u16) {
        let v = (u16::from(flags & 0x07) << 13) | (offset & FRAG_OFFSET_MASK);
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    /// Sets the TTL without touching the checksum.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, proto: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = proto;
    }

    /// Stores a checksum value.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::SRC_ADDR.start, addr.into());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write_u32(self.buffer.as_mut(), field::DST_ADDR.start, addr.into());
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }

    /// Mutable options.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[Self::MIN_HEADER_LEN..hl]
    }

    /// Mutable payload (header_len..total_len).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }

    /// Decrements the TTL by one and updates the checksum incrementally
    /// (RFC 1624: the TTL/protocol word goes down by 0x0100, so the
    /// checksum goes up by as much), the way a router does (RFC 1812
    /// 5.3.1). Needs only the 20-byte fixed header: options are not read.
    /// A TTL of 0 is left alone (it cannot go lower; `classify` drops
    /// such packets before any rewrite). The result is bit-identical to a full
    /// recomputation when the checksum was right, and stays wrong when it was
    /// wrong.
    #[inline]
    pub fn decrement_ttl(&mut self) {
        let d = self.buffer.as_mut();
        let ttl = d[field::TTL];
        if ttl == 0 {
            return;
        }
        d[field::TTL] = ttl - 1;
        // The TTL/protocol word went down by 0x0100, so the checksum goes up
        // by as much, with its carry added back in; a sum that lands on
        // 0xffff becomes 0x0000 (the kernel's ip_decrease_ttl; what eqn. 3
        // gives, which never yields 0xffff). Done on the bytes as stored:
        // the one's complement sum does not depend on byte order, so the
        // addend is 0x0100 as stored, read natively (RFC 1071 2.B).
        let c = field::CHECKSUM.start;
        let stored = u32::from(u16::from_ne_bytes([d[c], d[c + 1]]));
        let sum = stored + u32::from(u16::from_ne_bytes([0x01, 0x00]));
        let sum = sum + u32::from(sum >= 0xffff);
        d[c..c + 2].copy_from_slice(&(sum as u16).to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_proto;
    use proptest::prelude::*;

    // A TCP header 172.16.10.99 -> 172.16.10.12 + 4 payload bytes; checksum
    // 0xb20a computed independently (python: sum words, fold, invert).
    const PKT: [u8; 24] = [
        0x45, 0x00, 0x00, 0x18, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb2, 0x0a, 0xac, 0x10, 0x0a,
        0x63, 0xac, 0x10, 0x0a, 0x0c, 0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn reads_fields() {
        let p = Ipv4Packet::new_checked(&PKT[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.ihl(), 5);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0x1c46);
        assert_eq!(p.flags(), 0b010);
        assert!(p.dont_fragment());
        assert!(!p.more_fragments());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), ip_proto::TCP);
        assert_eq!(p.checksum(), 0xb20a);
        assert_eq!(p.src_addr(), Ipv4Addr::new(172, 16, 10, 99));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(172, 16, 10, 12));
        assert_eq!(p.src_u32(), 0xac10_0a63);
        assert_eq!(p.dst_u32(), 0xac10_0a0c);
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(p.compute_checksum(), 0xb20a);
        assert!(p.verify_checksum());
    }

    #[test]
    fn dscp_ecn_and_fragment_bits() {
        let mut b = PKT;
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_dscp(46);
        p.set_ecn(3);
        assert_eq!((p.dscp(), p.ecn()), (46, 3));
        p.set_ecn(1);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        p.set_flags_and_frag_offset(0b001, 0);
        assert!(p.more_fragments() && !p.dont_fragment() && p.is_fragment());
        p.set_flags_and_frag_offset(0b000, 185);
        assert!(!p.more_fragments() && p.is_fragment());
        assert_eq!(p.frag_offset(), 185);
        p.set_flags_and_frag_offset(0b110, 0x1fff);
        assert_eq!(p.flags(), 0b110);
        assert!(p.dont_fragment() && !p.more_fragments() && p.is_fragment());
        assert_eq!(p.frag_offset(), 0x1fff);
        p.set_flags_and_frag_offset(0b010, 0);
        assert!(!p.is_fragment());
    }

    #[test]
    fn setters_round_trip_and_fill_checksum() {
        let mut b = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(24);
        p.set_total_len(28);
        p.set_ident(0xbeef);
        p.set_ttl(1);
        p.set_protocol(ip_proto::UDP);
        p.set_src_addr(Ipv4Addr::new(198, 18, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 19, 255, 254));
        p.options_mut().copy_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
        p.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.check_len(), Ok(()));
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        assert_eq!(p.ident(), 0xbeef);
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 19, 255, 254));
        // The options are covered by the checksum.
        p.options_mut()[0] = 0x44;
        assert!(!p.verify_checksum());
        // set_checksum stores verbatim.
        p.set_checksum(0x1234);
        assert_eq!(p.checksum(), 0x1234);
    }

    #[test]
    fn check_len_errors() {
        let ok = |b: &[u8]| Ipv4Packet::new_checked(b).map(|_| ());
        assert_eq!(ok(&PKT), Ok(()));
        // Padding past total_len is fine and not in the payload.
        let mut padded = [0u8; 46];
        padded[..24].copy_from_slice(&PKT);
        let p = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload().len(), 4);
        for n in 0..20 {
            assert_eq!(ok(&PKT[..n]), Err(DropReason::Truncated), "len {n}");
        }
        let mut b = PKT;
        b[0] = 0x44; // IHL 4
        assert_eq!(ok(&b), Err(DropReason::BadHeader));
        b[0] = 0x46; // IHL 6 = 24 bytes, buffer 24: ok but total_len 24 == header
        assert_eq!(ok(&b), Ok(()));
        assert!(Ipv4Packet::new_checked(&b[..])
            .unwrap()
            .payload()
            .is_empty());
        b[0] = 0x47; // 28-byte header in a 24-byte buffer
        assert_eq!(ok(&b), Err(DropReason::Truncated));
        let mut b = PKT;
        b[2..4].copy_from_slice(&19u16.to_be_bytes()); // total < header
        assert_eq!(ok(&b), Err(DropReason::BadHeader));
        b[2..4].copy_from_slice(&25u16.to_be_bytes()); // total > buffer
        assert_eq!(ok(&b), Err(DropReason::Truncated));
    }

    /// Builds a 20-byte header whose correct checksum is `want` (any value
    /// but 0xffff, which a full computation over non-zero data never yields)
    /// by choosing the identification field.
    fn header_with_checksum(ttl: u8, proto: u8, want: u16) -> [u8; 20] {
        let mut h = [0u8; 20];
        h.copy_from_slice(&PKT[..20]);
        h[8] = ttl;
        h[9] = proto;
        h[4..6].copy_from_slice(&[0, 0]);
        h[10..12].copy_from_slice(&[0, 0]);
        // data sum without ident: s. We need fold(s + ident) == !want.
        let s = checksum::fold(checksum::sum(&h));
        let target = !want;
        // one's complement subtraction: ident = target - s
        let ident = checksum::fold(u64::from(target) + u64::from(!s));
        h[4..6].copy_from_slice(&ident.to_be_bytes());
        let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
        p.fill_checksum();
        h
    }

    #[test]
    fn header_builder_hits_requested_checksums() {
        for want in [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0xfeff, 0xfffe] {
            let h = header_with_checksum(64, 6, want);
            assert_eq!(Ipv4Packet::new_unchecked(&h[..]).checksum(), want);
        }
    }

    fn check_decrement(h: [u8; 20]) {
        let mut inc = h;
        Ipv4Packet::new_unchecked(&mut inc[..]).decrement_ttl();
        let mut full = inc;
        Ipv4Packet::new_unchecked(&mut full[..]).fill_checksum();
        let p = Ipv4Packet::new_unchecked(&inc[..]);
        assert_eq!(p.ttl(), h[8].saturating_sub(1));
        assert_eq!(
            p.checksum(),
            Ipv4Packet::new_unchecked(&full[..]).checksum(),
            "ttl {} proto {} hc {:#06x}",
            h[8],
            h[9],
            Ipv4Packet::new_unchecked(&h[..]).checksum()
        );
        assert!(p.verify_checksum());
        assert_eq!(inc[..8], h[..8]);
        assert_eq!(inc[9], h[9]);
        assert_eq!(inc[12..], h[12..]);
    }

    /// Every TTL against every starting checksum value, including the
    /// checksums around the wrap (0x0000, 0x00ff, 0x0100, 0xfeff, 0xfffe)
    /// and the "negative zero" 0xffff, compared with a full recomputation.
    #[test]
    fn decrement_ttl_matches_full_recompute_exhaustively() {
        for ttl in 1..=255u8 {
            for proto in [0u8, 6, 255] {
                // Every 0x101-th checksum plus the edges, for every TTL...
                for want in (0..0xffffu32).step_by(0x101).chain([
                    0x0000, 0x0001, 0x00fe, 0x00ff, 0x0100, 0x0101, 0xfeff, 0xff00, 0xfffe,
                ]) {
                    check_decrement(header_with_checksum(ttl, proto, want as u16));
                }
                // ...and the alternate representation of zero: a header whose
                // checksum computes to 0x0000 but is stored as 0xffff.
                let mut h = header_with_checksum(ttl, proto, 0x0000);
                h[10..12].copy_from_slice(&[0xff, 0xff]);
                assert!(Ipv4Packet::new_unchecked(&h[..]).verify_checksum());
                check_decrement(h);
            }
        }
        // For one TTL, truly every starting checksum.
        for want in 0..0xffffu32 {
            check_decrement(header_with_checksum(2, 17, want as u16));
        }
    }

    #[test]
    fn decrement_ttl_zero_is_a_no_op_and_one_goes_to_zero() {
        let mut h = header_with_checksum(0, 6, 0x1234);
        let before = h;
        Ipv4Packet::new_unchecked(&mut h[..]).decrement_ttl();
        assert_eq!(h, before);
        let mut h = header_with_checksum(1, 6, 0x1234);
        Ipv4Packet::new_unchecked(&mut h[..]).decrement_ttl();
        let p = Ipv4Packet::new_unchecked(&h[..]);
        assert_eq!(p.ttl(), 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn decrement_ttl_keeps_a_bad_checksum_bad_by_the_same_amount() {
        let mut h = header_with_checksum(64, 6, 0x5555);
        h[10] ^= 0x10; // corrupt
        let err_before = checksum::fold(checksum::sum(&h));
        Ipv4Packet::new_unchecked(&mut h[..]).decrement_ttl();
        assert_eq!(checksum::fold(checksum::sum(&h)), err_before);
        assert!(!Ipv4Packet::new_unchecked(&h[..]).verify_checksum());
    }

    #[test]
    fn decrement_ttl_with_options_verifies() {
        let mut b = [0u8; 32];
        b[..20].copy_from_slice(&PKT[..20]);
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.set_header_len(32);
        p.set_total_len(32);
        p.options_mut()
            .copy_from_slice(&[0x07, 0x0b, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
        p.fill_checksum();
        p.decrement_ttl();
        assert!(p.verify_checksum());
        assert_eq!(p.ttl(), 63);
    }

    proptest! {
        #[test]
        fn decrement_ttl_equals_recompute_for_random_headers(
            mut h in proptest::array::uniform20(any::<u8>()),
            stored_zero_as_ffff in any::<bool>(),
        ) {
            h[0] = 0x45;
            let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
            p.fill_checksum();
            if stored_zero_as_ffff && p.checksum() == 0 {
                p.set_checksum(0xffff);
            }
            check_decrement(h);
        }

        #[test]
        fn check_len_ok_means_no_accessor_panics(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let p = Ipv4Packet::new_unchecked(&b[..]);
            if p.check_len().is_ok() {
                let _ = (p.version(), p.ihl(), p.dscp(), p.ecn(), p.total_len(), p.ident());
                let _ = (p.flags(), p.is_fragment(), p.frag_offset(), p.ttl(), p.protocol());
                let _ = (p.checksum(), p.src_addr(), p.dst_addr(), p.options(), p.payload());
                let _ = (p.compute_checksum(), p.verify_checksum());
                prop_assert!(p.header_len() + p.payload().len() == usize::from(p.total_len()));
            }
        }
    }
}
