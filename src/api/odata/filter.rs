//! OData v4 `$filter`, the subset SPEC §8 asks for: `eq ne gt ge lt le`,
//! `and or not`, parentheses, and string / number / boolean / null /
//! date-time literals, over an entity's properties. Parsed once into an AST,
//! then evaluated against each entity (a JSON object).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    /// A date-time literal, as epoch milliseconds.
    Time(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Prop(String),
    Lit(Lit),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp(Operand, Op, Operand),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Lit),
    Open,
    Close,
}

const MAX_LEN: usize = 4096;
const MAX_DEPTH: usize = 64;

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' => i += 1,
            b'(' => {
                out.push(Tok::Open);
                i += 1
            }
            b')' => {
                out.push(Tok::Close);
                i += 1
            }
            b'\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match s[i..].find('\'') {
                        None => return Err("unterminated string literal".into()),
                        Some(j) => {
                            text.push_str(&s[i..i + j]);
                            i += j + 1;
                            if b.get(i) == Some(&b'\'') {
                                text.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                out.push(Tok::Lit(Lit::Str(text)));
            }
            b'0'..=b'9' | b'-' => {
                let start = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b':' | b'-' | b'+'))
                {
                    i += 1;
                }
                let word = &s[start..i];
                if word.contains('T') && word.len() > 10 {
                    let t = crate::clock::parse_rfc3339(word)
                        .ok_or_else(|| format!("bad date-time literal {word}"))?;
                    out.push(Tok::Lit(Lit::Time(t)));
                } else {
                    let n: f64 = word.parse().map_err(|_| format!("bad number {word}"))?;
                    out.push(Tok::Lit(Lit::Num(n)));
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &s[start..i];
                out.push(match word {
                    "null" => Tok::Lit(Lit::Null),
                    "true" => Tok::Lit(Lit::Bool(true)),
                    "false" => Tok::Lit(Lit::Bool(false)),
                    w => Tok::Ident(w.to_string()),
                });
            }
            _ => {
                // The whole character, not its first byte as Latin-1.
                let c = s[i..].chars().next().unwrap_or('\u{fffd}');
                return Err(format!("unexpected character {c:?}"));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w == word)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_ident("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_ident("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("$filter nests too deeply".into());
        }
        let e = if self.peek_ident("not") {
            self.pos += 1;
            Expr::Not(Box::new(self.unary()?))
        } else if self.toks.get(self.pos) == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            if self.toks.get(self.pos) != Some(&Tok::Close) {
                return Err("missing ')'".into());
            }
            self.pos += 1;
            e
        } else {
            let left = self.operand()?;
            let op = match self.toks.get(self.pos) {
                Some(Tok::Ident(w)) => match w.as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    other => return Err(format!("unknown operator {other:?}")),
                },
                _ => return Err("expected a comparison operator".into()),
            };
            self.pos += 1;
            let right = self.operand()?;
            Expr::Cmp(left, op, right)
        };
        self.depth -= 1;
        Ok(e)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("expression ends too early")?;
        self.pos += 1;
        match t {
            Tok::Ident(w) => Ok(Operand::Prop(w)),
            Tok::Lit(l) => Ok(Operand::Lit(l)),
            _ => Err("expected a property or a literal".into()),
        }
    }
}

/// Parses a `$filter` expression; `props` are the entity's property names.
pub fn parse(text: &str, props: &[&str]) -> Result<Expr, String> {
    if text.len() > MAX_LEN {
        return Err("$filter is too long".into());
    }
    let mut p = Parser {
        toks: tokenize(text)?,
        pos: 0,
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err("$filter is empty".into());
    }
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    check_props(&e, props)?;
    Ok(e)
}

fn check_props(e: &Expr, props: &[&str]) -> Result<(), String> {
    match e {
        Expr::Cmp(a, _, b) => {
            for o in [a, b] {
                if let Operand::Prop(p) = o {
                    if !props.contains(&p.as_str()) {
                        return Err(format!("unknown property {p:?}"));
                    }
                }
            }
            Ok(())
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_props(a, props).and_then(|_| check_props(b, props))
        }
        Expr::Not(a) => check_props(a, props),
    }
}

fn value_of(o: &Operand, entity: &Value) -> Lit {
    match o {
        Operand::Lit(l) => l.clone(),
        Operand::Prop(p) => match &entity[p.as_str()] {
            Value::Null => Lit::Null,
            Value::Bool(b) => Lit::Bool(*b),
            Value::Number(n) => Lit::Num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => Lit::Str(s.clone()),
            other => Lit::Str(other.to_string()),
        },
    }
}

