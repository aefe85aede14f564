//! The XDP-like overload filter: TOML rules judged on each packet at RX,
//! before steering, while the packet's worker is overloaded (or always).
//!
//! Rules are matched first-match-wins on what a packet's headers say
//! (ethertype, IP protocol, source/destination prefix, L4 ports, DSCP, TCP
//! flags); the action is `pass`, `drop`, or `rate_limit` (a token bucket in
//! packets per second with a burst depth). No match takes `default_action`.
//! Each RX worker owns its own copy of the filter, so buckets and counters
//! are single-writer: a `rate_limit` of N pps allows N pps per RX worker.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::config::{self, FilterConfig, IpProto, RuleAction, TcpFlags};
use crate::stats::Counter;
use crate::wire::{ethertype, l4, EthernetFrame, IpPrefix, Ipv4Packet, Ipv6Packet, TcpPacket};

/// Pass or drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the packet.
    Pass,
    /// Drop it (counted `filter`).
    Drop,
}

/// A token bucket over a caller-supplied clock (TSC ticks): `rate` packets
/// per `hz` ticks, at most `burst` saved up. Fixed point: one token is `hz`
/// units, so no division on the fast path.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    units: u64,
    cap: u64,
    rate: u64,
    hz: u64,
    last: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(pps: u64, burst: u64, hz: u64, now: u64) -> TokenBucket {
        let hz = hz.max(1);
        let cap = burst.max(1).saturating_mul(hz);
        TokenBucket {
            units: cap,
            cap,
            rate: pps,
            hz,
            last: now,
        }
    }

    /// Takes one token if there is one.
    #[inline]
    pub fn take(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.last = now;
        self.units = self
            .units
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.cap);
        if self.units >= self.hz {
            self.units -= self.hz;
            true
        } else {
            false
        }
    }
}

/// Per-rule counters, shared with readers (single writer: the RX worker).
#[derive(Debug, Default)]
pub struct RuleCounters {
    /// Packets the rule matched.
    pub matched: Counter,
    /// Of those, packets it dropped (drop, or rate_limit over the rate).
    pub dropped: Counter,
}

/// Counters of one worker's filter: one per rule, then the default action.
#[derive(Debug)]
pub struct FilterCounters {
    /// Rule names, in order, then "default".
    pub names: Vec<String>,
    /// Counters by rule index; the last entry is the default action.
    pub rules: Vec<RuleCounters>,
}

impl FilterCounters {
    /// Counters for `cfg`'s rules plus the default action.
    pub fn new(cfg: &FilterConfig) -> FilterCounters {
        let mut names: Vec<String> = cfg.rules.iter().map(|r| r.name.clone()).collect();
        names.push("default".into());
        let rules = names.iter().map(|_| RuleCounters::default()).collect();
        FilterCounters { names, rules }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    ethertype: Option<u16>,
    proto: Option<u8>,
    src: Option<IpPrefix>,
    dst: Option<IpPrefix>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    dscp: Option<u8>,
    tcp_flags: Option<TcpFlags>,
    action: RuleAction,
    bucket: Option<TokenBucket>,
}

/// What the rules look at, parsed once per packet.
#[derive(Debug, Default, Clone, Copy)]
struct Meta {
    ethertype: u16,
    ip: Option<IpMeta>,
}

#[derive(Debug, Clone, Copy)]
struct IpMeta {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    dscp: u8,
    /// L4 ports, when the protocol has them and this is the first fragment.
    ports: Option<(u16, u16)>,
    tcp_flags: Option<u8>,
}

fn parse(frame: &[u8]) -> Meta {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return Meta::default();
    };
    let et = eth.ethertype();
    let payload = eth.payload();
    let ip = match et {
        ethertype::IPV4 => Ipv4Packet::new_checked(payload).ok().map(|p| {
            let l4 = p.payload();
            let first = p.frag_offset() == 0;
            IpMeta {
                src: IpAddr::V4(Ipv4Addr::from(p.src_u32())),
                dst: IpAddr::V4(Ipv4Addr::from(p.dst_u32())),
                proto: p.protocol(),
                dscp: p.dscp(),
                ports: if first {
                    l4::ports(p.protocol(), l4)
                } else {
                    None
                },
                tcp_flags: tcp_flags(p.protocol(), first, l4),
            }
        }),
        ethertype::IPV6 => Ipv6Packet::new_checked(payload).ok().map(|p| {
            let l4 = p.payload();
            IpMeta {
                src: IpAddr::V6(Ipv6Addr::from(p.src_bytes())),
                dst: IpAddr::V6(Ipv6Addr::from(p.dst_bytes())),
                proto: p.next_header(),
                dscp: p.traffic_class() >> 2,
                ports: l4::ports(p.next_header(), l4),
                tcp_flags: tcp_flags(p.next_header(), true, l4),
            }
        }),
        _ => None,
    };
    Meta { ethertype: et, ip }
}

