//! Keys that no setting has. A typo (`mandatroy = true`) would otherwise
//! be dropped by serde's defaults and silently disarm the rule it meant to
//! set, so every unknown key is an error naming it and where it is, like
//! nginx's "unknown directive": in the file (`check-config`, `serve`) and
//! in an admin API body.

use serde::de::DeserializeOwned;

use super::raw::RawConfig;
use super::{profiles, ConfigError};

/// One step of the path to an ignored key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &serde_ignored::Path<'_>) -> Vec<Step> {
    use serde_ignored::Path;
    let mut out = Vec::new();
    let mut at = path;
    loop {
        at = match at {
            Path::Root => break,
            Path::Seq { parent, index } => {
                out.push(Step::Index(*index));
                parent
            }
            Path::Map { parent, key } => {
                out.push(Step::Key(key.clone()));
                parent
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => parent,
        };
    }
    out.reverse();
    out
}

/// `a.b[2].c` for a path, 1-based like every other location.
fn plain(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k)
            }
            Step::Index(i) => s.push_str(&format!("[{}]", i + 1)),
        }
    }
    s
}

/// Where the key at `steps` sits: a profile and its row the way the
/// loader names them, anything else as a dotted path.
/// The 1-based profile field row a path lies in, if it does.
fn field_row(parent: &[Step]) -> Option<usize> {
    match parent {
        [Step::Key(p), Step::Index(_), Step::Key(f), Step::Index(j), ..]
            if p == "profiles" && f == "fields" =>
        {
            Some(j + 1)
        }
        _ => None,
    }
}

fn location(raw: &RawConfig, parent: &[Step]) -> String {
    use Step::{Index, Key};
    match parent {
        [] => "top level".to_string(),
        [Key(p), Index(i), rest @ ..] if p == "profiles" && *i < raw.profiles.len() => {
            let profile = &raw.profiles[*i];
            let ploc = profiles::location(*i, profile);
            match rest {
                [] => ploc,
                [Key(f), Index(j)] if f == "fields" && *j < profile.fields.len() => {
                    profiles::row_location(&ploc, *j, &profile.fields[*j])
                }
                _ => format!("{ploc} {}", plain(rest)),
            }
        }
        _ => plain(parent),
    }
}

/// Parses the configuration file: a TOML error with its line, or every
/// unknown key with its location.
pub fn parse_toml(text: &str) -> Result<RawConfig, Vec<ConfigError>> {
    let syntax = |e: toml::de::Error| {
        let location = match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}")
            }
            None => "file".to_string(),
        };
        vec![ConfigError {
            location,
            message: e.message().to_string(),
            row: None,
            column: None,
        }]
    };
    let de = toml::Deserializer::parse(text).map_err(syntax)?;
    let mut unknown = Vec::new();
    let raw: RawConfig =
        serde_ignored::deserialize(de, |path| unknown.push(steps(&path))).map_err(syntax)?;
    if unknown.is_empty() {
        return Ok(raw);
    }
    Err(unknown
        .iter()
        .map(|path| {
            let (key, parent) = path.split_last().expect("an ignored key has a path");
            let key = match key {
                Step::Key(k) => k.clone(),
                Step::Index(i) => format!("[{}]", i + 1),
            };
            ConfigError {
                location: location(&raw, parent),
                message: format!("unknown key {key:?}"),
                row: field_row(parent),
                column: None,
            }
        })
        .collect())
}

/// A JSON value (an admin API body) as a `T`; an unknown key is an error
/// that names it.
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    let mut unknown = Vec::new();
    let t = serde_ignored::deserialize(value, |path| unknown.push(plain(&steps(&path))))
        .map_err(|e| e.to_string())?;
    match unknown.as_slice() {
        [] => Ok(t),
        [one] => Err(format!("unknown key {one:?}")),
        many => Err(format!("unknown keys {}", many.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse_toml(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn unknown_keys_are_named_with_their_profile_and_row() {
        let text = r#"
[server]
mandatroy = 1
[sever]
listen = "x"
[[profiles]]
number = 7
form_name = "f"
colour = "x"
  [[profiles.fields]]
  external = "Phone"
  table = "clients"
  field = "phone1"
  mandatroy = true
[[users]]
login = "a"
emial = "b"
"#;
        let errs = errors(text);
        let want = [
            "server: unknown key \"mandatroy\"",
            "top level: unknown key \"sever\"",
            "profile #7 (\"f\", entry 1): unknown key \"colour\"",
            "profile #7 (\"f\", entry 1) row 1 (\"Phone\" -> clients.phone1): unknown key \"mandatroy\"",
            "users[1]: unknown key \"emial\"",
        ];
        for w in want {
            assert!(errs.iter().any(|e| e == w), "{w} not in {errs:#?}");
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        // Free-form maps (templates, a rule's fields) take any key.
        let maps =
            "[[rules]]\nid = 1\n[rules.fields]\nanything = \"x\"\n[templates.t]\nsubject = \"s\"\n";
        assert_eq!(errors(maps), Vec::<String>::new());
    }

    #[test]
    fn unknown_json_keys_are_errors() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(default)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        impl Default for S {
            fn default() -> Self {
                S { a: 1 }
            }
        }
        assert!(from_json::<S>(serde_json::json!({"a": 2})).is_ok());
        assert_eq!(
            from_json::<S>(serde_json::json!({"a": 2, "name": "x"})).unwrap_err(),
            "unknown key \"name\""
        );
    }
}
