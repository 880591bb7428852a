//! Log entries rendered on the request's worker (the usage log's whole
//! request, a record-less post's automation entry): one buffer of JSON each,
//! byte-identical to what serde_json writes for [`UsageEntry`](super::records::UsageEntry) and
//! [`AutomationEntry`](super::records::AutomationEntry), so the one writer thread only numbers and stores it.

use crate::ascii::push_decimal;

#[cfg(test)]
use super::records::{AutomationEntry, UsageEntry};

/// A log entry as the request's worker hands it to the writer: the JSON of
/// a [`UsageEntry`](super::records::UsageEntry) or an [`AutomationEntry`](super::records::AutomationEntry) rendered in one string, all
/// but its `id`, which the writer puts first when it numbers the entry. The
/// rendering happens on the workers, not on the one writer thread, into a
/// buffer from the writer's pool that the writer gives back once the entry
/// is committed (`WriterHandle::buffer`).
#[derive(Debug, Clone)]
pub struct RenderedEntry {
    /// `"created_at":…}`: the object after its `id`; UTF-8. A usage entry
    /// ends before its outcome until [`RenderedEntry::close`] writes it.
    rest: Vec<u8>,
    open: bool,
    /// Where in `rest` the post's `,"carried":[…]` is (start, end), if the
    /// intake found a phone or an email in it.
    carried: Option<(u32, u32)>,
}

/// The longest value a usage entry carries for the index.
const CARRIED_MAX: usize = 254;

/// How a logged request was answered, the last fields of its usage entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome<'a> {
    /// The HTTP status (200 for an intake code, also when a browser is
    /// redirected instead).
    pub status: u16,
    /// The intake code (`"006"`), or "" for an answer without one.
    pub code: &'a str,
    /// The answer's message, or why the request was refused.
    pub reason: &'a str,
    /// The record a 000/001/002 names, else 0.
    pub record_id: u64,
}

/// The answers a post's usage entry records, chosen by the caller (the
/// intake codes): one per way its record was stored, and one for a commit
/// that failed. Storage writes the one that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Answers {
    /// `(code, message)` by `leads::Stored` (created, existing, synced).
    pub stored: [(&'static str, &'static str); 3],
    pub failed: (&'static str, &'static str),
}

impl Outcome<'_> {
    /// A request whose answer was never recorded (it ended abnormally).
    pub const UNKNOWN: Outcome<'static> = Outcome {
        status: 0,
        code: "",
        reason: "",
        record_id: 0,
    };
}

/// Extra fields an automation entry renders on the stack (sorted there);
/// a post with more takes one allocation.
const EXTRAS_ON_STACK: usize = 64;

/// The borrowed parts of one logged request, in [`UsageEntry`](super::records::UsageEntry)'s order.
pub struct UsageParts<'a> {
    pub created_at: &'a str,
    pub ip: std::net::IpAddr,
    pub client_ip: std::net::IpAddr,
    pub method: &'a str,
    pub form: &'a str,
    pub query: &'a str,
    pub content_type: &'a str,
    pub user_agent: &'a str,
    pub body: &'a str,
    pub body_base64: bool,
}

impl RenderedEntry {
    /// A usage-log entry: the request, whole, rendered into `json` (empty).
    pub fn usage(mut json: Vec<u8>, parts: &UsageParts<'_>) -> RenderedEntry {
        // The names, quotes and short values take ~200 bytes, the outcome
        // up to ~150 more.
        let size = 400
            + parts.body.len()
            + parts.query.len()
            + parts.user_agent.len()
            + parts.content_type.len();
        json.reserve(size);
        json.extend_from_slice(b"\"created_at\":");
        push_json_str(&mut json, parts.created_at);
        // An address needs no escape.
        json.extend_from_slice(b",\"ip\":\"");
        push_ip(&mut json, parts.ip);
        json.extend_from_slice(b"\",\"client_ip\":\"");
        push_ip(&mut json, parts.client_ip);
        json.push(b'"');
        for (name, value) in [
            (&b",\"method\":"[..], parts.method),
            (b",\"form\":", parts.form),
            (b",\"query\":", parts.query),
            (b",\"content_type\":", parts.content_type),
            (b",\"user_agent\":", parts.user_agent),
            (b",\"body\":", parts.body),
        ] {
            json.extend_from_slice(name);
            push_json_str(&mut json, value);
        }
        json.extend_from_slice(if parts.body_base64 {
            b",\"body_base64\":true"
        } else {
            b",\"body_base64\":false"
        });
        RenderedEntry {
            rest: json,
            open: true,
            carried: None,
        }
    }

