//! Normal forms of contact data, shared by indexes, the duplicate key and
//! the admin API: phones as E.164 digits without `+` (`972501234567`),
//! emails trimmed and lower-cased.

use phonenumber::country;

/// Normalises phone numbers for one default country.
#[derive(Debug, Clone, Copy)]
pub struct Phones {
    country: Option<country::Id>,
}

impl Phones {
    /// Also loads the phone library's metadata and compiles its patterns
    /// (deep recursion, done once here on a full-size thread stack rather
    /// than on a request coroutine's small one).
    pub fn new(default_country: &str) -> Phones {
        let p = Phones {
            country: default_country.to_ascii_uppercase().parse().ok(),
        };
        for warm in ["0501234567", "+12125550100", "+442079460000", "12"] {
            p.normalize(warm);
        }
        p
    }

    /// E.164 digits without `+`; "" when the value holds no digit.
    ///
    /// A number the phone library can place (national with the default
    /// country, or international with `+` / `00`) is written in E.164;
    /// anything else keeps its digits as they are, so nothing posted is lost.
    /// Plausibility checks (code 008) belong to contact validation.
    pub fn normalize(&self, raw: &str) -> String {
        let raw = raw.trim();
        if !raw.bytes().any(|b| b.is_ascii_digit()) {
            return String::new();
        }
        let intl;
        let candidate = match raw.strip_prefix("00") {
            Some(rest) => {
                intl = format!("+{rest}");
                intl.as_str()
            }
            None => raw,
        };
        if let Ok(n) = phonenumber::parse(self.country, candidate) {
            let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
            let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
            if digits.len() >= 7 {
                return digits;
            }
        }
        raw.chars().filter(char::is_ascii_digit).collect()
    }
}

/// Trimmed, lower-cased email.
pub fn email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn israeli_numbers_in_every_spelling_agree() {
        let p = Phones::new("IL");
        for raw in [
            "050-123-4567",
            "0501234567",
            "+972 50 123 4567",
            "00972501234567",
            " (050) 1234567 ",
        ] {
            assert_eq!(p.normalize(raw), "972501234567", "{raw}");
        }
        assert_eq!(p.normalize("+1 212 555 0100"), "12125550100");
        assert_eq!(p.normalize("no phone"), "");
        assert_eq!(p.normalize(""), "");
    }

    #[test]
    fn emails_lower_cased() {
        assert_eq!(email("  Dana@Example.COM "), "dana@example.com");
    }
}
