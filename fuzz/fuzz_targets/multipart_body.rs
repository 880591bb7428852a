//! The multipart body decoder behind intake (see `dataport_fuzz::decode_body`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| dataport_fuzz::decode_body("multipart/form-data; boundary=XyZ", data));
