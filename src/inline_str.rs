//! A short string kept in place (on the stack, inside a struct) rather than
//! on the heap: what the duplicate path holds its normalised phones and
//! email in, so a flood of duplicates does not allocate for them. A value
//! longer than `N` bytes spills to a `String`.

#[derive(Clone, PartialEq, Eq)]
pub enum InlineStr<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Spilled(String),
}

impl<const N: usize> InlineStr<N> {
    const FITS: () = assert!(N <= u8::MAX as usize, "the length is a u8");

    pub fn new(s: &str) -> Self {
        Self::from_bytes(s.as_bytes()).unwrap_or_else(|| InlineStr::Spilled(s.to_string()))
    }

    /// `s` with ASCII letters lower-cased (the caller checked it is ASCII).
    pub fn ascii_lowercase(s: &str) -> Self {
        let mut v = Self::new(s);
        match &mut v {
            InlineStr::Inline { len, bytes } => bytes[..*len as usize].make_ascii_lowercase(),
            InlineStr::Spilled(s) => s.make_ascii_lowercase(),
        }
        v
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let () = Self::FITS;
        (b.len() <= N).then(|| {
            let mut bytes = [0; N];
            bytes[..b.len()].copy_from_slice(b);
            InlineStr::Inline {
                len: b.len() as u8,
                bytes,
            }
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Filled only from whole &str values (ASCII case changes keep
            // them UTF-8), so the check never fails.
            InlineStr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..*len as usize]).unwrap_or("")
            }
            InlineStr::Spilled(s) => s,
        }
    }

    pub fn into_string(self) -> String {
        match self {
            InlineStr::Spilled(s) => s,
            inline => inline.as_str().to_string(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl<const N: usize> Default for InlineStr<N> {
    fn default() -> Self {
        InlineStr::Inline {
            len: 0,
            bytes: [0; N],
        }
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
        assert!(matches!(s, InlineStr::Inline { .. }));
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
