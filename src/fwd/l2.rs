//! L2 cross-connect: every frame received on an input port leaves on one
//! output port, optionally with its MAC addresses rewritten (DPDK's l2fwd,
//! with the rewrite made optional per direction).
//!
//! The table is a fixed array indexed by input port, so the per-packet lookup
//! is one bounds check and one load. The `src_mac = "port"` setting of the
//! config is resolved by the caller to the output port's MAC before the table
//! is built.

use crate::drop_reason::DropReason;
use crate::wire::ethernet::HEADER_LEN as ETH_LEN;
use crate::wire::{EthernetFrame, MacAddr};

/// The most ports napifwd forwards between (the table's array size).
pub const MAX_PORTS: usize = 32;

/// Where frames from one input port go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Xconnect {
    /// Output port index.
    pub output: usize,
    /// Destination MAC to write, if any.
    pub dst_mac: Option<MacAddr>,
    /// Source MAC to write, if any (the output port's own MAC for "port").
    pub src_mac: Option<MacAddr>,
}

/// Why a cross-connect table could not be built. The message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XconnectError {
    /// A port index is beyond [`MAX_PORTS`].
    #[error("port index {0} is out of range: napifwd forwards between at most {MAX_PORTS} ports")]
    PortOutOfRange(usize),
    /// Two entries share an input port.
    #[error(
        "input port {0} has more than one [[forward.l2]] entry: a port can feed only one output"
    )]
    DuplicateInput(usize),
}

/// Cross-connects indexed by input port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XconnectTable {
    by_input: [Option<Xconnect>; MAX_PORTS],
}

impl Default for XconnectTable {
    fn default() -> Self {
        XconnectTable {
            by_input: [None; MAX_PORTS],
        }
    }
}

impl XconnectTable {
    /// Builds the table from `(input, output, dst_mac, src_mac)` entries.
    /// Port indices must be below [`MAX_PORTS`] and each input may appear
    /// once; input == output (hairpin) is allowed.
    pub fn new<I>(entries: I) -> Result<Self, XconnectError>
    where
        I: IntoIterator<Item = (usize, usize, Option<MacAddr>, Option<MacAddr>)>,
    {
        let mut t = XconnectTable::default();
        for (input, output, dst_mac, src_mac) in entries {
            for port in [input, output] {
                if port >= MAX_PORTS {
                    return Err(XconnectError::PortOutOfRange(port));
                }
            }
            let slot = &mut t.by_input[input];
            if slot.is_some() {
                return Err(XconnectError::DuplicateInput(input));
            }
            *slot = Some(Xconnect {
                output,
                dst_mac,
                src_mac,
            });
        }
        Ok(t)
    }

    /// The cross-connect of `input`; `None` (the caller's `NoRoute` drop) when
    /// the port has none or is out of range.
    #[inline]
    pub fn lookup(&self, input: usize) -> Option<&Xconnect> {
        self.by_input.get(input)?.as_ref()
    }

    /// Iterates over `(input, cross-connect)` pairs, by input port.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Xconnect)> {
        self.by_input
            .iter()
            .enumerate()
            .filter_map(|(i, x)| x.as_ref().map(|x| (i, x)))
    }
}

/// The L2 length check: a frame shorter than the 14-byte Ethernet header is
/// `Truncated`. Call it before [`rewrite`].
#[inline]
pub fn check(frame: &[u8]) -> Result<(), DropReason> {
    if frame.len() < ETH_LEN {
        Err(DropReason::Truncated)
    } else {
        Ok(())
    }
}

