//! API keys: generated with 256 bits of OS randomness, shown once, stored
//! only as their SHA-256, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new key: `dpk_` and 64 hex digits (256 random bits).
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    // Without OS randomness there is no safe key to hand out.
    getrandom::fill(&mut bytes).expect("the OS random source is unavailable");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("dpk_{hex}")
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `key` hashes to `stored_hex`, in constant time.
pub fn key_matches(key: &str, stored_hex: &str) -> bool {
    !stored_hex.is_empty()
        && bool::from(
            sha256_hex(key)
                .as_bytes()
                .ct_eq(stored_hex.to_ascii_lowercase().as_bytes()),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_and_match() {
        let k = new_api_key();
        assert_eq!(k.len(), 68);
        assert_ne!(k, new_api_key());
        let h = sha256_hex(&k);
        assert!(key_matches(&k, &h));
        assert!(key_matches(&k, &h.to_uppercase()));
        assert!(!key_matches("dpk_other", &h));
        assert!(!key_matches(&k, ""));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
