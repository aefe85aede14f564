//! IP prefixes (`198.18.0.0/15`, `2001:db8::/32`) as routes and filter rules use them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: an address whose bits past `len` are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix string did not parse. The message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParsePrefixError {
    /// No `/len` part.
    #[error("invalid prefix {0:?}: expected ADDRESS/LENGTH, e.g. 198.18.0.0/15 or 2001:db8::/32")]
    Syntax(String),
    /// The address part is not an IP address.
    #[error("invalid prefix {0:?}: {1:?} is not an IPv4 or IPv6 address")]
    Address(String, String),
    /// The length is not a number in range for the family.
    #[error("invalid prefix {0:?}: length must be 0..={1}")]
    Length(String, u8),
    /// Bits past the length are set, like `ip route` rejects.
    #[error("invalid prefix {0:?}: host bits are set; did you mean {1}?")]
    HostBits(String, IpPrefix),
}

impl IpPrefix {
    /// Builds a prefix, rejecting lengths beyond the family's width and set host bits.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, ParsePrefixError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let text = format!("{addr}/{len}");
        if len > max {
            return Err(ParsePrefixError::Length(text, max));
        }
        let p = IpPrefix { addr, len };
        let masked = p.network();
        if masked.addr != addr {
            return Err(ParsePrefixError::HostBits(text, masked));
        }
        Ok(p)
    }

    /// The network address.
    pub const fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits (not a collection length: there is no
    /// `is_empty`; a /0 prefix is the default route, not empty).
    #[allow(clippy::len_without_is_empty)]
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// True for IPv4 prefixes.
    pub const fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The same prefix with its host bits cleared.
    fn network(&self) -> IpPrefix {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_u32(self.len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_u128(self.len))),
        };
        IpPrefix {
            addr,
            len: self.len,
        }
    }

    /// True when `ip` is inside this prefix (false across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask_u32(self.len) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask_u128(self.len) == u128::from(n),
            _ => false,
        }
    }
}

fn mask_u32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask_u128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

impl FromStr for IpPrefix {
    type Err = ParsePrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| ParsePrefixError::Syntax(s.to_owned()))?;
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| ParsePrefixError::Address(s.to_owned(), a.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = l
            .trim()
            .parse()
            .map_err(|_| ParsePrefixError::Length(s.to_owned(), max))?;
        IpPrefix::new(addr, len)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_and_v6() {
        let p: IpPrefix = "198.18.0.0/15".parse().unwrap();
        assert!(p.is_ipv4());
        assert_eq!(p.len(), 15);
        assert!(p.contains("198.19.255.255".parse().unwrap()));
        assert!(!p.contains("198.20.0.0".parse().unwrap()));
        let q: IpPrefix = "2001:db8::/32".parse().unwrap();
        assert!(q.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!q.contains("198.18.0.1".parse().unwrap()));
        assert_eq!(q.to_string(), "2001:db8::/32");
        let all: IpPrefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn rejects_with_a_fix() {
        let e = "10.0.0.1/8".parse::<IpPrefix>().unwrap_err();
        assert!(e.to_string().contains("did you mean 10.0.0.0/8"), "{e}");
        assert!(matches!(
            "10.0.0.0/33".parse::<IpPrefix>(),
            Err(ParsePrefixError::Length(..))
        ));
        assert!(matches!(
            "10.0.0.0".parse::<IpPrefix>(),
            Err(ParsePrefixError::Syntax(..))
        ));
        assert!(matches!(
            "10.0.0/8".parse::<IpPrefix>(),
            Err(ParsePrefixError::Address(..))
        ));
        assert!(matches!(
            "::/129".parse::<IpPrefix>(),
            Err(ParsePrefixError::Length(..))
        ));
    }
}
