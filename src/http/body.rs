//! Posted fields: the query string merged with an
//! `application/x-www-form-urlencoded`, `multipart/form-data` or flat JSON
//! body (SPEC §3). Names are matched case-insensitively, values trimmed, and
//! the body wins over the query. Anything undecodable is an error (HTTP 400),
//! never a guess: invalid percent-escapes, invalid UTF-8, nested JSON.

use std::task::{Context, Poll};

/// One posted field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Lower-cased name, for matching.
    pub key: String,
    /// The name as sent.
    pub name: String,
    /// Trimmed value.
    pub value: String,
}

/// The merged posted fields, in arrival order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<Field>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid percent-encoding in a form field")]
    Percent,
    #[error("form data is not valid UTF-8")]
    Utf8,
    #[error("JSON body is not valid JSON")]
    Json,
    #[error("JSON body must be a flat object of strings, numbers, booleans or nulls")]
    JsonShape,
    #[error("multipart body is malformed: {0}")]
    Multipart(String),
    #[error("unsupported Content-Type {0:?}; use form, multipart or JSON")]
    ContentType(String),
}

impl Fields {
    /// The value posted under `key` (lower-cased), if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
    }

    /// Adds (or replaces) a field; takes the decoded strings as they are,
    /// trimming in place, so a field costs its three strings and no more.
    fn set(&mut self, name: String, value: String) {
        let name = trimmed(name);
        let value = trimmed(value);
        let key = if name
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
        {
            name.to_lowercase()
        } else {
            name.clone()
        };
        if let Some(f) = self.0.iter_mut().find(|f| f.key == key) {
            f.name = name;
            f.value = value;
        } else {
            self.0.push(Field { key, name, value });
        }
    }

    /// Decodes the query and body of a request.
    pub fn decode(
        query: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Fields, DecodeError> {
        let mut f = Fields::default();
        f.add_urlencoded(query.as_bytes())?;
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(f);
        }
        let ct = content_type.unwrap_or("").trim();
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "" | "application/x-www-form-urlencoded" => f.add_urlencoded(body)?,
            "multipart/form-data" => f.add_multipart(ct, body)?,
            m if m == "application/json" || m == "text/json" || m.ends_with("+json") => {
                f.add_json(body)?
            }
            _ => return Err(DecodeError::ContentType(mime)),
        }
        Ok(f)
    }

    fn add_urlencoded(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        for pair in data.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let name = form_decode(name)?;
            if name.trim().is_empty() {
                continue;
            }
            let value = form_decode(value)?;
            self.set(name, value);
        }
        Ok(())
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
        for (k, v) in obj.iter() {
            let text = match v {
                simd_json::BorrowedValue::String(s) => s.to_string(),
                simd_json::BorrowedValue::Static(simd_json::StaticNode::Null) => String::new(),
                simd_json::BorrowedValue::Static(s) => s.to_string(),
                _ => return Err(DecodeError::JsonShape),
            };
            self.set(k.to_string(), text);
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
        // The whole body is in memory, so every future is ready at once: poll
        // it with a no-op waker instead of an executor (no thread-locals, no
        // blocking inside a coroutine).
        let fields = poll_ready(async move {
            let mut out = Vec::new();
            while let Some(field) = mp.next_field().await? {
                let name = field.name().unwrap_or("").to_string();
                let file = field.file_name().map(str::to_string);
                let bytes = field.bytes().await?;
                out.push((name, file, bytes));
            }
            Ok::<_, multer::Error>(out)
        })
        .ok_or_else(|| DecodeError::Multipart("incomplete".into()))?
        .map_err(|e| DecodeError::Multipart(e.to_string()))?;
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
            self.set(name, value);
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

/// `s` without its leading and trailing white space (no copy when it has none).
fn trimmed(s: String) -> String {
    let t = s.trim();
    if t.len() == s.len() {
        s
    } else {
        t.to_string()
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; anything else
/// after `%` is an error, and the bytes must be UTF-8.
pub fn form_decode(raw: &[u8]) -> Result<String, DecodeError> {
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw)
            .map(str::to_string)
            .map_err(|_| DecodeError::Utf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(DecodeError::Percent)?;
                let s = std::str::from_utf8(hex).map_err(|_| DecodeError::Percent)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(DecodeError::Percent);
                }
                // unwrap: two hex digits checked above.
                out.push(u8::from_str_radix(s, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| DecodeError::Utf8)
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
    fn bad_percent_and_utf8_are_errors() {
        assert_eq!(form_decode(b"%zz"), Err(DecodeError::Percent));
        assert_eq!(form_decode(b"%4"), Err(DecodeError::Percent));
        assert_eq!(form_decode(b"%ff%fe"), Err(DecodeError::Utf8));
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