    /// Notes the phones (normal digits) and email (lower-cased) the post
    /// carried, as `"carried":[…]` before its outcome, so the writer puts
    /// the entry in the phone and email indexes (`?q=` on the usage log).
    /// Once, while the entry is open; values that would need a JSON escape
    /// or are longer than an index takes are left out.
    pub fn carry<'v>(&mut self, values: impl Iterator<Item = &'v str>) {
        if !self.open || self.carried.is_some() {
            return;
        }
        let start = self.rest.len();
        let mut n = 0;
        for v in values {
            let plain = !v.is_empty()
                && v.len() <= CARRIED_MAX
                && v.bytes()
                    .all(|b| b >= 0x20 && !matches!(b, b'"' | b'\\' | b',' | b']'));
            if !plain {
                continue;
            }
            self.rest
                .extend_from_slice(if n == 0 { b",\"carried\":[\"" } else { b",\"" });
            self.rest.extend_from_slice(v.as_bytes());
            self.rest.push(b'"');
            n += 1;
        }
        if n > 0 {
            self.rest.push(b']');
            self.carried = Some((start as u32, self.rest.len() as u32));
        }
    }

    /// The values [`RenderedEntry::carry`] noted.
    pub fn carried(&self) -> impl Iterator<Item = &str> {
        let (a, b) = self.carried.unwrap_or((0, 0));
        carried_values(&self.rest[a as usize..b as usize])
    }

    /// Writes a usage entry's outcome and closes it (once; a closed entry,
    /// or an automation entry, is left as it is).
    pub fn close(&mut self, o: &Outcome<'_>) {
        if self.open {
            push_outcome(&mut self.rest, o);
            self.open = false;
        }
    }

    /// An automation-log entry that belongs to no record (the extra fields
    /// of a duplicate or refused post), rendered into `json` (empty):
    /// `client` is 0, and the fields (names unique) are written sorted by
    /// name, as an [`AutomationEntry`](super::records::AutomationEntry)'s map would be.
    pub fn automation<'f>(
        mut json: Vec<u8>,
        created_at: &str,
        profile: u32,
        fields: impl Iterator<Item = (&'f str, &'f str)>,
    ) -> RenderedEntry {
        let mut on_stack = [("", ""); EXTRAS_ON_STACK];
        let mut n = 0;
        let mut spilled = Vec::new();
        for pair in fields {
            if n < EXTRAS_ON_STACK {
                on_stack[n] = pair;
                n += 1;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&on_stack);
                }
                spilled.push(pair);
            }
        }
        let sorted = if spilled.is_empty() {
            &mut on_stack[..n]
        } else {
            &mut spilled[..]
        };
        // Unique names: an unstable sort (which does not allocate) is exact.
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let size = 64
            + sorted
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>();
        json.reserve(size);
        json.extend_from_slice(b"\"created_at\":");
        push_json_str(&mut json, created_at);
        json.extend_from_slice(b",\"profile\":");
        push_decimal(&mut json, profile.into());
        json.extend_from_slice(b",\"client\":0,\"fields\":");
        push_json_object(&mut json, sorted.iter().copied());
        json.push(b'}');
        RenderedEntry::from_json(json)
    }

    fn from_json(json: Vec<u8>) -> RenderedEntry {
        // Only whole UTF-8 strings and ASCII went in.
        debug_assert!(std::str::from_utf8(&json).is_ok());
        RenderedEntry {
            rest: json,
            open: false,
            carried: None,
        }
    }

    /// The buffer back, for the pool it came from.
    pub fn into_buffer(self) -> Vec<u8> {
        self.rest
    }

    /// The whole entry, numbered: `{"id":7,"created_at":…}`.
    pub fn write_numbered(&self, id: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        push_decimal(out, id);
        out.push(b',');
        out.extend_from_slice(&self.rest);
        if self.open {
            push_outcome(out, &Outcome::UNKNOWN);
        }
    }
}

/// The values of a `,"carried":["…","…"]` segment (written by
/// [`RenderedEntry::carry`]: no escapes inside). Also finds the segment in
/// a stored usage entry ([`carried_in`]).
fn carried_values(segment: &[u8]) -> impl Iterator<Item = &str> {
    const HEAD: &[u8] = b",\"carried\":[";
    let inner = segment
        .strip_prefix(HEAD)
        .and_then(|s| s.strip_suffix(b"]"))
        .unwrap_or(b"");
    inner
        .split(|&b| b == b',')
        .filter_map(|q| q.strip_prefix(b"\"")?.strip_suffix(b"\""))
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter(|v| !v.is_empty())
}

/// The values a stored usage entry carries (its `"carried"` array), found
/// in place: the last `,"carried":[` of the entry, up to its `]`.
pub fn carried_in(entry: &[u8]) -> impl Iterator<Item = &str> {
    const HEAD: &[u8] = b",\"carried\":[";
    let segment = memchr::memmem::rfind(entry, HEAD)
        .and_then(|at| {
            let end = memchr::memchr(b']', &entry[at..])?;
            Some(&entry[at..at + end + 1])
        })
        .unwrap_or(b"");
    carried_values(segment)
}

