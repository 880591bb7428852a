//! What a second reading of the seeds found (issue 19), one test per point,
//! over real HTTP against the real binary where a restart matters.

mod util;

use util::*;

fn keyed_config(data: &std::path::Path) -> String {
    let rows = field_rows(&[
        ("FirstName", "clients", "first_name"),
        ("LastName", "clients", "last_name"),
        ("Phone", "clients", "phone1"),
        ("1stPhone", "clients", "phone1"),
        ("Email", "clients", "email"),
        ("lead_source", "clients", "lead_supplier"),
    ]);
    test_config(
        data,
        &format!(
            "[[profiles]]\nnumber = 1\nform_name = \"sync\"\nexternal_key_field = \"CrmId\"\n{rows}"
        ),
    )
}

fn answer(addr: std::net::SocketAddr, target: &str) -> (String, u64) {
    let r = get(addr, target);
    let v = r.json();
    (
        v["ResponseCode"].as_str().unwrap_or("").to_string(),
        v["RecordId"].as_u64().unwrap_or(0),
    )
}

fn client(addr: std::net::SocketAddr, id: u64) -> serde_json::Value {
    admin_json(addr, &format!("/admin/v1/clients/{id}"))
}

/// Seed 000: "the existence of this field replaces the duplicate-check
/// mechanism, since the responsibility lies with the external system".
#[test]
fn external_key_replaces_the_duplicate_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataport.toml");
    std::fs::write(&path, keyed_config(&dir.path().join("data"))).unwrap();
    let b = Binary::start(&path);
    let a = b.addr;

    // A client without a key, by phone.
    let (code, plain) = answer(a, "/sync?FirstName=Plain&Phone=0522345671");
    assert_eq!(code, "000");
    // A new key with that client's phone: a new client carrying the key,
    // not 001 (client matching does not run) and not 006 (no window).
    let (code, k3) = answer(a, "/sync?CrmId=K3&FirstName=Three&Phone=0522345671");
    assert_eq!(code, "000");
    assert_ne!(k3, plain);
    assert_eq!(client(a, k3)["external_key"], "K3");
    // The key's next sync, within the hour: an update of its record.
    let (code, id) = answer(a, "/sync?CrmId=K3&FirstName=Three&Phone=0522345671");
    assert_eq!((code.as_str(), id), ("002", k3));
    // Another new key with the same phone within the hour: its own client.
    let (code, k4) = answer(a, "/sync?CrmId=K4&Phone=0522345671&Email=k4@example.com");
    assert_eq!(code, "000");
    assert!(k4 != k3 && k4 != plain);
    // A post without the key goes through the normal steps: it matches
    // the first client with that phone (001), and is a duplicate after.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!((code.as_str(), id), ("001", k4));
    let (code, _) = answer(
        a,
        "/sync?FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!(code, "006");
    // An empty key is no key.
    let (code, _) = answer(
        a,
        "/sync?CrmId=&FirstName=Again&Phone=0522345672&Email=k4@example.com",
    );
    assert_eq!(code, "006");

    // Across a restart: the keys are found in storage.
    assert!(b.term().success());
    let b = Binary::start(&path);
    let a = b.addr;
    let (code, id) = answer(a, "/sync?CrmId=K3&LastName=Later");
    assert_eq!((code.as_str(), id), ("002", k3));
    assert_eq!(client(a, k3)["last_name"], "Later");
    let (code, id) = answer(a, "/sync?CrmId=K4&FirstName=Four");
    assert_eq!((code.as_str(), id), ("002", k4));
    let (code, k5) = answer(a, "/sync?CrmId=K5&Phone=0522345671");
    assert_eq!(code, "000");
    assert!(![plain, k3, k4].contains(&k5));
    let keyed = admin_json(a, "/admin/v1/clients?limit=100")["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["phone1"] == "972522345671")
        .count();
    assert_eq!(keyed, 4, "the plain client and K3, K4's phone, K5");
}

/// Seed 000's own example posts `1stPhone=13101234567`.
#[test]
fn international_numbers_without_plus_are_not_mangled() {
    let s = start_text(keyed_config);
    let a = s.addr;
    // The seed's example: no valid number anywhere (a US exchange never
    // starts with 1), so the phone is kept exactly as sent, and the email
    // makes it a lead.
    let (code, id) = answer(
        a,
        "/sync?LastName=Cramer&FirstName=John&Email=john@gmail.com&1stPhone=13101234567&lead_source=Facebook123456&aff_num=10100",
    );
    assert_eq!(code, "000");
    let c = client(a, id);
    assert_eq!(c["phone1"], "13101234567");
    assert_eq!(c["lead_supplier"], "Facebook123456");
    // A valid US number without `+`: taken, in E.164.
    let (code, id) = answer(a, "/sync?FirstName=Us&Phone=13102345678");
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "13102345678");
    // A UK mobile next to an email: its own number, not 972447911123456.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Uk&Phone=447911123456&Email=uk@example.com",
    );
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "447911123456");
    // An unallocated Israeli number next to an email: kept as sent.
    let (code, id) = answer(
        a,
        "/sync?FirstName=Il&Phone=050-123-4567&Email=il@example.com",
    );
    assert_eq!(code, "000");
    assert_eq!(client(a, id)["phone1"], "050-123-4567");
    // No usable phone or email: 008 as before.
    let (code, _) = answer(a, "/sync?FirstName=None&Phone=13101234567");
    assert_eq!(code, "008");
}
