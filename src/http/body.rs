//! Posted fields: the query string merged with an
//! `application/x-www-form-urlencoded`, `multipart/form-data` or flat JSON
//! body (SPEC §3). Names are matched case-insensitively, values trimmed, and
//! the body wins over the query. Anything undecodable is an error (HTTP 400),
//! never a guess: invalid percent-escapes, invalid UTF-8, nested JSON.

use std::task::{Context, Poll};

pub use super::decode_error::DecodeError;
pub use super::urlencoded::form_decode;
use super::urlencoded::{next_special, percent_byte};

/// One posted field, borrowed from its [`Fields`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// Lower-cased name, for matching.
    pub key: &'a str,
    /// The name as sent.
    pub name: &'a str,
    /// Trimmed value.
    pub value: &'a str,
}

/// Where one field's key, name and value sit in [`Fields::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spans {
    key: (u32, u32),
    name: (u32, u32),
    value: (u32, u32),
}

impl Spans {
    fn field<'t>(&self, text: &'t str) -> Field<'t> {
        Field {
            key: slice(text, self.key),
            name: slice(text, self.name),
            value: slice(text, self.value),
        }
    }
}

fn slice(text: &str, (a, b): (u32, u32)) -> &str {
    &text[a as usize..b as usize]
}

/// The merged posted fields, in arrival order. Every key, name and value
/// sits in one string, so a request's fields cost two buffers however many
/// there are, and the intake takes them from a pool (`App::fields`): the
/// duplicate path of a flood does not allocate for them.
///
/// A repeated name is found by a linear look over the first few fields and,
/// past `INDEX_FROM` (16), through a hash table of the keys, so every field
/// costs O(1) however many came before it (a post of thousands of names
/// would otherwise cost their square). At most `max` fields are taken, a
/// repeated name counted each time it is posted, like PHP's
/// `max_input_vars` ([`DecodeError::TooManyFields`] beyond): the decoder
/// stops at the first field too many.
#[derive(Debug, Clone)]
pub struct Fields {
    text: String,
    spans: Vec<Spans>,
    /// Positions in `spans` of the keys of `spans[..indexed]`, hashed
    /// with `seed` (random per value: no flooding of a known hash).
    index: hashbrown::HashTable<u32>,
    indexed: usize,
    seed: ahash::RandomState,
    max: usize,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            text: String::new(),
            spans: Vec::new(),
            index: hashbrown::HashTable::new(),
            indexed: 0,
            seed: ahash::RandomState::new(),
            max: DEFAULT_MAX_FIELDS,
        }
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

/// Below this many fields a repeated name is looked for linearly (cheaper
/// than hashing for a normal post); from it on, through the index.
const INDEX_FROM: usize = 16;

/// `server.max_fields`' default.
pub const DEFAULT_MAX_FIELDS: usize = 256;

/// A pooled `Fields` keeps buffers up to these sizes (a rare big post's
/// are freed instead).
const TEXT_KEPT: usize = 8 * 1024;
const SPANS_KEPT: usize = 256;

impl crate::pool::Reusable for Fields {
    fn reset(&mut self) -> bool {
        self.text.clear();
        self.spans.clear();
        self.index.clear();
        self.indexed = 0;
        self.text.capacity() <= TEXT_KEPT
            && self.spans.capacity() <= SPANS_KEPT
            && self.index.capacity() <= SPANS_KEPT
    }
}

