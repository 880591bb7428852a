//! Normal forms of contact data, shared by indexes, the duplicate key and
//! the admin API: phones as E.164 digits without `+` (`972501234567`),
//! emails trimmed and lower-cased.

use phonenumber::country;

use super::phone_cache::{PhoneCache, PhoneNormal};
use crate::inline_str::InlineStr;

/// Slots of the phone-answer cache (72 bytes each: 4.5 MiB).
const CACHE_SLOTS: usize = 1 << 16;

/// Normalises phone numbers for one default country. Parsing with the phone
/// library costs microseconds; floods repeat the same numbers, so answers
/// are kept in a lock-free cache (`phone_cache`).
pub struct Phones {
    country: Option<country::Id>,
    cache: PhoneCache,
    validity: super::phone_validity::PhoneValidity,
}

impl std::fmt::Debug for Phones {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phones")
            .field("country", &self.country)
            .finish()
    }
}

impl Phones {
    /// Also loads the phone library's metadata and compiles its patterns
    /// (deep recursion, done once here on a full-size thread stack rather
    /// than on a request coroutine's small one).
    pub fn new(default_country: &str) -> Phones {
        Phones::with_cache(default_country, CACHE_SLOTS)
    }

    /// [`Phones::new`] with a cache of `slots` answers.
    pub fn with_cache(default_country: &str, slots: usize) -> Phones {
        let p = Phones {
            country: default_country.to_ascii_uppercase().parse().ok(),
            cache: PhoneCache::new(slots),
            validity: Default::default(),
        };
        for warm in ["0501234567", "+12125550100", "+442079460000", "12"] {
            p.normalize(warm);
        }
        p
    }

    /// E.164 digits without `+`; "" when the value holds no digit.
    ///
    /// A valid number is written in E.164: read with the default country
    /// first (a national number, or one with `+` / `00`), else — when it
    /// came without `+` — its digits read as an international number
    /// (affiliates send `13102345678` and `447911123456` bare). Anything
    /// else is kept exactly as sent (trimmed), so nothing posted is lost or
    /// rewritten into another country's number. Plausibility checks (code
    /// 008) belong to contact validation.
    pub fn normalize(&self, raw: &str) -> String {
        self.check(raw).0
    }

    /// The normal form and whether the number is plausible (a valid number
    /// for its country by the phone library's metadata).
    pub fn check(&self, raw: &str) -> (String, bool) {
        let (normal, plausible) = self.check_inline(raw);
        (normal.into_string(), plausible)
    }

    /// [`Phones::check`] with the normal form held inline: a number seen
    /// before costs no lock and no allocation.
    pub fn check_inline(&self, raw: &str) -> (PhoneNormal, bool) {
        let raw = raw.trim();
        if raw.is_empty() {
            return (PhoneNormal::new(""), false);
        }
        if let Some(hit) = self.cache.get(raw) {
            return hit;
        }
        let (normal, plausible) = self.parse(raw);
        self.cache.put(raw, &normal, plausible);
        (PhoneNormal::new(&normal), plausible)
    }

    /// The default country for a number without a country code; none for
    /// one with it: given one, the library strips a leading 0 that belongs
    /// to some numbers (+225 0123456789 would lose it and fail validation).
    fn region_hint(&self, candidate: &str) -> Option<country::Id> {
        if candidate.starts_with('+') {
            None
        } else {
            self.country
        }
    }

    fn parse(&self, raw: &str) -> (String, bool) {
        if !raw.bytes().any(|b| b.is_ascii_digit()) {
            return (String::new(), false);
        }
        let intl;
        let candidate = match raw.strip_prefix("00") {
            Some(rest) => {
                intl = format!("+{rest}");
                intl.as_str()
            }
            None => raw,
        };
        if let Some(valid) = self.valid_e164(self.region_hint(candidate), candidate) {
            return (valid, true);
        }
        if !candidate.starts_with('+') {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            if let Some(valid) = self.valid_e164(None, &format!("+{digits}")) {
                return (valid, true);
            }
        }
        (raw.to_string(), false)
    }

    /// The E.164 digits of `text` read with `region`, if it is a valid number.
    fn valid_e164(&self, region: Option<country::Id>, text: &str) -> Option<String> {
        let n = phonenumber::parse(region, text).ok()?;
        // E.164 is the country code and the national number (with its
        // leading zeros) side by side. The library's formatter writes the
        // same, but first searches the country's display patterns it does
        // not use for E.164: a quarter of the parse's time.
        let national = n.national().to_string();
        let digits = format!("{}{national}", n.code().value());
        (digits.len() >= 7 && self.validity.is_valid(&n, &national)).then_some(digits)
    }
}

