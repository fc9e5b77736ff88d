//! The streaming check: a body read once, with its schema beside it, and no tree built. A reader of our own
//! rather than a serde visitor: serde's `deserialize_any` walk alone cost more than twice the parse, and this
//! runs on every validated request. It reads JSON as RFC 8259 defines it and as serde_json reads it (the same
//! bodies are refused: UTF-8 only, no control characters in strings, no lone surrogates, no leading zeros, no
//! number out of `f64`'s range, nesting to serde_json's limit of 128), so the tree path and this one agree; a
//! test holds them together on mutated bodies.

use std::borrow::Cow;

use super::{Doc, Failure, Schema, Ty, kind};

/// serde_json's nesting limit, so that both readers refuse the same bodies.
const MAX_NESTING: usize = 128;

/// Why the walk stopped.
enum Stop {
    /// Not JSON: what is wrong, and the byte where it was seen.
    Syntax(&'static str, usize),
    /// JSON that the schema refuses.
    Invalid(Failure),
}

/// The walk stopped; [`Scan::stop`] says why. A one-byte error, so that `?` on every value costs a test of a
/// register rather than a copy of the reason up every level.
struct Halt;

type Walk = Result<(), Halt>;

/// `body` against `schema`, which must be streamable (no combinator needs the whole value).
pub(super) fn check(schema: &Schema, body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| not_json(body, "invalid UTF-8", e.valid_up_to()))?;
    let mut scan = Scan { text, b: text.as_bytes(), at: 0, nesting: 0, stop: None };
    let walked = scan.value(schema).and_then(|()| {
        scan.whitespace();
        if scan.at < scan.b.len() { scan.syntax("trailing characters", scan.at) } else { Ok(()) }
    });
    match (walked, scan.stop) {
        (Ok(()), _) => Ok(()),
        (Err(Halt), Some(Stop::Invalid(f))) => Err(f.render()),
        (Err(Halt), Some(Stop::Syntax(what, at))) => Err(not_json(body, what, at)),
        (Err(Halt), None) => Err(not_json(body, "unreadable", scan.at)),
    }
}

/// serde_json's way of saying where: line and column, both from 1.
fn not_json(body: &[u8], what: &str, at: usize) -> String {
    let before = &body[..at.min(body.len())];
    let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
    let column = before.len() - before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1) + 1;
    format!("the body is not JSON: {what} at line {line} column {column}")
}

/// The first quote, backslash or control character in `b` from `at` (or `b.len()`): eight bytes at a time, since
/// strings are most of a body's bytes.
#[inline(always)]
fn special_from(b: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte's high bit is set where it is zero after the XOR (or below 0x20). Borrows can only mark bytes
        // above the first true one, and only the lowest mark is used.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v;
        let marks = (zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | zero(w & !(ONES * 0x1f))) & HIGHS;
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&c) = b.get(at) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

/// Member names are short: a byte loop beats a call to `memcmp`.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
    nesting: usize,
    /// Set where the walk halts.
    stop: Option<Stop>,
}

impl<'a> Scan<'a> {
    /// The byte at `at`, or 0 past the end (a 0 inside the body is refused wherever it is, as the end is).
    fn byte(&self) -> u8 {
        self.b.get(self.at).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.at >= self.b.len()
    }

    #[cold]
    fn syntax<T>(&mut self, what: &'static str, at: usize) -> Result<T, Halt> {
        self.stop = Some(Stop::Syntax(what, at));
        Err(Halt)
    }

    #[cold]
    fn invalid<T>(&mut self, f: Failure) -> Result<T, Halt> {
        self.stop = Some(Stop::Invalid(f));
        Err(Halt)
    }

    /// A schema failure below gets this level's path segment on its way out.
    #[cold]
    fn under(&mut self, segment: String) -> Walk {
        if let Some(Stop::Invalid(f)) = &mut self.stop {
            f.path.push(segment);
        }
        Err(Halt)
    }

