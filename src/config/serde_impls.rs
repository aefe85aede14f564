//! Serde for the wire types the config uses and for the config's own
//! string-or-number types. Each is written as TOML writes it by hand: MACs
//! and prefixes as strings, `src_mac` as `"port"` or a MAC, `proto` as a name
//! or a number. Parse errors carry the wire types' own messages, which name
//! the expected form.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::types::{IpProto, SrcMac};
use crate::wire::{IpPrefix, MacAddr};

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for IpPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// The TOML spelling of [`SrcMac::Port`].
const SRC_MAC_PORT: &str = "port";

impl Serialize for SrcMac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SrcMac::Port => s.serialize_str(SRC_MAC_PORT),
            SrcMac::Mac(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for SrcMac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == SRC_MAC_PORT {
            return Ok(SrcMac::Port);
        }
        s.parse().map(SrcMac::Mac).map_err(|_| {
            de::Error::custom(format!(
                "invalid src_mac {s:?}: use \"{SRC_MAC_PORT}\" (the output port's MAC) \
                 or a MAC address like 02:00:00:00:00:01"
            ))
        })
    }
}

/// `proto` names, as the TOML spells them.
const PROTO_NAMES: [(&str, IpProto); 4] = [
    ("tcp", IpProto::Tcp),
    ("udp", IpProto::Udp),
    ("icmp", IpProto::Icmp),
    ("icmpv6", IpProto::Icmpv6),
];

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match PROTO_NAMES.iter().find(|(_, p)| p == self) {
            Some((name, _)) => s.serialize_str(name),
            None => s.serialize_u8(self.number()),
        }
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match PROTO_NAMES.iter().find(|(_, p)| p == self) {
            Some((name, _)) => f.write_str(name),
            None => write!(f, "{}", self.number()),
        }
    }
}

struct IpProtoVisitor;

impl Visitor<'_> for IpProtoVisitor {
    type Value = IpProto;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"tcp\", \"udp\", \"icmp\", \"icmpv6\" or an IP protocol number 0..=255")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<IpProto, E> {
        PROTO_NAMES
            .iter()
            .find(|(name, _)| *name == v)
            .map(|&(_, p)| p)
            .ok_or_else(|| {
                E::custom(format!(
                    "unknown protocol {v:?}: use \"tcp\", \"udp\", \"icmp\", \"icmpv6\" \
                     or the IP protocol number (e.g. proto = 47 for GRE)"
                ))
            })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<IpProto, E> {
        u8::try_from(v)
            .map(IpProto::from_number)
            .map_err(|_| E::custom(format!("protocol number {v} is out of range: use 0..=255")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<IpProto, E> {
        u8::try_from(v)
            .map(IpProto::from_number)
            .map_err(|_| E::custom(format!("protocol number {v} is out of range: use 0..=255")))
    }
}

impl<'de> Deserialize<'de> for IpProto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IpProtoVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, I64Deserializer, StrDeserializer};

    fn proto_str(s: &str) -> Result<IpProto, ValueError> {
        IpProto::deserialize(StrDeserializer::<ValueError>::new(s))
    }

    fn proto_int(n: i64) -> Result<IpProto, ValueError> {
        IpProto::deserialize(I64Deserializer::<ValueError>::new(n))
    }

    #[test]
    fn proto_names_and_numbers() {
        assert_eq!(proto_str("tcp").unwrap(), IpProto::Tcp);
        assert_eq!(proto_str("icmpv6").unwrap(), IpProto::Icmpv6);
        assert_eq!(proto_int(6).unwrap(), IpProto::Tcp);
        assert_eq!(proto_int(58).unwrap(), IpProto::Icmpv6);
        assert_eq!(proto_int(47).unwrap(), IpProto::Other(47));
        assert_eq!(IpProto::Other(47).to_string(), "47");
        assert_eq!(IpProto::Udp.to_string(), "udp");
        let e = proto_str("gre").unwrap_err().to_string();
        assert!(e.contains("proto = 47"), "{e}");
        assert!(proto_int(256).unwrap_err().to_string().contains("0..=255"));
        assert!(proto_int(-1).is_err());
    }

    #[test]
    fn every_number_round_trips_through_from_number() {
        for n in 0..=255u8 {
            assert_eq!(IpProto::from_number(n).number(), n);
        }
    }

    #[test]
    fn src_mac_port_or_mac() {
        let de = |s: &str| SrcMac::deserialize(StrDeserializer::<ValueError>::new(s));
        assert_eq!(de("port").unwrap(), SrcMac::Port);
        assert_eq!(
            de("02:00:00:00:00:09").unwrap(),
            SrcMac::Mac(MacAddr([2, 0, 0, 0, 0, 9]))
        );
        let e = de("Port").unwrap_err().to_string();
        assert!(e.contains("use \"port\""), "{e}");
    }
}
