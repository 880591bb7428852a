//! Dial targets (SPEC §9): the one normal form the dialer API, the DNC
//! list and intake's queueing compare.

/// Normalises a dial target: Israeli numbers may come without the
/// international prefix (`0501234567` → `972501234567`); anything else must
/// carry it (`+…`, `00…`, or already `972…`/international digits). None when
/// it is not a number.
pub fn normalize_target(raw: &str) -> Option<String> {
    let t = raw.trim();
    let plus = t.starts_with('+');
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')' | '.'))
    {
        return None;
    }
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let intl = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        // An Israeli national number: 0 + 8 or 9 digits.
        if !(8..=9).contains(&rest.len()) {
            return None;
        }
        format!("972{rest}")
    } else {
        digits
    };
    if !(10..=15).contains(&intl.len()) || intl.starts_with('0') {
        return None;
    }
    Some(intl)
}

#[cfg(test)]
mod tests {
    use super::normalize_target as n;

    #[test]
    fn israeli_without_prefix_others_with() {
        assert_eq!(n("0501234567").as_deref(), Some("972501234567"));
        assert_eq!(n("050-123-4567").as_deref(), Some("972501234567"));
        assert_eq!(n("036123456").as_deref(), Some("97236123456"));
        assert_eq!(n("+1 212 555 0100").as_deref(), Some("12125550100"));
        assert_eq!(n("0044 20 7946 0000").as_deref(), Some("442079460000"));
        assert_eq!(n("972722776772").as_deref(), Some("972722776772"));
        for bad in [
            "",
            "abc",
            "05012",
            "0501234567890",
            "12345",
            "+",
            "050x1234567",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }
}
