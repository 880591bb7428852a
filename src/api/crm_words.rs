//! The words of the CRM leads API's answers, in seed 003's Russian (the
//! default: clients written for that API read them) or in English
//! (`[crm] language = "en"`). Leads are stored with the English names; an
//! answer in Russian rewrites `statusName` and `rezultName` on the way out.

use crate::codes::CrmError;
use crate::store::inbox::{REZULT_NAMES, STATUS_NAMES};

/// One language's words.
pub struct Words {
    pub statuses: [&'static str; 4],
    pub rezults: [&'static str; 5],
    /// The stored English names are already these words.
    stored: bool,
}

const RU: Words = Words {
    statuses: ["Открыт", "В работе", "Обработан", "Закрыт"],
    // The seed names results 1–4; 0 is "no result yet".
    rezults: ["", "Спам", "Дубль", "Другое", "Не целевой"],
    stored: false,
};

const EN: Words = Words {
    statuses: STATUS_NAMES,
    rezults: REZULT_NAMES,
    stored: true,
};

/// The words of `[crm] language` (validated: "ru" or "en").
pub fn words(language: &str) -> &'static Words {
    if language == "en" {
        &EN
    } else {
        &RU
    }
}

impl Words {
    /// An error's message in this language (the table: [`CrmError::words`]).
    pub fn text(&self, e: CrmError) -> &'static str {
        let (ru, en) = e.words();
        if self.stored {
            en
        } else {
            ru
        }
    }

    /// A stored lead's JSON as this language's answer.
    pub fn lead(&self, stored: &[u8]) -> Vec<u8> {
        if self.stored {
            return stored.to_vec();
        }
        let Ok(serde_json::Value::Object(mut lead)) = serde_json::from_slice(stored) else {
            return stored.to_vec();
        };
        let name = |key: &str, names: &[&'static str]| -> &'static str {
            let i = lead.get(key).and_then(|v| v.as_u64()).unwrap_or(0) as usize;
            names.get(i).copied().unwrap_or("")
        };
        let (status, rezult) = (
            name("status", &self.statuses),
            name("rezult", &self.rezults),
        );
        lead.insert("statusName".into(), status.into());
        lead.insert("rezultName".into(), rezult.into());
        serde_json::to_vec(&lead).unwrap_or_else(|_| stored.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_names_replace_the_stored_ones_in_place() {
        let stored = br#"{"id":1,"status":1,"statusName":"In work","rezult":2,"rezultName":"Duplicate","clientpath":0}"#;
        assert_eq!(
            String::from_utf8(words("ru").lead(stored)).unwrap(),
            r#"{"id":1,"status":1,"statusName":"В работе","rezult":2,"rezultName":"Дубль","clientpath":0}"#
        );
        assert_eq!(words("en").lead(stored), stored.to_vec());
    }
}
