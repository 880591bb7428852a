//! The mini form (`form_mode = "html_form"` / `"html_form_captcha"`): a
//! small accessible HTML page for a profile's posted fields, with its CSS.
//! Every value taken from the profile is HTML-escaped.

use std::fmt::Write as _;

use crate::captcha::{Challenge, ANSWER_FIELD, HONEYPOT_FIELD, TOKEN_FIELD};
use crate::config::{Profile, Table};
use crate::http::{Body, Reply};

pub const CSS_NAME: &str = "dataport-form.css";

pub const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1d21}\
main{max-width:32rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px #0002}\
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin-bottom:.25rem}\
input,textarea{width:100%;box-sizing:border-box;padding:.55rem;font:inherit;border:1px solid #8a8f98;border-radius:.3rem}\
input:focus,textarea:focus{outline:3px solid #2563eb55;border-color:#2563eb}p{margin:0 0 1rem}\
.req{color:#b91c1c}button{font:inherit;font-weight:600;padding:.6rem 1.4rem;border:0;border-radius:.3rem;background:#2563eb;color:#fff;cursor:pointer}\
button:focus{outline:3px solid #1e3a8a}.hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}\n";

/// The security headers every HTML answer carries; `frame_ancestors` is
/// the CSP source list of who may frame it (`'none'`, or the profile's
/// `form_frame_ancestors`, checked to be plain origins).
pub fn html_headers(frame_ancestors: &str) -> String {
    format!(
        "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
         frame-ancestors {frame_ancestors}\r\nReferrer-Policy: same-origin\r\n"
    )
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn label_for(field: &str) -> String {
    match field {
        "phone1" => "Phone".into(),
        "phone2" => "Second phone".into(),
        "phone3" => "Third phone".into(),
        "return_phone" => "Phone".into(),
        "return_email" => "Email".into(),
        "complainer_name" => "Your name".into(),
        other => {
            let text = other.replace('_', " ");
            let mut c = text.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

/// The form page for `profile`, with a captcha when `challenge` is given.
pub fn render(profile: &Profile, challenge: Option<&Challenge>) -> Reply {
    let look = &profile.form;
    let form = escape(&profile.form_name);
    let title = if look.title.is_empty() {
        form.clone()
    } else {
        escape(&look.title)
    };
    let lang = escape(&look.lang);
    let dir = if look.rtl { " dir=\"rtl\"" } else { "" };
    let mut h = String::with_capacity(2048);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"{lang}\"{dir}><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><link rel=\"stylesheet\" href=\"/static/{CSS_NAME}\"></head>\n\
<body><main><h1>{title}</h1>\n<form method=\"post\" action=\"/{form}\" accept-charset=\"utf-8\">\n"
    );
    let mut seen = Vec::new();
    for (i, row) in profile.fields.iter().enumerate() {
        if row.external.is_empty() || seen.contains(&row.external) {
            continue;
        }
        seen.push(row.external.clone());
        let name = escape(&row.external);
        let id = format!("f{i}");
        let label = if row.label.is_empty() {
            escape(&label_for(&row.field))
        } else {
            escape(&row.label)
        };
        let required = if row.mandatory {
            " required aria-required=\"true\""
        } else {
            ""
        };
        let star = if row.mandatory {
            " <span class=\"req\" aria-hidden=\"true\">*</span>"
        } else {
            ""
        };
        let _ = write!(h, "<p><label for=\"{id}\">{label}{star}</label>");
        let f = row.field.as_str();
        if matches!(f, "notes" | "details")
            || (row.table == Table::Extension && f.contains("message"))
        {
            let _ = write!(
                h,
                "<textarea id=\"{id}\" name=\"{name}\" rows=\"4\"{required}></textarea>"
            );
        } else {
            let kind = if f.contains("email") {
                " type=\"email\" autocomplete=\"email\""
            } else if f.contains("phone") {
                " type=\"tel\" autocomplete=\"tel\""
            } else {
                " type=\"text\""
            };
            let _ = write!(h, "<input id=\"{id}\" name=\"{name}\"{kind}{required}>");
        }
        h.push_str("</p>\n");
    }
    if let Some(c) = challenge {
        let _ = write!(
            h,
            "<p><label for=\"fcaptcha\">{q} <span class=\"req\" aria-hidden=\"true\">*</span></label>\
<input id=\"fcaptcha\" name=\"{ANSWER_FIELD}\" inputmode=\"numeric\" autocomplete=\"off\" required aria-required=\"true\"></p>\n\
<input type=\"hidden\" name=\"{TOKEN_FIELD}\" value=\"{t}\">\n\
<div class=\"hp\" aria-hidden=\"true\"><label for=\"fhp\">Leave this empty</label>\
<input id=\"fhp\" name=\"{HONEYPOT_FIELD}\" tabindex=\"-1\" autocomplete=\"off\"></div>\n",
            q = escape(&c.question),
            t = escape(&c.token),
        );
    }
    let _ = write!(
        h,
        "<p><button type=\"submit\">{}</button></p>\n</form></main></body></html>\n",
        escape(&look.submit)
    );
    let mut r = Reply::new(200, "text/html; charset=utf-8", Body::Owned(h.into_bytes()));
    r.extra_headers
        .push_str(&html_headers(&crate::config::frame_ancestors(
            &look.frame_origins,
        )));
    r.extra_headers.push_str("Cache-Control: no-store\r\n");
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