impl Fields {
    /// The value posted under `key` (lower-cased), if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.position(key, self.spans.len())
            .map(|i| slice(&self.text, self.spans[i].value))
    }

    /// Where among `spans[..upto]` the field keyed `key` is: through the
    /// index for the indexed ones, linearly for the rest (at most
    /// [`INDEX_FROM`] once [`Fields::catch_up`] has run).
    fn position(&self, key: &str, upto: usize) -> Option<usize> {
        // Keys compared as bytes; only the match's value is sliced.
        let bytes = self.text.as_bytes();
        let is = |s: &Spans| &bytes[s.key.0 as usize..s.key.1 as usize] == key.as_bytes();
        let indexed = self.indexed.min(upto);
        if indexed > 0 {
            let hash = self.seed.hash_one(key.as_bytes());
            if let Some(&i) = self.index.find(hash, |&i| is(&self.spans[i as usize])) {
                return Some(i as usize);
            }
        }
        (indexed..upto).find(|&i| is(&self.spans[i]))
    }

    /// Indexes `spans[..upto]` once there are [`INDEX_FROM`] of them, so
    /// the next [`Fields::position`] hashes instead of scanning.
    fn catch_up(&mut self, upto: usize) {
        if upto < INDEX_FROM {
            return;
        }
        let Fields {
            text,
            spans,
            index,
            indexed,
            seed,
            ..
        } = self;
        let key_hash = |i: u32| seed.hash_one(slice(text, spans[i as usize].key).as_bytes());
        for i in *indexed..upto {
            index.insert_unique(key_hash(i as u32), i as u32, |&j| key_hash(j));
        }
        *indexed = upto.max(*indexed);
    }

    /// The field keyed like `key` among the first `upto`, after indexing
    /// them if they are many.
    fn find_key(&mut self, key: (u32, u32), upto: usize) -> Option<usize> {
        self.catch_up(upto);
        self.position(slice(&self.text, key), upto)
    }

    /// Sets the largest number of distinct fields a decode takes.
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    fn check_count(&self) -> Result<(), DecodeError> {
        if self.spans.len() > self.max {
            return Err(DecodeError::TooManyFields(self.max));
        }
        Ok(())
    }

    /// The fields in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.spans.iter().map(|s| s.field(&self.text))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Keeps the fields whose key `keep` says yes to (only the keys are
    /// sliced: every post runs this).
    pub fn retain_keys(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.spans.len();
        let text = &self.text;
        self.spans.retain(|s| keep(slice(text, s.key)));
        if self.spans.len() == before {
            return; // nothing moved: the index still holds
        }
        // Positions moved: index the remaining fields again, so `get`
        // stays a hash lookup on a post of many fields.
        self.index.clear();
        self.indexed = 0;
        self.catch_up(self.spans.len());
    }

    fn at(&self, span: (u32, u32)) -> &str {
        slice(&self.text, span)
    }

    /// Appends `s` to the text; its span, trimmed.
    fn push_trimmed(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        self.trimmed((start, self.text.len() as u32))
    }

    /// The span of a name's key: the name itself when it is lower-case
    /// already, else its lower-cased copy, appended to the text.
    fn key_of(&mut self, name: (u32, u32)) -> (u32, u32) {
        let n = self.at(name);
        if !n.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            return name;
        }
        let start = self.text.len();
        if n.is_ascii() {
            let (a, b) = (name.0 as usize, name.1 as usize);
            self.text.extend_from_within(a..b);
            self.text[start..].make_ascii_lowercase();
        } else {
            let lower = n.to_lowercase();
            self.text.push_str(&lower);
        }
        (start as u32, self.text.len() as u32)
    }

    /// Adds (or replaces) a field whose name and value the text already
    /// holds at these spans.
    fn add(&mut self, name: (u32, u32), value: (u32, u32)) -> Result<(), DecodeError> {
        let key = self.key_of(name);
        if let Some(i) = self.find_key(key, self.spans.len()) {
            self.spans[i].name = name;
            self.spans[i].value = value;
        } else {
            self.spans.push(Spans { key, name, value });
        }
        self.check_count()
    }

    /// Adds (or replaces) a field from decoded strings.
    fn set(&mut self, name: &str, value: &str) -> Result<(), DecodeError> {
        let name = self.push_trimmed(name);
        let value = self.push_trimmed(value);
        self.add(name, value)
    }

    /// Decodes the query and body of a request.
    pub fn decode(
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Fields, DecodeError> {
        let mut f = Fields::default();
        f.decode_into(query, content_type, body)?;
        Ok(f)
    }

    /// [`Fields::decode`] into this (pooled) value, reusing its buffers.
    pub fn decode_into(
        &mut self,
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), DecodeError> {
        self.text.clear();
        self.spans.clear();
        self.index.clear();
        self.indexed = 0;
        let f = self;
        f.add_urlencoded(query.as_bytes())?;
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }
        let ct = content_type.unwrap_or("").trim();
        let mime = ct.split(';').next().unwrap_or("").trim();
        let is = |m: &str| mime.eq_ignore_ascii_case(m);
        let json_suffix = mime.len() >= 5
            && mime.is_char_boundary(mime.len() - 5)
            && mime[mime.len() - 5..].eq_ignore_ascii_case("+json");
        if mime.is_empty() || is("application/x-www-form-urlencoded") {
            f.add_urlencoded(body)?
        } else if is("multipart/form-data") {
            f.add_multipart(ct, body)?
        } else if is("application/json") || is("text/json") || json_suffix {
            f.add_json(body)?
        } else {
            return Err(DecodeError::ContentType(mime.to_ascii_lowercase()));
        }
        Ok(())
    }

    /// Adds the pairs of a `application/x-www-form-urlencoded` text. One
    /// pass finds the `&`, `=`, `+` and `%` a block at a time, copies the
    /// runs between them and decodes every name and value into the text's
    /// bytes; one UTF-8 check covers them all (plus a char-boundary check
    /// at each component's ends, so no character straddles two), and a
    /// second pass over the spans trims them, skips blank names and merges
    /// repeated ones.
    fn add_urlencoded(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let first = self.spans.len();
        let mut bytes = std::mem::take(&mut self.text).into_bytes();
        // Room for every name, value and lower-cased key without regrowing
        // (a decoded component is never longer than its encoding).
        bytes.reserve(2 * data.len());
        let span = |x: usize, y: usize| (x as u32, y as u32);
        // The pair being read: where its name starts in `bytes`, where the
        // name ends once its `=` is seen, and where it started in `data`.
        let (mut name_at, mut name_end, mut pair_at) = (bytes.len(), None, 0);
        let mut at = 0;
        loop {
            let next = next_special(data, at);
            let end = next.unwrap_or(data.len());
            bytes.extend_from_slice(&data[at..end]);
            let Some(i) = next.filter(|&i| data[i] != b'&') else {
                // The end of a pair (an empty one, `&&`, is no field).
                if end > pair_at {
                    if self.spans.len() == self.max {
                        bytes.clear(); // the buffer goes back, empty
                        self.text = String::from_utf8(bytes).unwrap_or_default();
                        return Err(DecodeError::TooManyFields(self.max));
                    }
                    let value_at = name_end.unwrap_or(bytes.len());
                    self.spans.push(Spans {
                        key: span(name_at, value_at),
                        name: span(name_at, value_at),
                        value: span(value_at, bytes.len()),
                    });
                }
                if next.is_none() {
                    break;
                }
                (name_at, name_end, pair_at, at) = (bytes.len(), None, end + 1, end + 1);
                continue;
            };
            at = i + 1;
            match data[i] {
                b'+' => bytes.push(b' '),
                b'%' => {
                    bytes.push(percent_byte(&data[i + 1..])?);
                    at = i + 3;
                }
                // The first `=` ends the name; any later one is the value's.
                _ if name_end.is_none() => name_end = Some(bytes.len()),
                _ => bytes.push(b'='),
            }
        }
        self.text = String::from_utf8(bytes).map_err(|_| DecodeError::Utf8)?;
        let ends = |s: &Spans| [s.name.0, s.name.1, s.value.1];
        if !self.spans[first..]
            .iter()
            .flat_map(ends)
            .all(|i| self.text.is_char_boundary(i as usize))
        {
            return Err(DecodeError::Utf8);
        }
        // Trim, skip blank names, merge repeats: kept spans are compacted
        // towards `first` (index `kept` never passes the one being read).
        let mut kept = first;
        for read in first..self.spans.len() {
            let raw = self.spans[read];
            let name = self.trimmed(raw.name);
            if name.0 == name.1 {
                continue;
            }
            let value = self.trimmed(raw.value);
            let key = self.key_of(name);
            if let Some(i) = self.find_key(key, kept) {
                self.spans[i].name = name;
                self.spans[i].value = value;
            } else {
                self.spans[kept] = Spans { key, name, value };
                kept += 1;
            }
        }
        self.spans.truncate(kept);
        Ok(())
    }

    /// A span of the text without its leading and trailing whitespace.
    fn trimmed(&self, span: (u32, u32)) -> (u32, u32) {
        let s = self.at(span);
        // Most values start and end with a visible ASCII character.
        let visible = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
        if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
            return span;
        }
        let lead = s.len() - s.trim_start().len();
        let a = span.0 + lead as u32;
        (a, a + s.trim().len() as u32)
    }

    fn add_json(&mut self, body: &[u8]) -> Result<(), DecodeError> {
        use simd_json::prelude::*;
        // simd-json recurses on nesting and would overflow a coroutine stack;
        // a flat object never nests, so refuse nesting before parsing.
        if max_json_depth(body) > 1 {
            return Err(DecodeError::JsonShape);
        }
        let mut copy = body.to_vec();
        let value = simd_json::to_borrowed_value(&mut copy).map_err(|_| DecodeError::Json)?;
        let obj = value.as_object().ok_or(DecodeError::JsonShape)?;
        if self.spans.len() + obj.len() > self.max {
            return Err(DecodeError::TooManyFields(self.max));
        }
        for (k, v) in obj.iter() {
            let text = match v {
                simd_json::BorrowedValue::String(s) => s.to_string(),
                simd_json::BorrowedValue::Static(simd_json::StaticNode::Null) => String::new(),
                simd_json::BorrowedValue::Static(s) => s.to_string(),
                _ => return Err(DecodeError::JsonShape),
            };
            self.set(k, &text)?;
        }
        Ok(())
    }

    fn add_multipart(&mut self, content_type: &str, body: &[u8]) -> Result<(), DecodeError> {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|e| DecodeError::Multipart(e.to_string()))?;
        let data = bytes::Bytes::copy_from_slice(body);
        let stream =
            futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(data) });
        let mut mp = multer::Multipart::new(stream, boundary);
        let (max, already) = (self.max, self.spans.len());
        // The whole body is in memory, so every future is ready at once: poll
        // it with a no-op waker instead of an executor (no thread-locals, no
        // blocking inside a coroutine).
        let fields = poll_ready(async move {
            let mut out = Vec::new();
            while let Some(field) = mp.next_field().await? {
                if out.len() + already >= max {
                    return Ok(None);
                }
                let name = field.name().unwrap_or("").to_string();
                let file = field.file_name().map(str::to_string);
                let bytes = field.bytes().await?;
                out.push((name, file, bytes));
            }
            Ok::<_, multer::Error>(Some(out))
        })
        .ok_or_else(|| DecodeError::Multipart("incomplete".into()))?
        .map_err(|e| DecodeError::Multipart(e.to_string()))?
        .ok_or(DecodeError::TooManyFields(max))?;
        for (name, file, bytes) in fields {
            if name.trim().is_empty() {
                continue;
            }
            let value = match (file, std::str::from_utf8(&bytes)) {
                (None, Ok(s)) => s.to_string(),
                (None, Err(_)) => return Err(DecodeError::Utf8),
                // An uploaded file is not a lead field: note it; the usage log keeps the bytes.
                (Some(f), _) => format!("[file {f}, {} bytes]", bytes.len()),
            };
            self.set(&name, &value)?;
        }
        Ok(())
    }
}

