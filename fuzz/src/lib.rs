//! What the body fuzz targets share: one input split into a query string
//! (its first line, when there are two) and a body, decoded as one content
//! type. Any bytes must decode to fields or give a DecodeError; never a panic.

use dataport::http::body::Fields;

pub fn decode_body(content_type: &str, data: &[u8]) {
    let (query, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let query = String::from_utf8_lossy(query);
    let _ = Fields::decode(&query, Some(content_type), body);
}
