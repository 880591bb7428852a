//! CSV export of record collections over real HTTP: a header row, RFC 4180
//! quoting, paging by cursor, and every formula-looking cell neutralised
//! (posted fields come from the open internet; the CSV goes to a
//! spreadsheet).

#[path = "common/util.rs"]
mod util;

use util::*;

#[test]
fn clients_export_as_csv_with_formula_cells_neutralised_and_a_cursor() {
    let s = start();
    let evil = "=cmd|' /C calc'!A0";
    let q = format!(
        "/leads?Phone=0502345601&FirstName={}&LastName=Levi&Notes=%40SUM(A1)%2C%20%22x%22",
        evil.replace('=', "%3D")
            .replace('|', "%7C")
            .replace('\'', "%27")
            .replace(' ', "%20")
            .replace('!', "%21")
    );
    assert_eq!(get(s.addr, &q).code(), "000");
    assert_eq!(
        get(s.addr, "/leads?Phone=0502345602&FirstName=Dana&Notes=-5").code(),
        "000"
    );

    let r = admin(s.addr, "/admin/v1/clients.csv?limit=1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.contains("clients.csv")));
    let next = r
        .header("x-next-after")
        .expect("a cursor after a full page");
    let mut rd = csv::Reader::from_reader(r.body.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("first_name")], format!("'{evil}"));
    assert_eq!(&rows[0][col("notes")], "'@SUM(A1), \"x\"");
    assert_eq!(&rows[0][col("last_name")], "Levi");

    let r = admin(s.addr, &format!("/admin/v1/clients.csv?after={next}"));
    assert_eq!(r.status, 200);
    assert!(r.header("x-next-after").is_none(), "the last page");
    let mut rd = csv::Reader::from_reader(r.body.as_bytes());
    let head: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let col = |name: &str| head.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("first_name")], "Dana");
    assert_eq!(&rows[0][col("notes")], "'-5");

    // Filters work as on the JSON list; a token is still required.
    let r = admin(s.addr, "/admin/v1/clients.csv?first_name=Dana");
    assert_eq!(
        csv::Reader::from_reader(r.body.as_bytes())
            .records()
            .count(),
        1
    );
    assert_eq!(get(s.addr, "/admin/v1/clients.csv").status, 401);
    assert_eq!(admin(s.addr, "/admin/v1/nothing.csv").status, 404);
}
