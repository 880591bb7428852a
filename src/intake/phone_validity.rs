//! Whether a parsed phone number is valid, by the phone library's own
//! metadata but with the patterns compiled here, once per country.
//!
//! The library's `is_valid` matches up to eleven patterns per number, each
//! looked up in its process-wide LRU of compiled regexes: the pattern text
//! hashed with SipHash and every match made under that cache's one mutex.
//! That lookup alone cost about as much as the matching, both HTTP workers
//! queued on the mutex, and numbers from more countries than the LRU holds
//! recompiled patterns. Here each country's patterns are compiled once into
//! a map of our own (at most [`MAX_COUNTRIES`] countries; numbers of further
//! countries, and of calling codes several regions share, are left to the
//! library) and matched without a lock.
//!
//! The rule is the library's (`validator::number_type` not `Unknown`): the
//! general pattern matches, then any of the type patterns does; a pattern
//! matches when the number's length is one its descriptor allows (or it
//! lists none) and a match starts at the number's first digit.

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
        // `^(?:p)` matches exactly when a match of `p` can start at 0,
        // which is the library's test (leftmost match starting at 0).
        let re = regex::RegexBuilder::new(&format!("^(?:{})", d.national_number().as_str()))
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

/// Compiled countries by calling code; `None` marks a code left to the
/// library (shared by several regions, or a pattern this regex engine
/// refuses).
pub struct PhoneValidity {
    countries: RwLock<HashMap<u16, Option<Arc<Country>>>>,
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
            Some(c) => c.is_valid(national),
            None => phonenumber::is_valid(n),
        }
    }

    /// Countries compiled so far.
    pub fn compiled(&self) -> usize {
        let map = self.countries.read().unwrap_or_else(|p| p.into_inner());
        map.values().filter(|c| c.is_some()).count()
    }

    fn country(&self, code: u16) -> Option<Arc<Country>> {
        {
            let map = self.countries.read().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = map.get(&code) {
                return known.clone();
            }
            if map.len() >= self.max_countries {
                return None;
            }
        }
        // Compiled outside the lock (milliseconds, once per country); a race
        // compiles twice and keeps one.
        let compiled = single_region(code).and_then(Country::new).map(Arc::new);
        let mut map = self.countries.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_countries {
            return compiled;
        }
        map.entry(code).or_insert(compiled).clone()
    }
}

/// The metadata of the one region a calling code belongs to; none for a
/// code several regions share (+1, +7, +44, ...) or a non-geographic one,
/// where picking the region is the library's business.
fn single_region(code: u16) -> Option<&'static Metadata> {
    let regions = DATABASE.region(&code)?;
    match regions.as_slice() {
        [only] if *only != "001" => DATABASE.by_id(*only),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region's example numbers, and numbers one digit off them (the
    /// invalid ones), judged as the library judges them.
    #[test]
    fn agrees_with_the_library_on_every_region() {
        let v = PhoneValidity::keeping(usize::MAX);
        let mut checked = 0;
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
                    assert_eq!(
                        v.is_valid(&n, &nsn),
                        phonenumber::is_valid(&n),
                        "{text} ({})",
                        meta.id()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked} numbers checked");
        assert!(v.compiled() > 150, "{} countries compiled", v.compiled());
    }

    #[test]
    fn stops_compiling_at_the_country_cap() {
        let v = PhoneValidity::default();
        for meta in DATABASE.iter() {
            if let Some(example) = meta.descriptors().general().example() {
                let text = format!("+{}{}", meta.country_code(), example);
                if let Ok(n) = phonenumber::parse(None, &text) {
                    let nsn = n.national().to_string();
                    assert_eq!(v.is_valid(&n, &nsn), phonenumber::is_valid(&n), "{text}");
                }
            }
        }
        assert!(v.countries.read().unwrap().len() <= MAX_COUNTRIES);
        assert!(v.compiled() <= MAX_COUNTRIES);
    }
}
