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
    /// The CSP `frame-ancestors` source list: `'none'`, or the origins.
    pub frame_ancestors: String,
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
            frame_ancestors: if ancestors.is_empty() {
                "'none'".into()
            } else {
                ancestors.join(" ")
            },
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
