//! Zero-copy views of the packet headers napifwd reads and rewrites.
//!
//! The model is smoltcp's `wire` module: a header view is a thin wrapper
//! `Packet<T: AsRef<[u8]>>` over a borrowed buffer (here: a slice of an mbuf's
//! first segment), its field offsets live in a private `mod field`, and
//!
//! - `new_unchecked` wraps any buffer; accessors index the buffer directly and
//!   may panic if it is too short;
//! - `check_len` validates the buffer once; after it returns `Ok`, **no
//!   accessor of that view can panic** (each view documents exactly what its
//!   `check_len` covers);
//! - `new_checked` is `new_unchecked` + `check_len`.
//!
//! Errors are [`DropReason`](crate::drop_reason::DropReason)s, because a
//! forwarder has nothing else to do with a malformed header than to drop it and
//! count why: `Truncated` when the buffer is shorter than a length says,
//! `BadHeader` when a header field itself is inconsistent.
//!
//! Views never allocate and never log; small accessors are `#[inline]` so that
//! after one length check the compiler reads fixed offsets without further
//! bounds checks.

pub mod checksum;
pub mod ethernet;
pub mod ip_proto;
pub mod ipv4;
pub mod ipv6;
pub mod l4;
mod mac;
// `IpPrefix::len` is the prefix length, not a container size: an
// `is_empty` would mean nothing.
#[allow(clippy::len_without_is_empty)]
mod prefix;

#[cfg(test)]
pub(crate) mod testutil;

pub use ethernet::{ethertype, EthernetFrame};
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;
pub use l4::{IcmpPacket, TcpPacket, UdpPacket};
pub use mac::{MacAddr, ParseMacError};
pub use prefix::{IpPrefix, ParsePrefixError};

/// A header field: a fixed byte range.
type Field = core::ops::Range<usize>;
/// The rest of a buffer from a fixed offset.
type Rest = core::ops::RangeFrom<usize>;

/// Big-endian u16 at `at`. Panics if `at + 2 > d.len()`; views call it only
/// with constant offsets inside the length they checked.
#[inline(always)]
fn read_u16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

/// Big-endian u32 at `at` (same contract as [`read_u16`]).
#[inline(always)]
fn read_u32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Writes a big-endian u16 at `at` (same contract as [`read_u16`]).
#[inline(always)]
fn write_u16(d: &mut [u8], at: usize, v: u16) {
    d[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 at `at` (same contract as [`read_u16`]).
#[inline(always)]
fn write_u32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Copies a fixed-size array out of `d[range]` (the range is a constant field).
#[inline(always)]
fn read_array<const N: usize>(d: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&d[at..at + N]);
    out
}
