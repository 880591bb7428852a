//! The OData `$filter` parser and its evaluator: any text parses to an
//! expression or an error message, and a parsed expression evaluates
//! against an entity without a panic.
#![no_main]

use dataport::api::odata::filter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let props = ["City", "Age", "At", "Status"];
    if let Ok(e) = filter::parse(text, &props) {
        let entity = serde_json::json!({
            "City": "Haifa", "Age": 3, "At": "2026-11-22T10:00:00Z", "Status": null
        });
        let _ = filter::eval(&e, &entity);
    }
});
