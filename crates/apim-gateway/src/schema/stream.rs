//! The streaming check: a body read once, with its schema beside it, and no tree built. A reader of our own
//! rather than a serde visitor: serde's `deserialize_any` walk alone cost more than twice the parse, and this
//! runs on every validated request. It reads JSON as RFC 8259 defines it and as serde_json reads it (the same
//! bodies are refused: UTF-8 only, no control characters in strings, no lone surrogates, no leading zeros, no
//! number out of `f64`'s range, nesting to serde_json's limit of 128), so the tree path and this one agree; a
//! test holds them together on mutated bodies.

use std::borrow::Cow;

use super::{Doc, Failure, Schema, Ty};

/// serde_json's nesting limit, so that both readers refuse the same bodies.
const MAX_NESTING: usize = 128;

/// Why the walk stopped.
enum Stop {
    /// Not JSON: what is wrong, and the byte where it was seen.
    Syntax(&'static str, usize),
    /// JSON that the schema refuses.
    Invalid(Failure),
}

impl Stop {
    /// A failure below gets this level's path segment on its way out.
    fn under(self, segment: impl FnOnce() -> String) -> Stop {
        match self {
            Stop::Invalid(f) => Stop::Invalid(f.under(segment())),
            syntax => syntax,
        }
    }
}

/// `body` against `schema`, which must be streamable (no combinator needs the whole value).
pub(super) fn check(schema: &Schema, body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| not_json(body, "invalid UTF-8", e.valid_up_to()))?;
    let mut scan = Scan { text, b: text.as_bytes(), at: 0, nesting: 0 };
    let walked = scan.value(schema).and_then(|()| {
        scan.whitespace();
        if scan.at < scan.b.len() { Err(Stop::Syntax("trailing characters", scan.at)) } else { Ok(()) }
    });
    match walked {
        Ok(()) => Ok(()),
        Err(Stop::Invalid(f)) => Err(f.render()),
        Err(Stop::Syntax(what, at)) => Err(not_json(body, what, at)),
    }
}

/// serde_json's way of saying where: line and column, both from 1.
fn not_json(body: &[u8], what: &str, at: usize) -> String {
    let before = &body[..at.min(body.len())];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1) + 1;
    format!("the body is not JSON: {what} at line {line} column {column}")
}

/// Member names are short: a byte loop beats a call to `memcmp`.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