/// Sizes the phone library's cache of compiled patterns.
///
/// The library compiles its metadata's patterns on first use into one LRU
/// shared by the process (100 by default). A number needs about five
/// patterns of its country, so past ~20 countries in the traffic every
/// number recompiles what the last one evicted: ~1 ms each instead of
/// ~3 µs. Memory follows the patterns actually compiled, not the size.
pub fn size_phone_pattern_cache(capacity: usize) {
    let cache = phonenumber::metadata::DATABASE.cache();
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.set_capacity(capacity);
}

/// (patterns compiled now, the most the cache keeps): when the first
/// reaches the second, numbers start recompiling patterns.
pub fn phone_patterns_cached() -> (usize, usize) {
    let cache = phonenumber::metadata::DATABASE.cache();
    let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    (cache.len(), cache.capacity())
}

/// Trimmed, lower-cased email.
pub fn email(raw: &str) -> String {
    let mut s = raw.to_string();
    email_in_place(&mut s);
    s
}

/// [`email`] on a value the caller owns, without a new string unless it
/// holds non-ASCII letters (the intake's duplicate path allocates nothing
/// here).
pub fn email_in_place(s: &mut String) {
    let t = s.trim();
    if !t.is_ascii() {
        *s = t.to_lowercase();
        return;
    }
    let (start, len) = (t.as_ptr() as usize - s.as_ptr() as usize, t.len());
    s.truncate(start + len);
    s.drain(..start);
    s.make_ascii_lowercase();
}

/// Bytes an email is normalised into in place, on the stack; a longer one
/// (past what `email_syntax_ok` takes for common addresses) spills.
pub const EMAIL_INLINE: usize = 128;

/// [`email`] without a heap allocation for an ASCII address of up to
/// [`EMAIL_INLINE`] bytes (the intake's duplicate path).
pub fn email_inline(raw: &str) -> InlineStr<EMAIL_INLINE> {
    let t = raw.trim();
    if t.is_ascii() {
        InlineStr::ascii_lowercase(t)
    } else {
        InlineStr::Spilled(t.to_lowercase())
    }
}

/// Syntax check of a normalised email: `local@domain.tld`, printable ASCII
/// local part (no spaces or quotes), a domain of LDH labels with a dot.
/// One pass over the bytes of each part (it runs on every post with an
/// email, duplicates included).
pub fn email_syntax_ok(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let (local, domain) = (local.as_bytes(), domain.as_bytes());
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local[0] != b'.'
        && local[local.len() - 1] != b'.'
        && local.windows(2).all(|w| w != b"..")
        && local
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    local_ok && domain_ok(domain)
}

