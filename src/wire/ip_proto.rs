//! IP protocol numbers (IPv4 `protocol`, IPv6 `next_header`) napifwd looks at.
//!
//! Plain `u8` constants rather than an enum: the field is read on the hot path
//! and compared against a few values, and unknown numbers are legal traffic.

/// IPv6 Hop-by-Hop Options extension header (RFC 8200).
pub const HOPOPTS: u8 = 0;
/// ICMP for IPv4 (RFC 792).
pub const ICMP: u8 = 1;
/// TCP.
pub const TCP: u8 = 6;
/// UDP.
pub const UDP: u8 = 17;
/// IPv6 Routing extension header.
pub const ROUTING: u8 = 43;
/// IPv6 Fragment extension header.
pub const FRAGMENT: u8 = 44;
/// Encapsulating Security Payload.
pub const ESP: u8 = 50;
/// Authentication Header.
pub const AH: u8 = 51;
/// ICMP for IPv6 (RFC 4443).
pub const ICMPV6: u8 = 58;
/// IPv6 "no next header".
pub const NONXT: u8 = 59;
/// IPv6 Destination Options extension header.
pub const DSTOPTS: u8 = 60;
/// SCTP (ports at the same offsets as TCP and UDP).
pub const SCTP: u8 = 132;

/// True for protocols whose header starts with 16-bit source and destination
/// ports: TCP, UDP and SCTP.
#[inline]
pub const fn has_ports(proto: u8) -> bool {
    matches!(proto, TCP | UDP | SCTP)
}
