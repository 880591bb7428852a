//! Phones from many countries: the phone library's cache of compiled
//! patterns is sized by `intake.phone_pattern_cache` and shown in
//! `/metrics`. (A test binary of its own: the cache is process-wide.)

#[path = "common/util.rs"]
mod util;

use util::*;

/// "+{code}{example}" for the metadata's mobile example of `n` calling
/// codes (one region each, those the library itself finds valid), and the
/// E.164 digits expected.
fn example_mobiles(n: usize) -> Vec<(String, String)> {
    let mut regions: Vec<_> = phonenumber::metadata::DATABASE
        .iter()
        .filter_map(|m| {
            let example = m.descriptors().mobile()?.example()?;
            Some((m.country_code(), m.id().to_string(), example.to_string()))
        })
        .collect();
    regions.sort();
    regions.dedup_by_key(|(code, _, _)| *code);
    // Checked lazily: the library's cache is this process's too, and
    // validating every region here would fill it before the server runs.
    regions
        .into_iter()
        .map(|(code, _, example)| (format!("+{code}{example}"), format!("{code}{example}")))
        .filter(|(posted, _)| {
            phonenumber::parse(None, posted).is_ok_and(|n| phonenumber::is_valid(&n))
        })
        .take(n)
        .collect()
}

fn gauge(addr: std::net::SocketAddr, name: &str) -> u64 {
    let text = get(addr, "/metrics").body;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
        .parse()
        .unwrap()
}

#[test]
fn numbers_of_sixty_countries_fit_the_configured_pattern_cache() {
    let s = start_text(|d| {
        test_config(
            d,
            &format!(
                "[intake]\nphone_pattern_cache = 700\n{}",
                Profile::new(1, "leads")
                    .rows(&[("Phone", "clients", "phone1")])
                    .toml()
            ),
        )
    });
    let numbers = example_mobiles(60);
    assert_eq!(numbers.len(), 60);
    for (posted, e164) in &numbers {
        let r = post_form(
            s.addr,
            "/leads",
            &format!("Phone={}", posted.replace('+', "%2B")),
        );
        assert_eq!(r.code(), "000", "{posted}: {}", r.body);
        let id = r.json()["RecordId"].as_u64().unwrap();
        let c = admin_json(s.addr, &format!("/admin/v1/clients/{id}"));
        assert_eq!(c["phone1"], e164.as_str(), "{posted}");
    }
    let room = gauge(s.addr, "dataport_phone_pattern_cache_capacity");
    let cached = gauge(s.addr, "dataport_phone_patterns_cached");
    assert_eq!(room, 700, "the configured size is applied");
    // The library's own 100 would be full by now (every further country
    // evicting another's patterns); the configured cache is not.
    assert!(
        cached > 100,
        "sixty countries need more than 100 patterns ({cached})"
    );
    assert!(cached < room, "no pattern was evicted ({cached} of {room})");
}