/// LDH labels of 1..=63 bytes (no hyphen at either end), at least two, at
/// most 253 bytes in all, and a top label of two or more not all digits.
fn domain_ok(domain: &[u8]) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let (mut labels, mut start) = (0, 0);
    for end in 0..=domain.len() {
        if end < domain.len() && domain[end] != b'.' {
            let b = domain[end];
            if !(b.is_ascii_alphanumeric() || b == b'-') {
                return false;
            }
            continue;
        }
        let label = &domain[start..end];
        if label.is_empty()
            || label.len() > 63
            || label[0] == b'-'
            || label[label.len() - 1] == b'-'
        {
            return false;
        }
        labels += 1;
        start = end + 1;
    }
    let tld = &domain[domain.iter().rposition(|&b| b == b'.').map_or(0, |i| i + 1)..];
    labels >= 2 && tld.len() >= 2 && !tld.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn israeli_numbers_in_every_spelling_agree() {
        let p = Phones::new("IL");
        for raw in [
            "050-234-5678",
            "0502345678",
            "+972 50 234 5678",
            "00972502345678",
            " (050) 2345678 ",
        ] {
            assert_eq!(p.normalize(raw), "972502345678", "{raw}");
        }
        assert_eq!(p.normalize("+1 212 555 0100"), "12125550100");
        assert_eq!(p.normalize("no phone"), "");
        assert_eq!(p.normalize(""), "");
    }

    #[test]
    fn normal_forms_equal_the_library_e164() {
        let p = Phones::new("IL");
        for raw in [
            "050-234-5678",
            "03-123-4567",
            "+39 06 6982 1234",
            "+44 20 7946 0000",
            "+1 212 555 0100",
            "+49 30 123456",
            "+7 495 123-45-67",
            "+225 07 12 34 56 78",
        ] {
            // The library's own E.164 of the number parsed the same way.
            let n = phonenumber::parse(p.region_hint(raw), raw).unwrap();
            let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
            assert_eq!(format!("+{}", p.normalize(raw)), e164, "{raw}");
        }
    }

    /// Issue 19: the default country first, then the digits as an
    /// international number, else the field exactly as sent.
    #[test]
    fn international_numbers_without_plus() {
        let p = Phones::new("IL");
        let cases = [
            // Israeli, national and international.
            ("052-234-5678", "972522345678", true),
            ("972522345678", "972522345678", true),
            // Bare international digits of other countries.
            ("13102345678", "13102345678", true),
            ("1 (310) 234-5678", "13102345678", true),
            ("447911123456", "447911123456", true),
            ("4930123456", "4930123456", true),
            ("33612345678", "33612345678", true),
            ("5511961234567", "5511961234567", true),
            ("61412345678", "61412345678", true),
            ("79123456789", "79123456789", true),
            // Valid nowhere: kept as sent, not glued to 972.
            ("13101234567", "13101234567", false),
            ("050-123-4567", "050-123-4567", false),
            ("+44 12", "+44 12", false),
            ("12345", "12345", false),
        ];
        for (raw, stored, valid) in cases {
            assert_eq!(p.check(raw), (stored.to_string(), valid), "{raw}");
        }
        // With another default country, the same digits read nationally first.
        let us = Phones::new("US");
        assert_eq!(us.check("3102345678"), ("13102345678".into(), true));
        assert_eq!(us.check("972522345678"), ("972522345678".into(), true));
    }

    #[test]
    fn cached_answers_equal_fresh_ones() {
        let p = Phones::with_cache("IL", 256);
        for _ in 0..3 {
            assert_eq!(p.check("050-234-5678"), ("972502345678".to_string(), true));
            assert!(!p.check("050-123-4567").1);
        }
        // More numbers than slots, twice: every answer, cached or evicted
        // and parsed again, is the parser's.
        for _ in 0..2 {
            for i in 0..2_000u32 {
                let raw = format!("+1 212 {:03} {:04}", 200 + i / 10_000 % 800, i % 10_000);
                assert_eq!(p.check(&raw), p.parse(&raw), "{raw}");
            }
        }
    }

    #[test]
    fn plausibility() {
        let p = Phones::new("IL");
        assert!(p.check("050-234-5678").1);
        assert!(!p.check("050-123-4567").1, "not an allocated range");
        assert!(p.check("+1 212 555 0100").1);
        assert!(!p.check("12345").1, "too short");
        assert!(!p.check("0000000000").1);
        assert!(
            !p.check("+1 100 0000000").1,
            "US area codes never start with 1"
        );
        // Italian landlines and Côte d'Ivoire's ten-digit numbers begin
        // with a 0 that a default country's parsing would strip.
        assert_eq!(
            p.check("+39 06 6982 1234"),
            ("390669821234".to_string(), true)
        );
        for raw in ["+225 01 23 45 67 89", "00225 0123456789"] {
            assert_eq!(p.check(raw), ("2250123456789".to_string(), true), "{raw}");
        }
    }

    #[test]
    fn email_syntax() {
        for ok in ["a@b.co", "dana.levi+x@mail.example.com", "o'neil@x-y.org"] {
            assert!(email_syntax_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a b@c.com",
            "a@-b.com",
            "a@b.c",
            ".a@b.com",
            "a@b.123",
            "a@@b.com",
        ] {
            assert!(!email_syntax_ok(bad), "{bad}");
        }
    }

    /// The check as first written, label by label with `str` helpers.
    fn email_syntax_reference(email: &str) -> bool {
        let Some((local, domain)) = email.rsplit_once('@') else {
            return false;
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && domain
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()));
        local_ok && domain_ok
    }

    #[test]
    fn the_one_pass_email_check_agrees_with_the_first() {
        let pieces = [
            "a", "B", "9", ".", "-", "@", "x", "co", "..", "é", " ", "+", "\"", "1",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let email: String = (0..seed % 14)
                .map(|k| pieces[((seed >> (4 * k + 6)) % pieces.len() as u64) as usize])
                .collect();
            assert_eq!(
                email_syntax_ok(&email),
                email_syntax_reference(&email),
                "{email:?}"
            );
        }
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_domain = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        for e in [
            "a@b.co",
            "a@b.c",
            "a@1.23",
            "a@-b.co",
            "a@b-.co",
            &long_label,
            &long_domain,
        ] {
            assert_eq!(email_syntax_ok(e), email_syntax_reference(e), "{e}");
        }
    }

    #[test]
    fn emails_lower_cased() {
        assert_eq!(email("  Dana@Example.COM "), "dana@example.com");
        assert_eq!(email("\tÉLA@Exämple.com\n"), "éla@exämple.com");
        let mut owned = String::from(" x@y.io ");
        email_in_place(&mut owned);
        assert_eq!(owned, "x@y.io");
        let long = format!("{}@Example.com", "A".repeat(EMAIL_INLINE));
        for raw in [
            "  Dana@Example.COM ",
            "\tÉLA@Exämple.com\n",
            "",
            " x@y.io ",
            &long,
        ] {
            assert_eq!(email_inline(raw).as_str(), email(raw), "{raw:?}");
        }
    }
}