fn scalar(schema: &Schema, v: Doc<'_>) -> Result<(), Stop> {
    if schema.open { Ok(()) } else { schema.check(&v).map_err(Stop::Invalid) }
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
    nesting: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self, schema: &Schema) -> Result<(), Stop> {
        self.whitespace();
        match self.peek() {
            Some(b'{') => self.object(schema),
            Some(b'[') => self.array(schema),
            Some(b'"') => {
                let s = self.string()?;
                scalar(schema, Doc::Str(s))
            }
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                scalar(schema, n)
            }
            Some(b't') => self.word(b"true").and_then(|()| scalar(schema, Doc::Bool(true))),
            Some(b'f') => self.word(b"false").and_then(|()| scalar(schema, Doc::Bool(false))),
            Some(b'n') => self.word(b"null").and_then(|()| scalar(schema, Doc::Null)),
            Some(_) => Err(Stop::Syntax("expected a value", self.at)),
            None => Err(Stop::Syntax("the body ends where a value should be", self.at)),
        }
    }

    fn word(&mut self, word: &[u8]) -> Result<(), Stop> {
        if self.b[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Stop::Syntax("expected a value", self.at))
        }
    }

    /// One level deeper, at an opening bracket.
    fn enter(&mut self) -> Result<(), Stop> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Stop::Syntax("nested too deeply", self.at));
        }
        self.at += 1;
        Ok(())
    }

    fn array(&mut self, schema: &Schema) -> Result<(), Stop> {
        self.enter()?;
        schema.check_type(|t| t == Ty::Array, "array").map_err(Stop::Invalid)?;
        let items = schema.items.as_deref().unwrap_or(&super::ANY);
        let mut n = 0usize;
        self.whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.value(items).map_err(|e| e.under(|| n.to_string()))?;
                n += 1;
                self.whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        break;
                    }
                    Some(_) => return Err(Stop::Syntax("expected `,` or `]`", self.at)),
                    None => return Err(Stop::Syntax("an array is not closed", self.at)),
                }
            }
        }
        self.nesting -= 1;
        if schema.min_items.is_some_and(|m| n < m) || schema.max_items.is_some_and(|m| n > m) {
            return Err(Stop::Invalid(Failure::new(format!("{n} items is out of bounds"))));
        }
        Ok(())
    }

    fn object(&mut self, schema: &Schema) -> Result<(), Stop> {
        self.enter()?;
        schema.check_type(|t| t == Ty::Object, "object").map_err(Stop::Invalid)?;
        // Which required members were seen: a bit each for the first 128 (no allocation per object); a schema
        // requiring more is checked for those beyond after the object ends.
        let mut seen = 0u128;
        let mut beyond: Vec<usize> = Vec::new();
        self.whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.whitespace();
                match self.peek() {
                    Some(b'"') => {}
                    Some(_) => return Err(Stop::Syntax("expected a member name", self.at)),
                    None => return Err(Stop::Syntax("an object is not closed", self.at)),
                }
                let key = self.string()?;
                self.whitespace();
                if self.peek() != Some(b':') {
                    return Err(Stop::Syntax("expected `:`", self.at));
                }
                self.at += 1;
                let (below, required) = match schema.properties.iter().position(|(name, _)| same_text(name, &key)) {
                    Some(i) => (&schema.properties[i].1, schema.property_required.get(i).copied().flatten()),
                    None => {
                        let required =
                            if schema.required_elsewhere { schema.required.iter().position(|r| same_text(r, &key)) } else { None };
                        match &schema.additional {
                            Some(None) => {
                                return Err(Stop::Invalid(Failure::new("no such property is allowed".into()).under(key.into_owned())));
                            }
                            Some(Some(s)) => (&**s, required),
                            None => (&*super::ANY, required),
                        }
                    }
                };
                match required {
                    Some(i) if i < 128 => seen |= 1 << i,
                    Some(i) => beyond.push(i),
                    None => {}
                }
                self.value(below).map_err(|e| e.under(|| key.into_owned()))?;
                self.whitespace();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    Some(_) => return Err(Stop::Syntax("expected `,` or `}`", self.at)),
                    None => return Err(Stop::Syntax("an object is not closed", self.at)),
                }
            }
        }
        self.nesting -= 1;
        let missing = (0..schema.required.len()).find(|&i| if i < 128 { seen & (1 << i) == 0 } else { !beyond.contains(&i) });
        if let Some(i) = missing {
            return Err(Stop::Invalid(Failure::new(format!("`{}` is required", schema.required[i]))));
        }
        Ok(())
    }

    /// A string at its opening quote: borrowed from the body unless it holds escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, Stop> {
        let open = self.at;
        self.at += 1;
        let start = self.at;
        // Every stop below is at an ASCII byte, so every slice of `text` is on a character boundary.
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.at - 1]));
                }
                Some(b'\\') => break,
                Some(0..0x20) => return Err(Stop::Syntax("a control character in a string", self.at)),
                Some(_) => self.at += 1,
                None => return Err(Stop::Syntax("a string is not closed", open)),
            }
        }
        let mut out = String::from(&self.text[start..self.at]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(Stop::Syntax("an invalid escape", self.at)),
                    };
                    self.at += 1;
                    out.push(c);
                }
                Some(0..0x20) => return Err(Stop::Syntax("a control character in a string", self.at)),
                Some(_) => {
                    let run = self.at;
                    while let Some(c) = self.peek()
                        && c != b'"'
                        && c != b'\\'
                        && c >= 0x20
                    {
                        self.at += 1;
                    }
                    out.push_str(&self.text[run..self.at]);
                }
                None => return Err(Stop::Syntax("a string is not closed", open)),
            }
        }
    }

    /// `\uXXXX` (at its `u`), a surrogate pair taken whole; leaves `at` on the last hex digit.
    fn unicode_escape(&mut self) -> Result<char, Stop> {
        let at = self.at;
        let high = self.hex4(self.at + 1)?;
        self.at += 4;
        let code = match high {
            0xD800..=0xDBFF => {
                if self.b.get(self.at + 1..self.at + 3) != Some(b"\\u") {
                    return Err(Stop::Syntax("a lone surrogate in a \\u escape", at));
                }
                let low = self.hex4(self.at + 3)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(Stop::Syntax("a lone surrogate in a \\u escape", at));
                }
                self.at += 6;
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Stop::Syntax("a lone surrogate in a \\u escape", at)),
            bmp => u32::from(bmp),
        };
        char::from_u32(code).ok_or(Stop::Syntax("an invalid \\u escape", at))
    }

    fn hex4(&self, from: usize) -> Result<u16, Stop> {
        let digits = self.b.get(from..from + 4).ok_or(Stop::Syntax("a \\u escape is cut short", from))?;
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(Stop::Syntax("an invalid \\u escape", from)),
            };
            n = n << 4 | u16::from(v);
        }
        Ok(n)
    }

    /// A number as serde_json types it: an integer without fraction or exponent that fits (`i64`, else `u64`),
    /// otherwise `f64`.
    fn number(&mut self) -> Result<Doc<'a>, Stop> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        let mut integer = Some(0u64);
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(Stop::Syntax("a number with a leading zero", start));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    integer = integer.and_then(|n| n.checked_mul(10)).and_then(|n| n.checked_add(u64::from(d - b'0')));
                    self.at += 1;
                }
            }
            _ => return Err(Stop::Syntax("an invalid number", start)),
        }
        let mut fractional = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits(start)?;
            fractional = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digits(start)?;
            fractional = true;
        }
        if !fractional && let Some(n) = integer {
            return Ok(match (negative, i64::try_from(n)) {
                (false, Ok(i)) => Doc::Int(i),
                (false, Err(_)) => Doc::UInt(n),
                (true, _) => i64::try_from(-i128::from(n)).map_or(Doc::Float(-(n as f64)), Doc::Int),
            });
        }
        match self.text[start..self.at].parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Doc::Float(f)),
            _ => Err(Stop::Syntax("a number out of range", start)),
        }
    }

    /// One digit or more (of a fraction or an exponent).
    fn digits(&mut self, number: usize) -> Result<(), Stop> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(Stop::Syntax("an invalid number", number));
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        Ok(())
    }
}