fn tcp_flags(proto: u8, first_fragment: bool, l4: &[u8]) -> Option<u8> {
    if proto != crate::wire::ip_proto::TCP || !first_fragment {
        return None;
    }
    TcpPacket::new_checked(l4).ok().map(|t| t.flags())
}

impl Rule {
    #[inline]
    fn matches(&self, m: &Meta) -> bool {
        if self.ethertype.is_some_and(|e| e != m.ethertype) {
            return false;
        }
        let needs_ip = self.proto.is_some()
            || self.src.is_some()
            || self.dst.is_some()
            || self.src_port.is_some()
            || self.dst_port.is_some()
            || self.dscp.is_some()
            || self.tcp_flags.is_some();
        if !needs_ip {
            return true;
        }
        let Some(ip) = m.ip else {
            return false;
        };
        self.proto.is_none_or(|p| p == ip.proto)
            && self.src.is_none_or(|p| p.contains(ip.src))
            && self.dst.is_none_or(|p| p.contains(ip.dst))
            && self
                .src_port
                .is_none_or(|p| ip.ports.is_some_and(|(s, _)| s == p))
            && self
                .dst_port
                .is_none_or(|p| ip.ports.is_some_and(|(_, d)| d == p))
            && self.dscp.is_none_or(|d| d == ip.dscp)
            && self
                .tcp_flags
                .is_none_or(|f| ip.tcp_flags.is_some_and(|b| f.matches(b)))
    }
}

/// One worker's compiled rule set.
#[derive(Debug)]
pub struct RuleFilter {
    rules: Vec<Rule>,
    default: RuleAction,
    default_bucket: Option<TokenBucket>,
    counters: Arc<FilterCounters>,
}

impl RuleFilter {
    /// Compiles validated `[overload.filter]` rules for a worker whose clock
    /// runs at `hz` ticks per second, starting at `now`.
    pub fn new(cfg: &FilterConfig, counters: Arc<FilterCounters>, hz: u64, now: u64) -> RuleFilter {
        let rules = cfg
            .rules
            .iter()
            .map(|r| Rule {
                ethertype: r.ethertype,
                proto: r.proto.map(IpProto::number),
                src: r.src,
                dst: r.dst,
                src_port: r.src_port,
                dst_port: r.dst_port,
                dscp: r.dscp,
                tcp_flags: r
                    .tcp_flags
                    .as_deref()
                    .and_then(|f| config::parse_tcp_flags(f).ok()),
                action: r.action,
                bucket: (r.action == RuleAction::RateLimit).then(|| {
                    TokenBucket::new(
                        r.pps.unwrap_or(0),
                        r.effective_burst().unwrap_or(1),
                        hz,
                        now,
                    )
                }),
            })
            .collect();
        RuleFilter {
            rules,
            default: cfg.default_action,
            default_bucket: None,
            counters,
        }
    }

