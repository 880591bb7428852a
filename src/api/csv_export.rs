//! CSV export of record collections (`GET /admin/v1/{collection}.csv`).
//!
//! Records are JSON objects; the columns are their keys in order of first
//! appearance, nested values are written as compact JSON, null as empty.
//! Every cell that a spreadsheet would read as a formula — starting with
//! `=`, `+`, `-`, `@`, a tab or a carriage return — is neutralised with a
//! leading `'` (CSV injection: posted fields come from the open internet).

use serde_json::Value;

/// Characters that make a spreadsheet treat a cell as a formula.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// The cell as a spreadsheet may safely show it.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_START) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The records as CSV with a header row (RFC 4180 quoting, CRLF lines).
pub fn render(records: &[Value]) -> Vec<u8> {
    let mut columns: Vec<&str> = Vec::new();
    for r in records {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(records.len() * 256 + 64));
    // Writing into a Vec cannot fail.
    let _ = w.write_record(columns.iter().map(|c| neutralise(c).into_owned()));
    for r in records {
        let row = columns.iter().map(|c| {
            let text = r.get(*c).map(cell_text).unwrap_or_default();
            neutralise(&text).into_owned()
        });
        let _ = w.write_record(row);
    }
    w.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for bad in ["=1+1", "+972501234567", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for ok in ["Dana", "0501234567", "a=b", "", "'quoted"] {
            assert_eq!(neutralise(ok), ok);
        }
    }

    #[test]
    fn columns_follow_first_appearance_and_values_are_quoted() {
        let recs = [
            serde_json::json!({"id": 1, "name": "Dana, \"D\"", "notes": "=HYPERLINK(\"x\")"}),
            serde_json::json!({"id": 2, "tags": ["a"], "name": null}),
        ];
        let text = String::from_utf8(render(&recs)).unwrap();
        assert_eq!(
            text,
            "id,name,notes,tags\r\n1,\"Dana, \"\"D\"\"\",\"'=HYPERLINK(\"\"x\"\")\",\r\n2,,,\"[\"\"a\"\"]\"\r\n"
        );
    }
}
