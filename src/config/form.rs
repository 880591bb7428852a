//! A profile's mini form: how it looks (language, direction, title,
//! submit text) and which origins may frame it.

/// How a profile's mini form looks and where it may be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormLook {
    /// `lang` of the page.
    pub lang: String,
    /// Right to left (`dir="rtl"`).
    pub rtl: bool,
    /// "" = the form name.
    pub title: String,
    pub submit: String,
    /// The origins that may frame the form (checked: plain origins).
    pub frame_origins: Vec<String>,
}

/// A CSP `frame-ancestors` source list: the origins, or `'none'`.
pub fn frame_ancestors<'a>(origins: impl IntoIterator<Item = &'a String>) -> String {
    let list: Vec<&str> = origins.into_iter().map(String::as_str).collect();
    if list.is_empty() {
        "'none'".into()
    } else {
        list.join(" ")
    }
}

impl FormLook {
    /// Languages written right to left, by their primary subtag.
    const RTL: &'static [&'static str] = &["ar", "he", "iw", "fa", "ur", "yi", "ps", "dv", "ug"];

    pub fn new(lang: &str, title: &str, submit: &str, ancestors: &[String]) -> FormLook {
        let lang = if lang.trim().is_empty() {
            "en"
        } else {
            lang.trim()
        };
        let primary = lang
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        FormLook {
            lang: lang.to_string(),
            rtl: Self::RTL.contains(&primary.as_str()),
            title: title.trim().to_string(),
            submit: if submit.trim().is_empty() {
                "Send".into()
            } else {
                submit.trim().to_string()
            },
            frame_origins: ancestors.to_vec(),
        }
    }
}

/// Whether `s` is an origin a CSP `frame-ancestors` may list:
/// `http(s)://host[:port]`, the host possibly `*.`-prefixed, no path, and
/// nothing that could end the header or the directive.
pub fn is_frame_origin(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}
