//! The form body decoder behind intake: any bytes decode to fields or
//! give a DecodeError; never a panic. The first line of the input, when there
//! are two, is the query string, which is decoded with every body.
#![no_main]

use dataport::http::body::Fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let query = String::from_utf8_lossy(query);
    let _ = Fields::decode(&query, Some("application/x-www-form-urlencoded"), body);
});
