//! Whether a parsed phone number is valid, by the phone library's own
//! metadata but with the patterns compiled here, once per country.
//!
//! The library's `is_valid` matches up to eleven patterns per number, each
//! looked up in its process-wide LRU of compiled regexes: the pattern text
//! hashed with SipHash and every match made under that cache's one mutex.
//! That lookup alone cost about as much as the matching, both HTTP workers
//! queued on the mutex, and numbers from more countries than the LRU holds
//! recompiled patterns. Here each calling code's patterns are compiled once
//! into a map of our own (at most [`MAX_COUNTRIES`] codes; a number of a
//! further code compiles its patterns for itself and drops them) and
//! matched without a lock.
//!
//! The rule is libphonenumber's: the general pattern matches, then any of
//! the type patterns does; a pattern matches when the number's length is
//! one its descriptor allows (or it lists none) and the pattern matches the
//! *whole* national number. (The Rust `phonenumber` crate accepts a match
//! of the number's beginning, so `447911123456` passed as an Israeli
//! number.) A calling code several regions share (+1, +7, +44, ...) is
//! valid when the number is valid in any of them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::PhoneNumber;

/// Countries whose patterns are kept compiled (~0.6 MB each once in use,
/// measured over every region: ≤ ~40 MB);
/// past this, numbers of new countries go to the library.
pub const MAX_COUNTRIES: usize = 64;

/// One descriptor: the lengths it allows and its pattern, anchored.
struct Pattern {
    lengths: Vec<u16>,
    re: regex::Regex,
}

