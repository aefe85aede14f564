//! The Internet checksum (RFC 1071): computation and verification. The
//! forwarding path's incremental update (RFC 1624) is the TTL decrement,
//! `Ipv4Packet::decrement_ttl`.
//!
//! The checksum is the one's complement of the one's complement sum of the
//! data taken as big-endian 16-bit words. Sums are accumulated in a `u64` and
//! folded at the end (RFC 1071 section 4.1's "deferred carries"), so no input
//! length can overflow them.

/// One's complement sum of `data` as big-endian 16-bit words, an odd trailing
/// byte padded with zero; unfolded (fold it with [`fold`]).
#[inline]
pub fn sum(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    let mut acc: u64 = 0;
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// True when `data` (checksum field included) sums to 0xffff, i.e. the
/// stored checksum is right; `fold(sum(data)) == 0xffff`, computed faster.
///
/// The one's complement sum does not depend on byte order (RFC 1071
/// section 2.B: swapping the bytes of every word swaps the bytes of the
/// sum), and 0xffff is the same both ways round; so the words can be added
/// as the CPU loads them, four bytes at a time, with no swap per word (an
/// IPv4 header is five loads instead of ten loads and swaps: ~10 cycles
/// per forwarded packet less on the L3 benchmark).
///
/// The 20-byte case is always inlined and the rest is a call: as one
/// function, the compiler kept all of it out of line, a call per packet
/// on the forwarding path.
#[inline(always)]
pub fn sums_to_ones(data: &[u8]) -> bool {
    if let Ok(h) = <&[u8; 20]>::try_from(data) {
        // An IPv4 header without options, nearly every packet: five
        // fixed loads, no loop.
        let q = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
        return fold(q(0) + q(4) + q(8) + q(12) + q(16)) == 0xffff;
    }
    sums_to_ones_any(data)
}

/// [`sums_to_ones`] for any length.
#[inline(never)]
fn sums_to_ones_any(data: &[u8]) -> bool {
    let mut quads = data.chunks_exact(4);
    let mut acc: u64 = 0;
    for q in &mut quads {
        // A native u32 is two native 16-bit words, the upper one times
        // 0x10000, which is 1 modulo 0xffff: the fold adds it in.
        acc += u64::from(u32::from_ne_bytes([q[0], q[1], q[2], q[3]]));
    }
    let mut rest = quads.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        // Padded with a zero byte after it, as `sum` does.
        acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    fold(acc) == 0xffff
}

/// Folds the carries of an unfolded sum into 16 bits (end-around carry).
///
/// Two halvings, each an add whose carry out is added back in: 64 to 32
/// bits, then 32 to 16 (the kernel's x86 `csum_fold` does the second
/// with `add` and `adc`). No loop: a loop while the sum exceeds 16 bits
/// runs one to four times depending on the bytes, so its exit branch can
/// mispredict when consecutive packets' sums differ. Like the loop, the
/// result is 0 only for a zero sum and otherwise in `1..=0xffff`,
/// congruent to `acc` modulo 0xffff (which divides 2^32 - 1).
#[inline]
pub const fn fold(acc: u64) -> u16 {
    let (lo, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    // With a carry, lo <= 2^32 - 2: adding it back cannot overflow.
    let x = lo + carry as u32;
    let (lo, carry) = (x as u16).overflowing_add((x >> 16) as u16);
    lo + carry as u16
}

/// The RFC 1071 checksum of `data`: `!fold(sum(data))`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn sums_to_ones_agrees_with_the_big_endian_sum() {
        // Deterministic pseudo-random data of every length up to 64, and
        // for each, the checksum that makes it valid placed in front.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        };
        for len in 0..64 {
            for _ in 0..50 {
                let data: Vec<u8> = (0..len).map(|_| next()).collect();
                assert_eq!(sums_to_ones(&data), fold(sum(&data)) == 0xffff, "{data:?}");
                let mut valid = vec![0, 0];
                valid.extend_from_slice(&data);
                let c = checksum(&valid);
                valid[..2].copy_from_slice(&c.to_be_bytes());
                assert!(sums_to_ones(&valid), "{valid:?}");
                assert_eq!(fold(sum(&valid)), 0xffff);
                if let Some(b) = valid.get_mut(2) {
                    *b ^= 0x10;
                    assert!(!sums_to_ones(&valid), "{valid:?}");
                }
            }
        }
        assert!(sums_to_ones(&[0xff, 0xff]));
        assert!(sums_to_ones(&[0x00, 0x00, 0xff, 0xff, 0x00]));
        assert!(!sums_to_ones(&[]));
    }

    /// The textbook fold: add the carries back until none is left.
    fn fold_by_loop(mut acc: u64) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn fold_agrees_with_the_carry_loop() {
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_ffff,
            0xffff_0000_ffff,
            5 * 0xffff_ffff,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ];
        for acc in edges {
            assert_eq!(fold(acc), fold_by_loop(acc), "{acc:#x}");
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every magnitude: the sums of a few words up to full u64s.
            let acc = x >> (i % 64);
            assert_eq!(fold(acc), fold_by_loop(acc), "{acc:#x}");
        }
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0xab, 0xcd, 0x12]), 0xabcd + 0x1200);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn fold_handles_large_sums() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(0xffff), 0xffff);
        assert_eq!(fold(0x1_0000), 1);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(u64::MAX), 0xffff);
        let big = vec![0xffu8; 1 << 20];
        assert_eq!(fold(sum(&big)), 0xffff);
    }

    #[test]
    fn a_header_with_its_checksum_sums_to_all_ones() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&h);
        assert_eq!(c, 0xb861); // the well-known example header
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(fold(sum(&h)), 0xffff);
    }
}