    /// Judges one frame at time `now`.
    #[inline]
    pub fn judge(&mut self, frame: &[u8], now: u64) -> Verdict {
        let meta = parse(frame);
        let n = self.rules.len();
        let (idx, action, bucket) = match self.rules.iter_mut().position(|r| r.matches(&meta)) {
            Some(i) => {
                let r = &mut self.rules[i];
                (i, r.action, r.bucket.as_mut())
            }
            None => (n, self.default, self.default_bucket.as_mut()),
        };
        let verdict = match action {
            RuleAction::Pass => Verdict::Pass,
            RuleAction::Drop => Verdict::Drop,
            RuleAction::RateLimit => {
                if bucket.is_some_and(|b| b.take(now)) {
                    Verdict::Pass
                } else {
                    Verdict::Drop
                }
            }
        };
        if let Some(c) = self.counters.rules.get(idx) {
            c.matched.add(1);
            if verdict == Verdict::Drop {
                c.dropped.add(1);
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FilterRule;

    fn rule(name: &str, action: RuleAction) -> FilterRule {
        FilterRule {
            name: name.into(),
            ethertype: None,
            proto: None,
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
            dscp: None,
            tcp_flags: None,
            action,
            pps: None,
            burst: None,
        }
    }

    /// Ethernet + IPv4 + TCP/UDP with the given fields.
    fn v4(
        proto: u8,
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        tos: u8,
        tcp_flags: u8,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[1] = tos;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let l4 = &mut f[34..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if proto == 6 {
            l4[12] = 5 << 4;
            l4[13] = tcp_flags;
        } else {
            l4[4..6].copy_from_slice(&8u16.to_be_bytes());
        }
        f
    }

    fn filter(rules: Vec<FilterRule>, default: RuleAction) -> (RuleFilter, Arc<FilterCounters>) {
        let cfg = FilterConfig {
            rules,
            default_action: default,
            ..FilterConfig::default()
        };
        let c = Arc::new(FilterCounters::new(&cfg));
        (RuleFilter::new(&cfg, c.clone(), 1000, 0), c)
    }

    #[test]
    fn first_match_wins_and_default_applies() {
        let mut bgp = rule("keep-bgp", RuleAction::Pass);
        bgp.proto = Some(IpProto::Tcp);
        bgp.dst_port = Some(179);
        let mut udp = rule("drop-udp", RuleAction::Drop);
        udp.proto = Some(IpProto::Udp);
        let (mut f, c) = filter(vec![bgp, udp], RuleAction::Drop);
        let t = v4(6, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 179, 0, 0x02);
        let u = v4(17, [10, 0, 0, 1], [10, 0, 0, 2], 1, 179, 0, 0);
        let other_tcp = v4(6, [10, 0, 0, 1], [10, 0, 0, 2], 1, 80, 0, 0x10);
        assert_eq!(f.judge(&t, 0), Verdict::Pass);
        assert_eq!(f.judge(&u, 0), Verdict::Drop);
        assert_eq!(f.judge(&other_tcp, 0), Verdict::Drop, "default action");
        assert_eq!(c.rules[0].matched.get(), 1);
        assert_eq!(c.rules[1].dropped.get(), 1);
        assert_eq!(c.rules[2].matched.get(), 1);
    }

    #[test]
    fn prefixes_dscp_flags_and_ethertype() {
        let mut r = rule("syn-from-net", RuleAction::Drop);
        r.src = Some("10.1.0.0/16".parse().unwrap());
        r.dscp = Some(46);
        r.tcp_flags = Some("syn,!ack".into());
        let mut arp = rule("arp", RuleAction::Drop);
        arp.ethertype = Some(0x0806);
        let (mut f, _) = filter(vec![r, arp], RuleAction::Pass);
        let syn = v4(6, [10, 1, 2, 3], [1, 1, 1, 1], 1, 2, 46 << 2, 0x02);
        let synack = v4(6, [10, 1, 2, 3], [1, 1, 1, 1], 1, 2, 46 << 2, 0x12);
        let other_net = v4(6, [10, 2, 2, 3], [1, 1, 1, 1], 1, 2, 46 << 2, 0x02);
        let other_dscp = v4(6, [10, 1, 2, 3], [1, 1, 1, 1], 1, 2, 0, 0x02);
        assert_eq!(f.judge(&syn, 0), Verdict::Drop);
        assert_eq!(f.judge(&synack, 0), Verdict::Pass);
        assert_eq!(f.judge(&other_net, 0), Verdict::Pass);
        assert_eq!(f.judge(&other_dscp, 0), Verdict::Pass);
        let mut arp_frame = vec![0u8; 42];
        arp_frame[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(f.judge(&arp_frame, 0), Verdict::Drop);
        assert_eq!(
            f.judge(&[0u8; 5], 0),
            Verdict::Pass,
            "runt: no rule matches"
        );
    }

    #[test]
    fn rate_limit_is_a_token_bucket() {
        let mut r = rule("limit", RuleAction::RateLimit);
        r.pps = Some(10);
        r.burst = Some(5);
        let (mut f, c) = filter(vec![r], RuleAction::Pass);
        let p = v4(17, [1, 1, 1, 1], [2, 2, 2, 2], 1, 2, 0, 0);
        // hz = 1000 ticks/s: burst of 5 at t=0, then 10 per 1000 ticks.
        let passed = (0..20).filter(|_| f.judge(&p, 0) == Verdict::Pass).count();
        assert_eq!(passed, 5);
        let passed = (0..20)
            .filter(|_| f.judge(&p, 500) == Verdict::Pass)
            .count();
        assert_eq!(passed, 5, "half a second at 10 pps refills 5");
        assert_eq!(c.rules[0].dropped.get(), 30);
    }

    #[test]
    fn bucket_never_exceeds_burst() {
        let mut b = TokenBucket::new(1000, 3, 100, 0);
        assert!((0..3).all(|_| b.take(1_000_000)));
        assert!(!b.take(1_000_000));
    }
}
