//! Zero-copy views of the packet headers napifwd reads and rewrites.

mod mac;
mod prefix;

pub use mac::{MacAddr, ParseMacError};
pub use prefix::{IpPrefix, ParsePrefixError};
