//! The bytes of `application/x-www-form-urlencoded` text: finding its
//! special characters a block at a time and decoding `+` and `%XX`.

use super::decode_error::DecodeError;

/// The first `&`, `=`, `+` or `%` in `data` from `at` on: 16-byte blocks
/// checked at once, the last few bytes one by one.
pub(super) fn next_special(data: &[u8], at: usize) -> Option<usize> {
    let special = |b: u8| matches!(b, b'&' | b'=' | b'+' | b'%');
    let mut i = at;
    while let Some(block) = data.get(i..i + 16) {
        let hits = specials_in(block.try_into().unwrap());
        if hits != 0 {
            return Some(i + hits.trailing_zeros() as usize);
        }
        i += 16;
    }
    data.get(i..)?
        .iter()
        .position(|&b| special(b))
        .map(|j| i + j)
}

/// A bit for each byte of `block` that is `&`, `=`, `+` or `%`.
#[cfg(target_arch = "x86_64")]
fn specials_in(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; the load is unaligned and reads the
    // 16 bytes of `block` only.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let is = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
        let any = _mm_or_si128(
            _mm_or_si128(is(b'&'), is(b'=')),
            _mm_or_si128(is(b'+'), is(b'%')),
        );
        _mm_movemask_epi8(any) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn specials_in(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .filter(|(_, b)| matches!(b, b'&' | b'=' | b'+' | b'%'))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// Decodes one form component: `+` is a space, `%XX` a byte; anything else
/// after `%` is an error, and the bytes must be UTF-8.
pub fn form_decode(raw: &[u8]) -> Result<String, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    decode_component(raw, &mut out)?;
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
}

/// The byte a `%XX` escape stands for, from what follows its `%`: two hex
/// digits, or an error.
pub(super) fn percent_byte(after: &[u8]) -> Result<u8, DecodeError> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(DecodeError::Percent),
    };
    match after {
        [hi, lo, ..] => Ok(hex(*hi)? << 4 | hex(*lo)?),
        _ => Err(DecodeError::Percent),
    }
}

/// Appends one form component's bytes, decoded, to `out` (the caller
/// checks they are UTF-8). Runs without `+` or `%` are copied whole.
fn decode_component(raw: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let mut rest = raw;
    while let Some(i) = memchr::memchr2(b'+', b'%', rest) {
        out.extend_from_slice(&rest[..i]);
        if rest[i] == b'+' {
            out.push(b' ');
            rest = &rest[i + 1..];
        } else {
            out.push(percent_byte(&rest[i + 1..])?);
            rest = &rest[i + 3..];
        }
    }
    out.extend_from_slice(rest);
    Ok(())
}