    /// A scalar the fast tests below could not settle: the whole check, which says why.
    #[cold]
    #[inline(never)]
    fn scalar(&mut self, schema: &Schema, v: Doc<'_>) -> Walk {
        match schema.check(&v) {
            Ok(()) => Ok(()),
            Err(f) => self.invalid(f),
        }
    }

    fn whitespace(&mut self) {
        while let b' ' | b'\t' | b'\n' | b'\r' = self.byte() {
            self.at += 1;
        }
    }

    /// A value: objects and arrays by a call, scalars in line, since most values in a body are scalars and the
    /// call, not the check, was most of what they cost.
    #[inline(always)]
    fn value(&mut self, schema: &Schema) -> Walk {
        self.whitespace();
        match self.byte() {
            b'{' => self.object(schema),
            b'[' => self.array(schema),
            b'"' => {
                let s = self.string()?;
                // `check` in parts: a streamable schema has no combinators.
                if schema.refused & kind::STRING != 0 || schema.allowed.is_some() {
                    return self.scalar(schema, Doc::Str(s));
                }
                match schema.string_rules(&s) {
                    Ok(()) => Ok(()),
                    Err(f) => self.invalid(f),
                }
            }
            b'-' | b'0'..=b'9' => {
                if let Some(i) = self.short_integer() {
                    return self.number_checked(schema, Doc::Int(i));
                }
                let n = self.number()?;
                self.number_checked(schema, n)
            }
            b't' => self.word(b"true", schema, Doc::Bool(true)),
            b'f' => self.word(b"false", schema, Doc::Bool(false)),
            b'n' => self.word(b"null", schema, Doc::Null),
            _ if self.at_end() => self.syntax("the body ends where a value should be", self.at),
            _ => self.syntax("expected a value", self.at),
        }
    }

    #[inline(always)]
    fn number_checked(&mut self, schema: &Schema, n: Doc<'_>) -> Walk {
        if schema.refused & n.kind() != 0 || schema.allowed.is_some() {
            return self.scalar(schema, n);
        }
        match schema.number_rules(&n) {
            Ok(()) => Ok(()),
            Err(f) => self.invalid(f),
        }
    }

    /// The common number, read in line: up to 18 digits (always an `i64`), no sign, fraction or exponent. `None`
    /// leaves `at` where it was, for [`Scan::number`].
    #[inline(always)]
    fn short_integer(&mut self) -> Option<i64> {
        let start = self.at;
        let mut at = start;
        let mut n = 0i64;
        while at - start < 18
            && let Some(&d) = self.b.get(at)
            && d.is_ascii_digit()
        {
            n = n * 10 + i64::from(d - b'0');
            at += 1;
        }
        let leading_zero = at > start + 1 && self.b[start] == b'0';
        if at == start || leading_zero || matches!(self.b.get(at), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
            return None;
        }
        self.at = at;
        Some(n)
    }

    fn word(&mut self, word: &[u8], schema: &Schema, v: Doc<'_>) -> Walk {
        if !self.b[self.at..].starts_with(word) {
            return self.syntax("expected a value", self.at);
        }
        self.at += word.len();
        if schema.refused & v.kind() != 0 || schema.allowed.is_some() { self.scalar(schema, v) } else { Ok(()) }
    }

