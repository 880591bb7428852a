//! `GET /admin/`: the operator console, a single page built into the binary
//! (`console/`: one HTML page, one script, one style sheet, an icon; no
//! framework, nothing fetched from elsewhere). The page signs in with the
//! admin token, keeps it in `sessionStorage` and speaks the admin API with
//! `Authorization: Bearer`: no cookie, so no cross-site request to forge.
//!
//! Every answer carries a strict CSP: scripts, styles and images from this
//! origin only (no inline script or style), requests to this origin only,
//! and no framing.

use crate::http::{Body, Reply};

const INDEX: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");
const ICON: &str = include_str!("console/icon.svg");

/// The console's security headers: every answer, page or asset.
const HEADERS: &str = "Content-Security-Policy: default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'\r\n\
     X-Frame-Options: DENY\r\n\
     Referrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n";

/// The console's files under `/admin/`; `enabled` is whether the admin API
/// is on (a token is set): without it the console could do nothing.
pub fn serve(path: &str, enabled: bool) -> Reply {
    if !enabled {
        return Reply::error(404, "the admin console is off ([admin] token is empty)");
    }
    let (content_type, body) = match path {
        "/admin" | "/admin/" | "/admin/index.html" => ("text/html; charset=utf-8", INDEX),
        "/admin/console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/admin/console.css" => ("text/css; charset=utf-8", STYLE),
        "/admin/icon.svg" => ("image/svg+xml", ICON),
        _ => return Reply::error(404, "not found; the console is at /admin/"),
    };
    let mut r = Reply::new(200, content_type, Body::Static(body.as_bytes()));
    r.extra_headers.push_str(HEADERS);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        assert!(!INDEX.contains("<style"));
        assert!(!INDEX.contains("style="));
        assert!(INDEX.matches("<script").count() == 1);
        assert!(INDEX.contains("<script src=\"/admin/console.js\""));
        // The script writes text, never markup.
        assert!(!SCRIPT.contains("innerHTML"));
        assert!(!SCRIPT.contains("insertAdjacentHTML"));
        assert!(!SCRIPT.contains("document.write"));
        assert!(!SCRIPT.contains("eval("));
    }

    #[test]
    fn off_without_a_token() {
        assert_eq!(serve("/admin/", false).status, 404);
        assert_eq!(serve("/admin/", true).status, 200);
        assert_eq!(serve("/admin/../x", true).status, 404);
    }
}
