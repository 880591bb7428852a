//! `/static/{name}`: the pages under `http_dir` that relative redirect
//! targets (`ThankYou.html`) point at. Only plain file names are served,
//! and only regular files whose resolved path stays inside `http_dir`: a
//! symlink out of it (to the configuration, say) is not followed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::http::{Body, Reply};

/// `frame_ancestors`: who may frame an HTML page (a framed form's
/// thank-you page), as a CSP source list.
pub fn serve(dir: &Path, rest: &str, frame_ancestors: &str) -> Reply {
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
    match read_inside(dir, name) {
        Some(bytes) => {
            let mut r = Reply::new(200, content_type, Body::Owned(bytes));
            if content_type.starts_with("text/html") {
                r.extra_headers.push_str(&format!(
                    "Content-Security-Policy: default-src 'self'; frame-ancestors {frame_ancestors}\r\n"
                ));
            }
            r
        }
        None => Reply::error(404, "not found"),
    }
}

/// The largest page served.
const MAX_PAGE: u64 = 4 << 20;

/// The file `name` in `dir`, if it resolves to a regular file inside `dir`.
/// The resolved path is opened without following a last symlink, so a
/// link swapped in after the check is refused too.
fn read_inside(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let root = std::fs::canonicalize(dir).ok()?;
    let path: PathBuf = std::fs::canonicalize(dir.join(name)).ok()?;
    if !path.starts_with(&root) || path == root {
        return None;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_PAGE {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 18: `conf.html -> ../dataport.toml` served the configuration.
    #[test]
    fn symlinks_out_of_http_dir_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let http = root.path().join("http");
        std::fs::create_dir(&http).unwrap();
        std::fs::write(root.path().join("dataport.toml"), "token = \"secret\"").unwrap();
        std::fs::write(http.join("ok.html"), "<p>ok</p>").unwrap();
        std::fs::create_dir(http.join("dir.html")).unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, http.join(name)).unwrap()
        };
        link(&root.path().join("dataport.toml"), "conf.html");
        link(Path::new("../dataport.toml"), "rel.html");
        link(&http.join("ok.html"), "inside.html");
        let status = |name: &str| serve(&http, name, "'none'").status;
        assert_eq!(status("ok.html"), 200);
        assert_eq!(
            status("inside.html"),
            200,
            "a link that stays inside is fine"
        );
        assert_eq!(status("conf.html"), 404);
        assert_eq!(status("rel.html"), 404);
        assert_eq!(status("dir.html"), 404, "only regular files");
        assert_eq!(status("missing.html"), 404);
        assert!(read_inside(&http, "conf.html").is_none());
    }
}
