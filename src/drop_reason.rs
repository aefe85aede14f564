//! Why a packet was dropped: the one list of drop reasons.
//!
//! Every packet that enters napifwd ends transmitted or dropped under exactly
//! one of these reasons. Their snake_case names are a stable contract: they
//! appear in the stats JSON (`dropped_by_reason`) and as the `reason` label
//! of `napifwd_worker_dropped_packets_total`. Add reasons at the end; never
//! rename one.

use std::fmt;

/// A named reason for dropping a packet. The discriminant indexes counter
/// arrays, so the hot path counts a drop with one array store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// The frame is shorter than the headers it claims to carry.
    Truncated,
    /// A header field is invalid (IPv4 version/IHL/total length, IPv6 version/payload length).
    BadHeader,
    /// The IPv4 header checksum is wrong (RFC 1812 5.2.2).
    BadChecksum,
    /// Not something this forwarding mode handles (ARP or VLAN in l3 mode, ...).
    Unsupported,
    /// IPv4 TTL or IPv6 hop limit would reach zero (RFC 1812 5.3.1).
    TtlExceeded,
    /// No route (l3) or no cross-connect (l2) for the packet.
    NoRoute,
    /// Larger than the output port's MTU; napifwd does not fragment.
    MtuExceeded,
    /// The target worker's backlog ring was full (netdev_max_backlog).
    BacklogFull,
    /// The flow exceeded its share of a backlog under the flow limit.
    FlowLimit,
    /// The target worker is overloaded and its policy drops new work.
    Overload,
    /// Dropped by an overload filter rule or program.
    Filter,
    /// The output TX queue did not take the packet (short tx_burst).
    TxFull,
    /// Still queued in a backlog when the stop's drain deadline
    /// (`workers.drain_timeout_ms`) passed.
    Shutdown,
}

impl DropReason {
    /// Number of reasons; the length of every per-reason counter array.
    pub const COUNT: usize = 13;

    /// Every reason, in discriminant order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Truncated,
        DropReason::BadHeader,
        DropReason::BadChecksum,
        DropReason::Unsupported,
        DropReason::TtlExceeded,
        DropReason::NoRoute,
        DropReason::MtuExceeded,
        DropReason::BacklogFull,
        DropReason::FlowLimit,
        DropReason::Overload,
        DropReason::Filter,
        DropReason::TxFull,
        DropReason::Shutdown,
    ];

    /// The stable snake_case name used in JSON and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadHeader => "bad_header",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::Unsupported => "unsupported",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoRoute => "no_route",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::BacklogFull => "backlog_full",
            DropReason::FlowLimit => "flow_limit",
            DropReason::Overload => "overload",
            DropReason::Filter => "filter",
            DropReason::TxFull => "tx_full",
            DropReason::Shutdown => "shutdown",
        }
    }

    /// Index into a `[_; DropReason::COUNT]` counter array.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(names.insert(r.as_str()), "duplicate name {}", r.as_str());
            assert!(r
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