/// `,"status":200,"code":"006","reason":"…","record_id":0}`.
fn push_outcome(out: &mut Vec<u8>, o: &Outcome<'_>) {
    out.extend_from_slice(b",\"status\":");
    push_decimal(out, o.status as u64);
    out.extend_from_slice(b",\"code\":");
    push_json_str(out, o.code);
    out.extend_from_slice(b",\"reason\":");
    push_json_str(out, o.reason);
    out.extend_from_slice(b",\"record_id\":");
    push_decimal(out, o.record_id);
    out.push(b'}');
}

/// Appends an address as `Display` writes it; IPv4 without the
/// formatting machinery.
fn push_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, octet.into());
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::io::Write;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends a JSON object of string members, in the order given (sorted
/// names, for the object serde writes for a `BTreeMap`).
pub(super) fn push_json_object<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a str, &'a str)>,
) {
    out.push(b'{');
    for (i, (name, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(out, name);
        out.push(b':');
        push_json_str(out, value);
    }
    out.push(b'}');
}

/// Whether any byte of `bytes` needs a JSON escape (a control character,
/// `"` or `\\`). Whole words are checked, never a byte at a time: 16-byte
/// blocks (the last one overlapping the one before it), and a short string
/// as two overlapping words.
fn needs_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 16 {
        let mut any = false;
        for block in bytes.chunks_exact(16) {
            any |= block_needs_escape(block.try_into().unwrap());
        }
        return any | block_needs_escape(bytes[n - 16..].try_into().unwrap());
    }
    let word = |at: usize, len: usize| -> u64 {
        let mut w = [b' '; 8];
        w[..len].copy_from_slice(&bytes[at..at + len]);
        u64::from_le_bytes(w)
    };
    let (a, b) = match n {
        8.. => (word(0, 8), word(n - 8, 8)),
        4.. => (word(0, 4), word(n - 4, 4)),
        _ => (word(0, n), 0x2020_2020_2020_2020),
    };
    word_needs_escape(a) | word_needs_escape(b)
}

/// Whether a byte of the word is below 0x20, `"` or `\\` (the classic
/// "has a byte less than n / equal to c" tricks: exact as a yes or no).
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let control = below(w, 0x20);
    let quote = below(w ^ (ONES * u64::from(b'"')), 1);
    let backslash = below(w ^ (ONES * u64::from(b'\\')), 1);
    control | quote | backslash != 0
}