fn order(a: &Lit, b: &Lit) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Lit::Num(x), Lit::Num(y)) => x.partial_cmp(y),
        (Lit::Str(x), Lit::Str(y)) => Some(x.cmp(y)),
        (Lit::Bool(x), Lit::Bool(y)) => Some(x.cmp(y)),
        (Lit::Time(x), Lit::Time(y)) => Some(x.cmp(y)),
        (Lit::Str(s), Lit::Time(t)) => crate::clock::parse_rfc3339(s).map(|x| x.cmp(t)),
        (Lit::Time(t), Lit::Str(s)) => crate::clock::parse_rfc3339(s).map(|x| t.cmp(&x)),
        (Lit::Null, Lit::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// Whether `entity` passes `e`. Comparisons with null: only `eq null` /
/// `ne null` can be true; mismatched types compare unequal.
pub fn eval(e: &Expr, entity: &Value) -> bool {
    use std::cmp::Ordering::*;
    match e {
        Expr::And(a, b) => eval(a, entity) && eval(b, entity),
        Expr::Or(a, b) => eval(a, entity) || eval(b, entity),
        Expr::Not(a) => !eval(a, entity),
        Expr::Cmp(a, op, b) => {
            let (x, y) = (value_of(a, entity), value_of(b, entity));
            let ord = order(&x, &y);
            match op {
                Op::Eq => ord == Some(Equal),
                Op::Ne => ord != Some(Equal),
                Op::Gt => ord == Some(Greater) && x != Lit::Null,
                Op::Ge => matches!(ord, Some(Greater | Equal)) && x != Lit::Null,
                Op::Lt => ord == Some(Less) && x != Lit::Null,
                Op::Le => matches!(ord, Some(Less | Equal)) && x != Lit::Null,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROPS: &[&str] = &["City", "Age", "At", "Reason", "Ok"];

    fn f(text: &str, e: &Value) -> bool {
        eval(
            &parse(text, PROPS).unwrap_or_else(|m| panic!("{text}: {m}")),
            e,
        )
    }

    #[test]
    fn comparisons_logic_and_literals() {
        let e = json!({"City": "Tel Aviv", "Age": 30, "At": "2026-11-22T10:00:00.000Z", "Reason": null, "Ok": true});
        assert!(f("City eq 'Tel Aviv'", &e));
        assert!(f("City ne 'Haifa' and Age gt 29.5", &e));
        assert!(f("Age ge 30 and Age le 30 and not (Age lt 30)", &e));
        assert!(f("(City eq 'X' or Age eq 30) and Ok eq true", &e));
        assert!(f("Reason eq null", &e));
        assert!(!f("Reason ne null", &e));
        assert!(!f("Reason gt 1", &e), "null never orders");
        assert!(f("At gt 2026-11-22T09:59:59Z", &e));
        assert!(
            f("At lt 2026-11-22T12:30:00+02:00", &e),
            "offsets respected"
        );
        assert!(f("City eq 'O''Neil' or Age eq -1 or Age eq 30", &e));
        assert!(!f("City eq 30", &e), "mismatched types are unequal");
        assert!(f("City gt 'A' or City lt 'B'", &e));
        assert!(f("1 eq 1 and 'a' lt 'b'", &e), "literals on both sides");
    }

    #[test]
    fn errors_are_reported_not_guessed() {
        for bad in [
            "",
            "City",
            "City eq",
            "City eq 'x",
            "City like 'x'",
            "Nope eq 1",
            "(City eq 'x'",
            "City eq 'x')",
            "City eq 'x' and",
            "Age eq 1.2.3",
            "At gt 2026-13-45T00:00:00Z",
            "City eq \"x\"",
            "City eq 'x' City",
        ] {
            assert!(parse(bad, PROPS).is_err(), "{bad:?} must be an error");
        }
        let deep = format!("{}Age eq 1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep, PROPS).is_err());
        assert!(parse(&"Age eq 1 and ".repeat(2000), PROPS).is_err());
    }

    /// Issue 18: the character was its first byte read as Latin-1 (`'Ã'`).
    #[test]
    fn a_non_ascii_character_is_quoted_as_itself() {
        assert_eq!(
            parse("City eq Ãµ", PROPS).unwrap_err(),
            "unexpected character 'Ã'"
        );
        assert_eq!(
            parse("City eq דנה", PROPS).unwrap_err(),
            "unexpected character 'ד'"
        );
    }
}
