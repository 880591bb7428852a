//! The one table of wire answers: intake response codes (SPEC §3) with their
//! exact messages, pre-rendered once.

/// An intake response code of SPEC §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    AlreadyExists = 1,
    UpdatedByExternalKey = 2,
    UnknownForm = 3,
    DatabaseError = 4,
    TechnicalError = 5,
    Duplicate = 6,
    MissingRequired = 7,
    NoContact = 8,
    Language = 9,
    Captcha = 10,
}

pub const ALL: [Code; 11] = [
    Code::Ok,
    Code::AlreadyExists,
    Code::UpdatedByExternalKey,
    Code::UnknownForm,
    Code::DatabaseError,
    Code::TechnicalError,
    Code::Duplicate,
    Code::MissingRequired,
    Code::NoContact,
    Code::Language,
    Code::Captcha,
];

impl Code {
    pub const fn as_str(self) -> &'static str {
        [
            "000", "001", "002", "003", "004", "005", "006", "007", "008", "009", "010",
        ][self as usize]
    }

    pub const fn message(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::AlreadyExists => "OK and Already Exist. Sales team has been notified",
            Code::UpdatedByExternalKey => {
                "OK and Already Exist. Database was modified by External System Key Field."
            }
            Code::UnknownForm => "API function does not exists.",
            Code::DatabaseError => "Database Error on server side.",
            Code::TechnicalError => "Technical Error on server side.",
            Code::Duplicate => "Duplicated HTTP Post.",
            Code::MissingRequired => "Please fill up all the required fields.",
            Code::NoContact => {
                "Client Lead Rejected: because it is missing any phone or email fields."
            }
            Code::Language => "Please fill in the fields in the Acceptable Languages.",
            Code::Captcha => "Captcha verification failed.",
        }
    }

    /// 000, 001 and 002 acknowledge a stored record.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Code::Ok | Code::AlreadyExists | Code::UpdatedByExternalKey
        )
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// `{"ResponseCode":"006","ResponseMsgEng":"Duplicated HTTP Post."}` — built
    /// at compile time is not possible with `format!`, so this is rendered once
    /// per code at start ([`rendered`]).
    fn render(self) -> String {
        format!(
            "{{\"ResponseCode\":\"{}\",\"ResponseMsgEng\":\"{}\"}}",
            self.as_str(),
            self.message()
        )
    }

    /// The JSON answer for this code without a record id, rendered once.
    pub fn json(self) -> &'static [u8] {
        static RENDERED: std::sync::OnceLock<Vec<&'static [u8]>> = std::sync::OnceLock::new();
        RENDERED.get_or_init(|| {
            ALL.iter()
                .map(|c| &*Box::leak(c.render().into_bytes().into_boxed_slice()))
                .collect()
        })[self.index()]
    }

    /// Code 009 naming the acceptable languages, as seed 000 writes it:
    /// "Please fill in the fields in the Acceptable Languages. (Acceptable
    /// Language List)". Rendered once per configuration.
    pub fn language_json(languages: &[&str]) -> Vec<u8> {
        let message = if languages.is_empty() {
            Code::Language.message().to_string()
        } else {
            format!("{} ({})", Code::Language.message(), languages.join(", "))
        };
        serde_json::json!({
            "ResponseCode": Code::Language.as_str(),
            "ResponseMsgEng": message,
        })
        .to_string()
        .into_bytes()
    }

    /// The JSON answer carrying the id of the record it reports.
    pub fn json_with_id(self, id: u64) -> Vec<u8> {
        // The answer without an id, with `,"RecordId":N` before its brace
        // (no formatting machinery: every new lead's answer comes here).
        let plain = self.json();
        let mut out = Vec::with_capacity(plain.len() + 32);
        out.extend_from_slice(&plain[..plain.len() - 1]);
        out.extend_from_slice(b",\"RecordId\":");
        crate::ascii::push_decimal(&mut out, id);
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wire_messages() {
        assert_eq!(
            Code::Duplicate.json(),
            br#"{"ResponseCode":"006","ResponseMsgEng":"Duplicated HTTP Post."}"#
        );
        assert_eq!(
            Code::Ok.json_with_id(7),
            br#"{"ResponseCode":"000","ResponseMsgEng":"OK","RecordId":7}"#.to_vec()
        );
        // SPEC §3's table, written out: every code's wire answer.
        let spec = [
            ("000", "OK"),
            ("001", "OK and Already Exist. Sales team has been notified"),
            (
                "002",
                "OK and Already Exist. Database was modified by External System Key Field.",
            ),
            ("003", "API function does not exists."),
            ("004", "Database Error on server side."),
            ("005", "Technical Error on server side."),
            ("006", "Duplicated HTTP Post."),
            ("007", "Please fill up all the required fields."),
            (
                "008",
                "Client Lead Rejected: because it is missing any phone or email fields.",
            ),
            (
                "009",
                "Please fill in the fields in the Acceptable Languages.",
            ),
            ("010", "Captcha verification failed."),
        ];
        assert_eq!(ALL.len(), spec.len());
        for (c, (code, message)) in ALL.iter().zip(spec) {
            let v: serde_json::Value = serde_json::from_slice(c.json()).unwrap();
            assert_eq!(
                (v["ResponseCode"].as_str(), v["ResponseMsgEng"].as_str()),
                (Some(code), Some(message))
            );
        }
        assert_eq!(
            Code::language_json(&["Hebrew", "Latin"]),
            br#"{"ResponseCode":"009","ResponseMsgEng":"Please fill in the fields in the Acceptable Languages. (Hebrew, Latin)"}"#
        );
    }
}
