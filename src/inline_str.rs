//! A short string kept in place (on the stack, inside a struct) rather than
//! on the heap: what the duplicate path holds its normalised phones and
//! email in, so a flood of duplicates does not allocate for them. A value
//! longer than `N` bytes spills to a `String`.

use arrayvec::ArrayString;

#[derive(Clone, PartialEq, Eq)]
pub enum InlineStr<const N: usize> {
    /// `ArrayString` keeps the text UTF-8 by construction, so reading it
    /// back needs no check (a post's phones and email are read ~6 times).
    Inline(ArrayString<N>),
    Spilled(String),
}

impl<const N: usize> InlineStr<N> {
    pub fn new(s: &str) -> Self {
        match ArrayString::from(s) {
            Ok(a) => InlineStr::Inline(a),
            Err(_) => InlineStr::Spilled(s.to_string()),
        }
    }

    /// `s` with ASCII letters lower-cased (the caller checked it is ASCII).
    pub fn ascii_lowercase(s: &str) -> Self {
        let mut v = Self::new(s);
        match &mut v {
            InlineStr::Inline(a) => a.as_mut_str().make_ascii_lowercase(),
            InlineStr::Spilled(s) => s.make_ascii_lowercase(),
        }
        v
    }

    pub fn as_str(&self) -> &str {
        match self {
            InlineStr::Inline(a) => a,
            InlineStr::Spilled(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            InlineStr::Spilled(s) => s,
            InlineStr::Inline(a) => a.to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        InlineStr::Inline(ArrayString::new())
    }
}

impl<const N: usize> std::fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_stay_inline_long_ones_spill() {
        let s: InlineStr<8> = InlineStr::new("97250");
        assert!(matches!(s, InlineStr::Inline(_)));
        assert_eq!(s.as_str(), "97250");
        let long: InlineStr<8> = InlineStr::new("123456789");
        assert!(matches!(long, InlineStr::Spilled(_)));
        assert_eq!(long.into_string(), "123456789");
        let e: InlineStr<16> = InlineStr::ascii_lowercase("Dana@Example.COM");
        assert_eq!(e.as_str(), "dana@example.com");
        assert_eq!(InlineStr::<4>::new("שם").as_str(), "שם");
        assert!(InlineStr::<4>::new("").is_empty());
    }
}
