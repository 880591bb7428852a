//! The one table of wire answers, in the manner of meilisearch's
//! `error.rs`: every answer of the four APIs with its code in that API, its
//! HTTP status and its message, in one place; each API renders its own
//! shape from it. Intake's response codes (SPEC §3, pre-rendered once), the
//! CRM leads API's errors (seed 003), OData's error codes (§8) and the
//! dialer API's `ErrorCode`s (seed 002).
//!
//! Floor: a leaf; every API and intake render their answers from it.

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

/// An error of the CRM leads API (seed 003): the HTTP status is its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrmError {
    BadKey,
    UnknownUser,
    UnknownMethod,
    MethodNotAllowed,
    LeadNotFound,
    /// A parameter out of its form; the message says which.
    BadParameter,
    /// More fields than `server.max_fields`.
    TooManyFields,
    Database,
    Busy,
}

impl CrmError {
    pub const fn status(self) -> u16 {
        match self {
            CrmError::BadKey | CrmError::BadParameter => 400,
            CrmError::UnknownUser => 401,
            CrmError::UnknownMethod => 402,
            CrmError::LeadNotFound => 404,
            CrmError::MethodNotAllowed => 405,
            CrmError::TooManyFields => 413,
            CrmError::Database => 500,
            CrmError::Busy => 503,
        }
    }

    /// The message in seed 003's Russian and in English (`[crm] language`);
    /// the seed names the first three. `BadParameter` and `TooManyFields`
    /// are always answered with the caller's own message naming the
    /// parameter; theirs here is only the generic fallback.
    pub const fn words(self) -> (&'static str, &'static str) {
        match self {
            CrmError::BadKey => ("Не верный API key", "Invalid API key"),
            CrmError::UnknownUser => ("Неизвестный пользователь", "Unknown user"),
            CrmError::UnknownMethod => ("Неизвестный метод", "Unknown method"),
            CrmError::MethodNotAllowed => ("use GET or POST", "use GET or POST"),
            CrmError::LeadNotFound => ("Lead not found", "Lead not found"),
            CrmError::BadParameter => ("bad parameter", "bad parameter"),
            CrmError::TooManyFields => ("too many fields", "too many fields"),
            CrmError::Database => ("Database error", "Database error"),
            CrmError::Busy => ("Busy, retry later", "Busy, retry later"),
        }
    }
}

/// An OData error (SPEC §8): `{"error":{"code":…,"message":…}}` with its
/// HTTP status; the message is the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ODataError {
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    InternalError,
    ServiceUnavailable,
}

impl ODataError {
    pub const fn status(self) -> u16 {
        match self {
            ODataError::BadRequest => 400,
            ODataError::Unauthorized => 401,
            ODataError::NotFound => 404,
            ODataError::MethodNotAllowed => 405,
            ODataError::InternalError => 500,
            ODataError::ServiceUnavailable => 503,
        }
    }

    /// The `error.code` an OData client reads.
    pub const fn code(self) -> &'static str {
        match self {
            ODataError::BadRequest => "BadRequest",
            ODataError::Unauthorized => "Unauthorized",
            ODataError::NotFound => "NotFound",
            ODataError::MethodNotAllowed => "MethodNotAllowed",
            ODataError::InternalError => "InternalError",
            ODataError::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

/// A dialer API answer (seed 002): `{"ErrorCode":…,"Description":…}`,
/// always HTTP 200. The seed gives the same text different codes by
/// method, so each (code, text) pair is its own answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialerAnswer {
    Ok,
    InvalidJson,
    NumberInvalid,
    CampaignCodeMissing,
    InvalidCampaignCode,
    InvalidAccountCode,
    TargetMissing,
    MemberMissing,
    InvalidMember,
    InvalidSettings,
    SettingsRequired,
    /// GetCampaignPendingCalls of an unknown campaign (the seed's 2).
    PendingCallsError,
    InDoNotCallList,
    AgentCampaignsOnly,
    InternalError,
    PriorityNotNumber,
}

impl DialerAnswer {
    /// `(ErrorCode, Description)`.
    pub const fn wire(self) -> (i64, &'static str) {
        use DialerAnswer::*;
        match self {
            Ok => (0, "OK"),
            InvalidJson => (-1, "Invalid JSON"),
            NumberInvalid => (-2, "Number is invalid"),
            CampaignCodeMissing => (1, "Campaign code missing"),
            InvalidCampaignCode => (1, "Invalid campaign code"),
            InvalidAccountCode => (1, "Invalid account code"),
            TargetMissing => (2, "Target missing"),
            MemberMissing => (2, "Member missing"),
            InvalidMember => (2, "Invalid member"),
            InvalidSettings => (2, "Invalid settings: setQueueForMonitoring > 0, setQueueMaximumCallers > 0, setCoefficient > 1"),
            SettingsRequired => (2, "setQueueForMonitoring, setQueueMaximumCallers and setCoefficient are required"),
            PendingCallsError => (2, "Internal error occurred"),
            InDoNotCallList => (3, "Number is in the do-not-call list"),
            AgentCampaignsOnly => (3, "Members belong to agent campaigns only"),
            InternalError => (4, "Internal error occurred"),
            PriorityNotNumber => (4, "Priority must be a whole number"),
        }
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

    /// The other APIs' answers as their seeds give them.
    #[test]
    fn every_api_answers_with_its_seeds_codes() {
        assert_eq!(CrmError::BadKey.status(), 400);
        assert_eq!(
            CrmError::UnknownUser.words(),
            ("Неизвестный пользователь", "Unknown user")
        );
        assert_eq!(CrmError::UnknownMethod.status(), 402);
        assert_eq!(
            (ODataError::NotFound.status(), ODataError::NotFound.code()),
            (404, "NotFound")
        );
        assert_eq!(
            DialerAnswer::NumberInvalid.wire(),
            (-2, "Number is invalid")
        );
        assert_eq!(
            DialerAnswer::InvalidAccountCode.wire(),
            (1, "Invalid account code")
        );
        assert_eq!(DialerAnswer::PendingCallsError.wire().0, 2);
        assert_eq!(DialerAnswer::InternalError.wire().0, 4);
    }
}