/// Deepest nesting of objects/arrays in `body`, ignoring brackets in strings.
fn max_json_depth(body: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in body {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn poll_ready<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_merge_body_wins_names_case_insensitive() {
        let f = Fields::decode(
            "Phone=1&Name=q",
            Some("application/x-www-form-urlencoded"),
            b"name=%D7%93%D7%A0%D7%94+%20&EMAIL=a%40b.c",
        )
        .unwrap();
        assert_eq!(f.get("phone"), Some("1"));
        assert_eq!(f.get("name"), Some("דנה"));
        assert_eq!(f.get("email"), Some("a@b.c"));
    }

    #[test]
    fn names_keys_and_values_share_one_text() {
        let f = Fields::decode(
            "",
            None,
            "%20Phone%20=+050+&phone=051&+=skipped&ÄBC=%C3%A4&lower=x&=y&flag".as_bytes(),
        )
        .unwrap();
        let all: Vec<_> = f.iter().map(|f| (f.key, f.name, f.value)).collect();
        assert_eq!(
            all,
            [
                ("phone", "phone", "051"),
                ("äbc", "ÄBC", "ä"),
                ("lower", "lower", "x"),
                ("flag", "flag", ""),
            ],
            "a repeated name replaces the first (name as last sent); blank names are skipped"
        );
        let mut f = f;
        f.retain_keys(|k| k != "lower");
        assert_eq!(f.len(), 3);
        assert_eq!(f.get("lower"), None);
        assert_eq!(f.get("flag"), Some(""));
    }

    #[test]
    fn bad_percent_and_utf8_are_errors() {
        assert_eq!(form_decode(b"%zz"), Err(DecodeError::Percent));
        assert_eq!(form_decode(b"%4"), Err(DecodeError::Percent));
        assert_eq!(form_decode(b"%ff%fe"), Err(DecodeError::Utf8));
        // Each half of "ד" alone is not UTF-8, though the two side by side are.
        let straddling = Fields::decode("", None, b"a=%D7&%93=b");
        assert_eq!(straddling, Err(DecodeError::Utf8));
    }

    /// The one-pass decoder against the plain reading of the format: split
    /// on `&` and `=`, decode each component, trim, skip blank names, the
    /// last of a repeated (case-insensitive) name wins in the first's place.
    #[test]
    fn urlencoded_agrees_with_a_plain_reading() {
        type Triple = (String, String, String);
        fn reference(data: &[u8]) -> Option<Vec<Triple>> {
            let mut out: Vec<Triple> = Vec::new();
            for pair in data.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                let (n, v) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &b""[..]),
                };
                let (n, v) = (form_decode(n).ok()?, form_decode(v).ok()?);
                let (n, v) = (n.trim(), v.trim());
                if n.is_empty() {
                    continue;
                }
                let key = n.to_lowercase();
                match out.iter_mut().find(|e| e.0 == key) {
                    Some(e) => (e.1, e.2) = (n.to_string(), v.to_string()),
                    None => out.push((key, n.to_string(), v.to_string())),
                }
            }
            Some(out)
        }
        let alphabet: [&[u8]; 16] = [
            b"a",
            // Runs past a 16-byte block, to cross the block scan's edges.
            b"a long run of 21 byte",
            b"Notes=xxxxxxxxxxxxxxxxxx",
            b"B",
            b"=",
            b"&",
            b"+",
            b"%",
            b"4",
            b"1",
            b"%D7",
            b"%93",
            b" ",
            "é".as_bytes(),
            b"%41",
            b"\xff",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..30_000 {
            let mut data = Vec::new();
            for _ in 0..random() % 24 {
                data.extend_from_slice(alphabet[(random() % 16) as usize]);
            }
            let ours = Fields::decode("", None, &data).ok().map(|f| {
                f.iter()
                    .map(|f| (f.key.to_string(), f.name.to_string(), f.value.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                ours,
                reference(&data),
                "{:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }

    /// Past `INDEX_FROM` fields a repeat is found through the index: the
    /// same answers as the linear look, across query and body, after
    /// `retain_keys` and for JSON.
    #[test]
    fn many_fields_merge_through_the_index() {
        let n = 200;
        let mut body = String::new();
        for i in 0..n {
            body.push_str(&format!("F{i}=first{i}&"));
        }
        // Every third name again, in another case: replaces in place.
        for i in (0..n).step_by(3) {
            body.push_str(&format!("f{i}=again{i}&"));
        }
        let mut f = Fields::default();
        f.set_max(1000);
        f.decode_into("F5=query&q=1", None, body.as_bytes())
            .unwrap();
        assert_eq!(f.len(), n + 1);
        let first = f.iter().next().unwrap();
        assert_eq!(
            (first.name, first.value),
            ("F5", "first5"),
            "the query's F5 kept its place, the body's value"
        );
        for i in 0..n {
            let want = if i % 3 == 0 {
                format!("again{i}")
            } else {
                format!("first{i}")
            };
            assert_eq!(f.get(&format!("f{i}")), Some(want.as_str()), "f{i}");
        }
        assert_eq!(f.get("q"), Some("1"));
        assert_eq!(f.get("f200"), None);
        let mut f = f;
        f.retain_keys(|_| true);
        assert_eq!(
            f.get("f199"),
            Some("first199"),
            "a retain that keeps all keeps the index"
        );
        f.retain_keys(|k| k != "f7");
        assert_eq!((f.get("f7"), f.get("f8")), (None, Some("first8")));
        assert_eq!(f.indexed, f.len(), "reindexed after a removal");

        let json = format!(
            "{{{}}}",
            (0..n)
                .map(|i| format!("\"K{i}\":\"v{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let f = Fields::decode("k3=q", Some("application/json"), json.as_bytes()).unwrap();
        assert_eq!(
            (f.len(), f.get("k3"), f.get("k199")),
            (n, Some("v3"), Some("v199"))
        );
    }

    #[test]
    fn more_fields_than_the_cap_are_refused() {
        let body = |n: usize| {
            (0..n)
                .map(|i| format!("a{i}=1"))
                .collect::<Vec<_>>()
                .join("&")
        };
        let mut f = Fields::default();
        f.set_max(10);
        assert!(f.decode_into("", None, body(10).as_bytes()).is_ok());
        // Each repeat of a name counts (the decoder stops at the 11th).
        assert!(f
            .decode_into("", None, "a=1&".repeat(10).as_bytes())
            .is_ok());
        assert_eq!(f.len(), 1);
        let r = f.decode_into("", None, "a=1&".repeat(5000).as_bytes());
        assert_eq!(r, Err(DecodeError::TooManyFields(10)));
        // Empty pairs are no fields.
        assert!(f.decode_into("", None, "&".repeat(5000).as_bytes()).is_ok());
        let too_many = f.decode_into("", None, body(11).as_bytes());
        assert_eq!(too_many, Err(DecodeError::TooManyFields(10)));
        assert_eq!(too_many.unwrap_err().status(), 413);
        // The query counts too.
        assert!(f.decode_into("x=1", None, body(10).as_bytes()).is_err());
        let json = format!(
            "{{{}}}",
            (0..11)
                .map(|i| format!("\"a{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let r = f.decode_into("", Some("application/json"), json.as_bytes());
        assert_eq!(r, Err(DecodeError::TooManyFields(10)));
        let part =
            |i: usize| format!("--B\r\nContent-Disposition: form-data; name=\"a{i}\"\r\n\r\nv\r\n");
        let mp = format!("{}--B--\r\n", (0..11).map(part).collect::<String>());
        let r = f.decode_into("", Some("multipart/form-data; boundary=B"), mp.as_bytes());
        assert_eq!(r, Err(DecodeError::TooManyFields(10)));
        // The default cap, on a default value.
        let r = Fields::decode("", None, body(DEFAULT_MAX_FIELDS + 1).as_bytes());
        assert_eq!(r, Err(DecodeError::TooManyFields(DEFAULT_MAX_FIELDS)));
    }

    #[test]
    fn flat_json_only() {
        let f = Fields::decode(
            "",
            Some("application/json"),
            br#"{"Phone":"050","n":5,"b":true,"z":null}"#,
        )
        .unwrap();
        assert_eq!(f.get("phone"), Some("050"));
        assert_eq!(f.get("n"), Some("5"));
        assert_eq!(f.get("b"), Some("true"));
        assert_eq!(f.get("z"), Some(""));
        assert_eq!(
            Fields::decode("", Some("application/json"), br#"{"a":{"b":1}}"#),
            Err(DecodeError::JsonShape)
        );
        assert_eq!(
            Fields::decode("", Some("application/json"), b"[1]"),
            Err(DecodeError::JsonShape)
        );
        assert_eq!(
            Fields::decode("", Some("application/json"), b"{"),
            Err(DecodeError::Json)
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Fields::decode("", Some("application/json"), deep.as_bytes()).is_err());
        assert_eq!(max_json_depth(br#"{"a":"[{\"}"}"#), 1);
    }

    #[test]
    fn multipart_fields_and_unclosed_boundary() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"Phone\"\r\n\r\n0501234567\r\n--XyZ\r\nContent-Disposition: form-data; name=\"City\"\r\n\r\nחיפה\r\n--XyZ--\r\n";
        let f = Fields::decode(
            "",
            Some("multipart/form-data; boundary=XyZ"),
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(f.get("phone"), Some("0501234567"));
        assert_eq!(f.get("city"), Some("חיפה"));
        let unclosed =
            "--XyZ\r\nContent-Disposition: form-data; name=\"Phone\"\r\n\r\n0501234567\r\n";
        assert!(Fields::decode(
            "",
            Some("multipart/form-data; boundary=XyZ"),
            unclosed.as_bytes()
        )
        .is_err());
        assert!(Fields::decode("", Some("multipart/form-data"), body.as_bytes()).is_err());
    }

    #[test]
    fn unknown_content_type_is_refused() {
        assert!(matches!(
            Fields::decode("", Some("text/xml"), b"<a/>"),
            Err(DecodeError::ContentType(_))
        ));
    }
}