    /// One level deeper, at an opening bracket.
    fn enter(&mut self) -> Walk {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return self.syntax("nested too deeply", self.at);
        }
        self.at += 1;
        Ok(())
    }

    fn array(&mut self, schema: &Schema) -> Walk {
        self.enter()?;
        if schema.refused & kind::ARRAY != 0
            && let Err(f) = schema.check_type(|t| t == Ty::Array, "array")
        {
            return self.invalid(f);
        }
        let items = schema.items.as_deref().unwrap_or(&super::ANY);
        let mut n = 0usize;
        self.whitespace();
        if self.byte() == b']' {
            self.at += 1;
        } else {
            loop {
                if self.value(items).is_err() {
                    return self.under(n.to_string());
                }
                n += 1;
                self.whitespace();
                match self.byte() {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ if self.at_end() => return self.syntax("an array is not closed", self.at),
                    _ => return self.syntax("expected `,` or `]`", self.at),
                }
            }
        }
        self.nesting -= 1;
        if schema.min_items.is_some_and(|m| n < m) || schema.max_items.is_some_and(|m| n > m) {
            return self.invalid(Failure::new(format!("{n} items is out of bounds")));
        }
        Ok(())
    }

    fn object(&mut self, schema: &Schema) -> Walk {
        self.enter()?;
        if schema.refused & kind::OBJECT != 0
            && let Err(f) = schema.check_type(|t| t == Ty::Object, "object")
        {
            return self.invalid(f);
        }
        // Which required members were seen: a bit each for the first 64 (no allocation per object); a schema
        // requiring more is checked for those beyond after the object ends.
        let mut seen = 0u64;
        let mut beyond: Vec<usize> = Vec::new();
        self.whitespace();
        if self.byte() == b'}' {
            self.at += 1;
        } else {
            loop {
                self.whitespace();
                if self.byte() != b'"' {
                    let what = if self.at_end() { "an object is not closed" } else { "expected a member name" };
                    return self.syntax(what, self.at);
                }
                let key = self.string()?;
                self.whitespace();
                if self.byte() != b':' {
                    return self.syntax("expected `:`", self.at);
                }
                self.at += 1;
                let (below, required) = match schema.properties.iter().position(|(name, _)| same_text(name, &key)) {
                    Some(i) => (&schema.properties[i].1, schema.property_required.get(i).copied().flatten()),
                    None => {
                        let required =
                            if schema.required_elsewhere { schema.required.iter().position(|r| same_text(r, &key)) } else { None };
                        match &schema.additional {
                            Some(None) => {
                                return self.invalid(Failure::new("no such property is allowed".into()).under(key.into_owned()));
                            }
                            Some(Some(s)) => (&**s, required),
                            None => (&*super::ANY, required),
                        }
                    }
                };
                match required {
                    Some(i) if i < 64 => seen |= 1 << i,
                    Some(i) => beyond.push(i),
                    None => {}
                }
                if self.value(below).is_err() {
                    return self.under(key.into_owned());
                }
                self.whitespace();
                match self.byte() {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ if self.at_end() => return self.syntax("an object is not closed", self.at),
                    _ => return self.syntax("expected `,` or `}`", self.at),
                }
            }
        }
        self.nesting -= 1;
        let all = if schema.required.len() >= 64 { u64::MAX } else { (1u64 << schema.required.len()) - 1 };
        if seen == all && schema.required.len() <= 64 {
            return Ok(());
        }
        let missing = (0..schema.required.len()).find(|&i| if i < 64 { seen & (1 << i) == 0 } else { !beyond.contains(&i) });
        if let Some(i) = missing {
            return self.invalid(Failure::new(format!("`{}` is required", schema.required[i])));
        }
        Ok(())
    }

    /// A string at its opening quote: borrowed from the body unless it holds escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>, Halt> {
        let start = self.at + 1;
        let end = special_from(self.b, start);
        if self.b.get(end) == Some(&b'"') {
            self.at = end + 1;
            // `start` follows a quote and `end` is one: both on character boundaries.
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        self.escaped(start, end)
    }

    /// The rest of a string from `at`, its first escape (or the control character or end that refuses it).
    #[cold]
    #[inline(never)]
    fn escaped(&mut self, start: usize, at: usize) -> Result<Cow<'a, str>, Halt> {
        let open = start - 1;
        self.at = at;
        let mut out = String::from(&self.text[start..at]);
        loop {
            match self.byte() {
                b'"' => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.at += 1;
                    let c = match self.byte() {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return self.syntax("an invalid escape", self.at),
                    };
                    self.at += 1;
                    out.push(c);
                }
                _ if self.at_end() => return self.syntax("a string is not closed", open),
                0..0x20 => return self.syntax("a control character in a string", self.at),
                _ => {
                    let run = self.at;
                    self.at = special_from(self.b, run);
                    out.push_str(&self.text[run..self.at]);
                }
            }
        }
    }

    /// `\uXXXX` (at its `u`), a surrogate pair taken whole; leaves `at` on the last hex digit.
    fn unicode_escape(&mut self) -> Result<char, Halt> {
        let at = self.at;
        let high = self.hex4(self.at + 1)?;
        self.at += 4;
        let code = match high {
            0xD800..=0xDBFF => {
                if self.b.get(self.at + 1..self.at + 3) != Some(b"\\u") {
                    return self.syntax("a lone surrogate in a \\u escape", at);
                }
                let low = self.hex4(self.at + 3)?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return self.syntax("a lone surrogate in a \\u escape", at);
                }
                self.at += 6;
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
            }
            0xDC00..=0xDFFF => return self.syntax("a lone surrogate in a \\u escape", at),
            bmp => u32::from(bmp),
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.syntax("an invalid \\u escape", at),
        }
    }

    fn hex4(&mut self, from: usize) -> Result<u16, Halt> {
        let Some(digits) = self.b.get(from..from + 4) else { return self.syntax("a \\u escape is cut short", from) };
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.syntax("an invalid \\u escape", from),
            };
            n = n << 4 | u16::from(v);
        }
        Ok(n)
    }

    /// A number as serde_json types it: an integer without fraction or exponent that fits (`i64`, else `u64`),
    /// otherwise `f64`.
    fn number(&mut self) -> Result<Doc<'a>, Halt> {
        let start = self.at;
        let negative = self.byte() == b'-';
        if negative {
            self.at += 1;
        }
        let mut integer = Some(0u64);
        match self.byte() {
            b'0' => {
                self.at += 1;
                if self.byte().is_ascii_digit() {
                    return self.syntax("a number with a leading zero", start);
                }
            }
            b'1'..=b'9' => {
                while let d @ b'0'..=b'9' = self.byte() {
                    integer = integer.and_then(|n| n.checked_mul(10)).and_then(|n| n.checked_add(u64::from(d - b'0')));
                    self.at += 1;
                }
            }
            _ => return self.syntax("an invalid number", start),
        }
        let mut fractional = false;
        if self.byte() == b'.' {
            self.at += 1;
            self.digits(start)?;
            fractional = true;
        }
        if let b'e' | b'E' = self.byte() {
            self.at += 1;
            if let b'+' | b'-' = self.byte() {
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
            _ => self.syntax("a number out of range", start),
        }
    }

    /// One digit or more (of a fraction or an exponent).
    fn digits(&mut self, number: usize) -> Walk {
        if !self.byte().is_ascii_digit() {
            return self.syntax("an invalid number", number);
        }
        while self.byte().is_ascii_digit() {
            self.at += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::special_from;

    /// The eight-byte reader finds what a byte loop finds, at every offset and for every byte either side of 0x20,
    /// the quote and the backslash, behind any other byte (borrows between bytes are where such tricks go wrong).
    #[test]
    fn special_bytes_are_found_where_a_byte_loop_finds_them() {
        let naive = |b: &[u8], from: usize| (from..b.len()).find(|&i| b[i] == b'"' || b[i] == b'\\' || b[i] < 0x20).unwrap_or(b.len());
        let probes = [0x00, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b']', 0x7f, 0x80, 0xa2, 0xdc, 0xff];
        for len in 0..20 {
            for at in 0..len {
                for &probe in &probes {
                    for &before in &probes {
                        let mut b = vec![b'a'; len];
                        b[at] = probe;
                        if at > 0 {
                            b[at - 1] = before;
                        }
                        for from in 0..=len {
                            assert_eq!(special_from(&b, from), naive(&b, from), "{b:?} from {from}");
                        }
                    }
                }
            }
        }
    }
}
