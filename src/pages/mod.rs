//! The HTML the appliance serves: the mini form of a profile (`form`),
//! the static pages under `http_dir` its redirects point at
//! (`static_files`), with their security headers, and the operator console
//! (`console`).
//!
//! Floor: above `config`, `http` and `captcha`; imported by `intake` (the
//! form page of a bare GET) and the router.

pub mod console;
pub mod form;
pub mod static_files;