/// Writes the MACs the cross-connect asks for and nothing else. A frame
/// shorter than 14 bytes (which [`check`] rejects) is left untouched.
#[inline]
pub fn rewrite(frame: &mut [u8], xc: &Xconnect) {
    let Some(hdr) = frame.get_mut(..ETH_LEN) else {
        return;
    };
    let mut eth = EthernetFrame::new_unchecked(hdr);
    if let Some(mac) = xc.dst_mac {
        eth.set_dst_addr(mac);
    }
    if let Some(mac) = xc.src_mac {
        eth.set_src_addr(mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xd]);
    const S: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x5]);

    #[test]
    fn lookup_by_input_port() {
        let t = XconnectTable::new([
            (0, 1, Some(D), None),
            (1, 0, None, Some(S)),
            (5, 5, None, None),
        ])
        .unwrap();
        assert_eq!(
            t.lookup(0),
            Some(&Xconnect {
                output: 1,
                dst_mac: Some(D),
                src_mac: None
            })
        );
        assert_eq!(t.lookup(1).unwrap().output, 0);
        assert_eq!(t.lookup(5).unwrap().output, 5, "hairpin allowed");
        assert_eq!(t.lookup(2), None);
        assert_eq!(t.lookup(MAX_PORTS - 1), None);
        assert_eq!(t.lookup(MAX_PORTS), None);
        assert_eq!(t.lookup(usize::MAX), None);
        assert_eq!(t.iter().map(|(i, _)| i).collect::<Vec<_>>(), vec![0, 1, 5]);
    }

    #[test]
    fn rejects_bad_entries_with_a_fix() {
        let e = XconnectTable::new([(0, 32, None, None)]).unwrap_err();
        assert_eq!(e, XconnectError::PortOutOfRange(32));
        assert!(e.to_string().contains("at most 32"), "{e}");
        assert_eq!(
            XconnectTable::new([(40, 0, None, None)]).unwrap_err(),
            XconnectError::PortOutOfRange(40)
        );
        let e = XconnectTable::new([(3, 0, None, None), (3, 1, None, None)]).unwrap_err();
        assert_eq!(e, XconnectError::DuplicateInput(3));
        assert!(e.to_string().contains("input port 3"), "{e}");
        assert!(XconnectTable::new([(31, 31, None, None)]).is_ok());
    }

    fn frame() -> Vec<u8> {
        (0u8..64).collect()
    }

    #[test]
    fn rewrite_writes_only_what_is_asked() {
        let orig = frame();
        let xc = |d, s| Xconnect {
            output: 0,
            dst_mac: d,
            src_mac: s,
        };

        let mut f = frame();
        rewrite(&mut f, &xc(None, None));
        assert_eq!(f, orig);

        let mut f = frame();
        rewrite(&mut f, &xc(Some(D), None));
        assert_eq!(&f[..6], &D.0);
        assert_eq!(&f[6..], &orig[6..]);

        let mut f = frame();
        rewrite(&mut f, &xc(None, Some(S)));
        assert_eq!(&f[..6], &orig[..6]);
        assert_eq!(&f[6..12], &S.0);
        assert_eq!(&f[12..], &orig[12..]);

        let mut f = frame();
        rewrite(&mut f, &xc(Some(D), Some(S)));
        let mut want = orig.clone();
        want[..6].copy_from_slice(&D.0);
        want[6..12].copy_from_slice(&S.0);
        assert_eq!(f, want);
    }

    #[test]
    fn check_and_short_frames() {
        for n in 0..14 {
            let mut f = vec![0u8; n];
            assert_eq!(check(&f), Err(DropReason::Truncated));
            rewrite(
                &mut f,
                &Xconnect {
                    output: 0,
                    dst_mac: Some(D),
                    src_mac: Some(S),
                },
            );
            assert_eq!(f, vec![0u8; n], "short frames are left untouched");
        }
        assert_eq!(check(&[0u8; 14]), Ok(()));
    }

    proptest! {
        /// The table answers like a plain list of entries (the model).
        #[test]
        fn table_matches_entry_list(
            entries in proptest::collection::vec(
                (0usize..40, 0usize..40, proptest::option::of(any::<[u8; 6]>()), proptest::option::of(any::<[u8; 6]>())),
                0..20,
            ),
        ) {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|(i, o, d, s)| (i, o, d.map(MacAddr), s.map(MacAddr)))
                .collect();
            match XconnectTable::new(entries.clone()) {
                Ok(t) => {
                    for input in 0..48 {
                        let model = entries.iter().find(|e| e.0 == input).map(|e| Xconnect {
                            output: e.1,
                            dst_mac: e.2,
                            src_mac: e.3,
                        });
                        prop_assert_eq!(t.lookup(input).copied(), model);
                    }
                }
                Err(XconnectError::PortOutOfRange(p)) => {
                    prop_assert!(p >= MAX_PORTS);
                    prop_assert!(entries.iter().any(|e| e.0 == p || e.1 == p));
                }
                Err(XconnectError::DuplicateInput(i)) => {
                    prop_assert!(entries.iter().filter(|e| e.0 == i).count() > 1);
                }
            }
        }
    }
}
