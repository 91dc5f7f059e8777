//! Byte searches eight bytes at a time (SWAR: a `u64` as eight lanes), for the hot path's scanners: the SSE line
//! splitter and the JSON answer reader.

/// 0x01 in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every byte.
pub(crate) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// `c` in every byte.
pub(crate) const fn splat(c: u8) -> u64 {
    ONES * c as u64
}

/// The high bit of each byte of `x` that is zero, and possibly of bytes above such a one (a borrow), never below the
/// lowest.
pub(crate) fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit of each byte of `x` below `n` (at most 0x80), with the same proviso as [`zero_bytes`].
pub(crate) fn bytes_below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(splat(n)) & !x & HIGHS
}

/// Index of the first byte of `s` for which `byte` holds. `word` looks at eight bytes (little-endian) at once: it
/// must set the high bit of each byte for which `byte` holds, and may set it elsewhere only above such a byte, so
/// the lowest bit it sets is the answer; the tail shorter than a word goes byte by byte.
#[inline]
pub(crate) fn position(
    s: &[u8],
    word: impl Fn(u64) -> u64,
    byte: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let flags = word(u64::from_le_bytes([
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
        ]));
        if flags != 0 {
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| byte(c))
        .map(|k| at + k)
}