impl Pattern {
    fn new(d: &Descriptor) -> Option<Pattern> {
        // The whole number, as libphonenumber's `matcher.matches()`.
        let re = regex::RegexBuilder::new(&format!("^(?:{})$", d.national_number().as_str()))
            .ignore_whitespace(true)
            .build()
            .ok()?;
        Some(Pattern {
            lengths: d.possible_length().to_vec(),
            re,
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.re.is_match(national)
    }
}

/// A country's general pattern and the patterns of its number types.
struct Country {
    general: Pattern,
    types: Vec<Pattern>,
}

impl Country {
    fn new(meta: &Metadata) -> Option<Country> {
        let d = meta.descriptors();
        // The library's order; any match makes the number valid.
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Country {
            general: Pattern::new(d.general())?,
            types: types
                .into_iter()
                .flatten()
                .map(Pattern::new)
                .collect::<Option<Vec<_>>>()?,
        })
    }

    fn is_valid(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// The regions of one calling code, compiled.
type Regions = Arc<Vec<Country>>;

/// Compiled regions by calling code; `None` marks a code left to the
/// library (no metadata, or a pattern this regex engine refuses).
pub struct PhoneValidity {
    countries: RwLock<HashMap<u16, Option<Regions>>>,
    max_countries: usize,
}

impl Default for PhoneValidity {
    fn default() -> Self {
        PhoneValidity::keeping(MAX_COUNTRIES)
    }
}

impl PhoneValidity {
    /// Keeps the patterns of at most `max_countries` calling codes.
    pub fn keeping(max_countries: usize) -> Self {
        PhoneValidity {
            countries: RwLock::default(),
            max_countries,
        }
    }

    /// Whether `n` is a valid number for its country. `national` is its
    /// national significant number as the library writes it.
    pub fn is_valid(&self, n: &PhoneNumber, national: &str) -> bool {
        match self.country(n.code().value()) {
            Some(regions) => regions.iter().any(|c| c.is_valid(national)),
            None => phonenumber::is_valid(n),
        }
    }

    /// Countries compiled so far.
    pub fn compiled(&self) -> usize {
        let map = self.countries.read().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|c| c.is_some()).count()
    }

    fn country(&self, code: u16) -> Option<Regions> {
        {
            let map = self.countries.read().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = map.get(&code) {
                return known.clone();
            }
        }
        // Compiled outside the lock (milliseconds, once per code); a race
        // compiles twice and keeps one. Past the cap, for this number only.
        let compiled = regions(code).map(Arc::new);
        let mut map = self.countries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_countries {
            return compiled;
        }
        map.entry(code).or_insert(compiled).clone()
    }
}

/// Every region a calling code belongs to (one for most; +1 has NANPA's
/// two dozen), compiled; none when the code has no metadata or a pattern
/// will not compile.
fn regions(code: u16) -> Option<Vec<Country>> {
    let metas: Vec<&Metadata> = DATABASE.by_code(&code)?;
    if metas.is_empty() {
        return None;
    }
    metas.into_iter().map(Country::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region's example numbers are valid; numbers one digit off
    /// them are judged as the library judges them, except where the
    /// library accepted a pattern matching only the number's beginning.
    #[test]
    fn agrees_with_the_library_on_every_region_but_whole_numbers() {
        let v = PhoneValidity::keeping(usize::MAX);
        let (mut checked, mut stricter) = (0, 0);
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
                d.uan(),
            ];
            for example in examples.into_iter().flatten().filter_map(|d| d.example()) {
                let shorter = &example[..example.len() - 1];
                let longer = format!("{example}9");
                let altered: String = example
                    .chars()
                    .enumerate()
                    .map(|(i, c)| if i == 0 { '9' } else { c })
                    .collect();
                for national in [example, shorter, longer.as_str(), altered.as_str()] {
                    let text = format!("+{}{}", meta.country_code(), national);
                    let Ok(n) = phonenumber::parse(None, &text) else {
                        continue;
                    };
                    let nsn = n.national().to_string();
                    let (ours, library) = (v.is_valid(&n, &nsn), phonenumber::is_valid(&n));
                    if national == example && library {
                        assert!(ours, "the example {text} ({})", meta.id());
                    }
                    if ours != library {
                        assert!(library && !ours, "{text} ({}): {ours}", meta.id());
                        stricter += 1;
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked} numbers checked");
        assert!(stricter > 0, "the library's prefix matches are refused");
        assert!(v.compiled() > 150, "{} countries compiled", v.compiled());
    }

    /// Issue 19: a UK mobile's digits are no Israeli number, however its
    /// beginning matches an Israeli pattern.
    #[test]
    fn a_pattern_must_match_the_whole_number() {
        let v = PhoneValidity::default();
        let judge = |region: &str, text: &str| {
            let n = phonenumber::parse(Some(region.parse().unwrap()), text).unwrap();
            v.is_valid(&n, &n.national().to_string())
        };
        assert!(phonenumber::is_valid(
            &phonenumber::parse(Some("IL".parse().unwrap()), "447911123456").unwrap()
        ));
        assert!(!judge("IL", "447911123456"));
        assert!(judge("IL", "0522345678"));
        assert!(judge("GB", "+447911123456"));
        assert!(judge("US", "+13102345678"), "+1, shared by NANPA's regions");
        assert!(judge("CA", "+14165550123") || judge("CA", "+16135550123"));
        assert!(
            !judge("US", "+13101234567"),
            "an exchange never starts with 1"
        );
    }

    #[test]
    fn stops_compiling_at_the_country_cap() {
        let v = PhoneValidity::default();
        let all = PhoneValidity::keeping(usize::MAX);
        for meta in DATABASE.iter() {
            if let Some(example) = meta.descriptors().general().example() {
                let text = format!("+{}{}", meta.country_code(), example);
                if let Ok(n) = phonenumber::parse(None, &text) {
                    let nsn = n.national().to_string();
                    assert_eq!(v.is_valid(&n, &nsn), all.is_valid(&n, &nsn), "{text}");
                }
            }
        }
        assert!(v.countries.read().unwrap().len() <= MAX_COUNTRIES);
        assert!(v.compiled() <= MAX_COUNTRIES);
    }
}
