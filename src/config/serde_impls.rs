//! Serde for the wire types the config uses and for the config's own
//! keyword and string-or-number types. Each is written as TOML writes it by
//! hand: MACs and prefixes as strings, keywords as lowercase strings,
//! `src_mac` as `"port"` or a MAC, `proto` as a name or a number. Parse
//! errors carry the wire types' own messages, which name the expected form.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::types::{
    FilterWhen, ForwardMode, FreeMode, IdleMode, IovaMode, IpProto, LogLevel, OverloadPolicy,
    RpsHash, RuleAction, SrcMac,
};
use crate::wire::{IpPrefix, MacAddr};

/// A keyword enum: `as_str`, `NAMES`, `Display`, `FromStr` and serde, all
/// from one table of TOML spellings (canonical name first, then aliases).
///
/// Hand-written rather than `#[derive(Deserialize)]` so that a wrong type
/// reads "invalid type: integer `3`, expected one of "poll", "park"" instead
/// of toml's "wanted string or table".
macro_rules! keyword_enum {
    ($ty:ident { $($variant:ident => $name:literal $(| $alias:literal)*),+ $(,)? }) => {
        impl $ty {
            /// The TOML spellings, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The TOML spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name $(| $alias)* => Ok($ty::$variant),)+
                    _ => Err(format!("unknown value {s:?}: use {}", quoted(Self::NAMES))),
                }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeywordVisitor;

                impl Visitor<'_> for KeywordVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{}", quoted($ty::NAMES))
                    }

                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(|_| E::unknown_variant(v, $ty::NAMES))
                    }
                }

                d.deserialize_str(KeywordVisitor)
            }
        }
    };
}

/// `"a", "b" or "c"`
fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

keyword_enum!(IovaMode { Va => "va", Pa => "pa" });
keyword_enum!(IdleMode { Poll => "poll", Park => "park" });
keyword_enum!(RpsHash { Auto => "auto", Software => "software" });
keyword_enum!(ForwardMode { L2 => "l2", L3 => "l3" });
keyword_enum!(OverloadPolicy { None => "none", Drop => "drop", Demote => "demote", Filter => "filter" });
keyword_enum!(FilterWhen { Overload => "overload", Always => "always" });
keyword_enum!(RuleAction { Pass => "pass", Drop => "drop", RateLimit => "rate_limit" });
keyword_enum!(FreeMode { Immediate => "immediate", Batch => "batch", Owner => "owner" });
keyword_enum!(LogLevel {
    Error => "error",
    Warn => "warn" | "warning",
    Info => "info",
    Debug => "debug",
    Trace => "trace",
});

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
    fn keywords() {
        assert_eq!("warning".parse::<LogLevel>().unwrap(), LogLevel::Warn);
        assert_eq!(LogLevel::Warn.to_string(), "warn");
        assert_eq!(RuleAction::RateLimit.as_str(), "rate_limit");
        assert_eq!(OverloadPolicy::NAMES, ["none", "drop", "demote", "filter"]);
        assert_eq!(
            "l4".parse::<ForwardMode>().unwrap_err(),
            "unknown value \"l4\": use \"l2\" or \"l3\""
        );
        let de = |s: &str| FreeMode::deserialize(StrDeserializer::<ValueError>::new(s));
        assert_eq!(de("batch").unwrap(), FreeMode::Batch);
        assert_eq!(
            de("Batch").unwrap_err().to_string(),
            "unknown variant `Batch`, expected one of `immediate`, `batch`, `owner`"
        );
        let e = FreeMode::deserialize(I64Deserializer::<ValueError>::new(3)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: integer `3`, expected \"immediate\", \"batch\" or \"owner\""
        );
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
