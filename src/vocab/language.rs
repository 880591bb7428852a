//! SPEC §4 step 4 (code 009): every letter of every mapped value must be in
//! one of `acceptable_scripts`. Digits, punctuation, symbols and emoji are
//! neutral (Unicode script Common or Inherited, or not a letter at all).

use unicode_script::{Script, UnicodeScript};

/// Parses a script name as the config gives it ("Latin", "hebrew", "Cyrl").
pub fn parse_script(name: &str) -> Option<Script> {
    let trimmed = name.trim();
    Script::from_full_name(trimmed)
        .or_else(|| Script::from_short_name(trimmed))
        .or_else(|| {
            // Full names are capitalised words joined by '_' ("Old_Italic").
            let canon: String = trimmed
                .split(['_', ' '])
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => f
                            .to_uppercase()
                            .chain(c.flat_map(|x| x.to_lowercase()))
                            .collect(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<String>>()
                .join("_");
            Script::from_full_name(&canon)
        })
}

/// True when every letter of `text` is neutral or in `accepted` (empty = no check).
pub fn acceptable(accepted: &[Script], text: &str) -> bool {
    accepted.is_empty()
        || text.chars().all(|c| {
            !c.is_alphabetic()
                || matches!(c.script(), Script::Common | Script::Inherited)
                || accepted.contains(&c.script())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case() {
        assert_eq!(parse_script("Latin"), Some(Script::Latin));
        assert_eq!(parse_script("hebrew"), Some(Script::Hebrew));
        assert_eq!(parse_script("Cyrl"), Some(Script::Cyrillic));
        assert_eq!(parse_script("Klingonish"), None);
    }

    #[test]
    fn letters_checked_neutral_characters_pass() {
        let ok = [Script::Latin, Script::Hebrew];
        assert!(acceptable(&ok, "Dana Levi דנה 050-123 4567 !?,. 😀 ₪ №"));
        assert!(acceptable(&ok, "Café déjà"), "Latin with combining marks");
        assert!(!acceptable(&ok, "Дана"), "Cyrillic");
        assert!(
            !acceptable(&ok, "Dana 丹娜"),
            "one foreign letter is enough"
        );
        assert!(acceptable(&[], "Дана 丹娜"), "no list, no check");
    }
}
