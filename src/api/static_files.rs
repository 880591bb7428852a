//! `/static/{name}`: the pages under `http_dir` that relative redirect
//! targets (`ThankYou.html`) point at. Only plain file names are served.

use std::path::Path;

use crate::http::{Body, Reply};

pub fn serve(dir: &Path, rest: &str) -> Reply {
    let name = rest.trim_start_matches('/');
    if name == super::form::CSS_NAME {
        let mut r = Reply::new(
            200,
            "text/css; charset=utf-8",
            Body::Static(super::form::CSS.as_bytes()),
        );
        r.extra_headers
            .push_str("Cache-Control: public, max-age=86400\r\n");
        return r;
    }
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !safe {
        return Reply::error(404, "not found");
    }
    let content_type = match name.rsplit('.').next().unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    // Small pages read from local disk; they are a fallback for browsers, not a hot path.
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => {
            let mut r = Reply::new(200, content_type, Body::Owned(bytes));
            if content_type.starts_with("text/html") {
                r.extra_headers.push_str(
                    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n",
                );
            }
            r
        }
        Err(_) => Reply::error(404, "not found"),
    }
}