#[cfg(target_arch = "x86_64")]
fn block_needs_escape(block: &[u8; 16]) -> bool {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; the load is unaligned and reads the
    // 16 bytes of `block` only.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        // b <= 0x1f exactly when max(b, 0x1f) == 0x1f (unsigned).
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash))) != 0
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn block_needs_escape(block: &[u8; 16]) -> bool {
    let (a, b) = block.split_at(8);
    word_needs_escape(u64::from_le_bytes(a.try_into().unwrap()))
        | word_needs_escape(u64::from_le_bytes(b.try_into().unwrap()))
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it. Most
/// values need no escape: they are checked a block at a time and copied
/// whole, where serde_json looks at every byte.
pub(super) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_escape(bytes) {
        push_escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// The contents of a string with escapes: 16-byte blocks without one are
/// copied whole, the others a byte at a time.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut copied = 0;
    for (n, block) in bytes.chunks(16).enumerate() {
        if let Ok(whole) = block.try_into() {
            if !block_needs_escape(whole) {
                continue;
            }
        }
        for (j, &b) in block.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..0x20 => &[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ],
                _ => continue,
            };
            let at = n * 16 + j;
            out.extend_from_slice(&bytes[copied..at]);
            out.extend_from_slice(escaped);
            copied = at + 1;
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn strings_are_escaped_byte_for_byte_as_serde_json_does() {
        let mut every_ascii: String = (0u8..128).map(char::from).collect();
        every_ascii.push_str("דנה \u{2028} 🙂");
        let long = format!(
            "{}\"{}\\{}\n",
            "a".repeat(40),
            "b".repeat(15),
            "c".repeat(17)
        );
        // One escape at every place of every length around the block size.
        let mut placed = Vec::new();
        for len in 1..40 {
            for at in 0..len {
                let mut s = "a".repeat(len);
                s.replace_range(at..at + 1, if at % 2 == 0 { "\"" } else { "\u{1f}" });
                placed.push(s);
            }
        }
        let fixed = ["", "plain", "\u{1}", every_ascii.as_str(), long.as_str()];
        for s in fixed.into_iter().chain(placed.iter().map(String::as_str)) {
            let mut ours = Vec::new();
            push_json_str(&mut ours, s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn the_word_checks_find_every_byte_that_needs_an_escape() {
        let naive = |s: &[u8]| s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
        for filler in [b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
            for len in 0..40 {
                let clean = vec![filler; len];
                assert!(!needs_escape(&clean));
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut s = clean.clone();
                        s[at] = b;
                        assert_eq!(needs_escape(&s), naive(&s), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "203.0.113.7",
            "255.255.255.255",
            "::1",
            "2001:db8::7",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().as_bytes());
        }
    }

    #[test]
    fn a_rendered_automation_entry_reads_back_as_the_entry() {
        let fields: BTreeMap<String, String> = [
            ("Notes".to_string(), "line\n\"two\"".to_string()),
            ("utm_source".to_string(), "fb".to_string()),
            ("שם".to_string(), "דנה".to_string()),
        ]
        .into();
        // Past the stack's room the fields are sorted on the heap instead.
        let many: BTreeMap<String, String> = (0..EXTRAS_ON_STACK + 5)
            .map(|i| (format!("f{i}"), i.to_string()))
            .collect();
        for fields in [fields, BTreeMap::new(), many] {
            let mut out = Vec::new();
            // Handed over in posted order (here: reversed), written sorted.
            let posted = fields.iter().rev().map(|(k, v)| (k.as_str(), v.as_str()));
            RenderedEntry::automation(Vec::new(), "2026-11-23T06:05:00.000Z", 7, posted)
                .write_numbered(9, &mut out);
            let read: AutomationEntry = serde_json::from_slice(&out).unwrap();
            let want = AutomationEntry {
                id: 9,
                created_at: "2026-11-23T06:05:00.000Z".into(),
                profile: 7,
                client: 0,
                fields: fields.clone(),
            };
            assert_eq!(read, want);
            assert_eq!(
                out,
                serde_json::to_vec(&want).unwrap(),
                "the writer's own bytes"
            );
        }
    }

    #[test]
    fn a_rendered_usage_entry_reads_back_as_the_entry() {
        let parts = UsageParts {
            created_at: "2026-11-23T04:10:00.123Z",
            ip: "::1".parse().unwrap(),
            client_ip: "203.0.113.9".parse().unwrap(),
            method: "POST",
            form: "land_fb",
            query: "a=1&b=\"2\"",
            content_type: "application/x-www-form-urlencoded",
            user_agent: "curl/8 \\ \u{7}",
            body: "Name=דנה&Notes=line\nbreak",
            body_base64: false,
        };
        let mut out = Vec::new();
        let mut entry = RenderedEntry::usage(Vec::new(), &parts);
        // A value that would need an escape is left out.
        entry.carry(["972522345678", "a\"b", "", "dana@x.example"].into_iter());
        entry.carry(["972529999999"].into_iter());
        assert_eq!(
            entry.carried().collect::<Vec<_>>(),
            ["972522345678", "dana@x.example"]
        );
        let mut unknown = Vec::new();
        entry.write_numbered(41, &mut unknown);
        let read: UsageEntry = serde_json::from_slice(&unknown).unwrap();
        assert_eq!(
            (read.status, read.code.as_str()),
            (0, ""),
            "not closed: no outcome"
        );
        assert_eq!(
            unknown,
            serde_json::to_vec(&read).unwrap(),
            "as serde_json writes it"
        );
        let outcome = Outcome {
            status: 200,
            code: "000",
            reason: "OK \"fine\"",
            record_id: 7,
        };
        entry.close(&outcome);
        entry.close(&Outcome::UNKNOWN);
        entry.write_numbered(42, &mut out);
        assert_eq!(
            out,
            serde_json::to_vec(&serde_json::from_slice::<UsageEntry>(&out).unwrap()).unwrap()
        );
        let read: UsageEntry = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            read,
            UsageEntry {
                id: 42,
                created_at: parts.created_at.into(),
                ip: "::1".into(),
                client_ip: "203.0.113.9".into(),
                method: "POST".into(),
                form: "land_fb".into(),
                query: parts.query.into(),
                content_type: parts.content_type.into(),
                user_agent: parts.user_agent.into(),
                body: parts.body.into(),
                body_base64: false,
                carried: vec!["972522345678".into(), "dana@x.example".into()],
                status: 200,
                code: "000".into(),
                reason: "OK \"fine\"".into(),
                record_id: 7,
            }
        );
        assert!(out.starts_with(b"{\"id\":42,\"created_at\":"));
        assert_eq!(
            carried_in(&out).collect::<Vec<_>>(),
            ["972522345678", "dana@x.example"]
        );
        assert_eq!(carried_in(b"{\"id\":1}").count(), 0);
    }
}
