//! WSO2's JSON↔XML mapping, as the `jsonToXML` and `xmlToJSON` operation policies use it: pure functions over
//! a body read whole, bounded in depth, attributes and output so that hostile input fails cleanly. A leaf: it
//! imports nothing else from the crate.
//!
//! JSON to XML follows Synapse's `JsonBuilder` as WSO2 documents it ("Working with JSON Message Payloads",
//! apim.docs.wso2.com, integrate/examples/json_examples): an object becomes the root `<jsonObject>`, an array
//! the root `<jsonArray>` whose items are `<jsonElement>`s; a named array becomes repeated elements of its name
//! after an `<?xml-multiple name?>` processing instruction (an empty one is the instruction alone), so that the
//! way back can rebuild it; an array inside an array becomes `<jsonArray>` inside the item's element; an empty
//! object, an empty string and `null` become an empty element; a key starting with `$` gets the prefix
//! `_JsonReader_PS_` in place of the `$`, a key starting with a digit the prefix `_JsonReader_PD_`, and any other
//! character an XML name cannot hold becomes `_JsonReader_{code}_` (WSO2's `synapse.build_valid_nc_name`
//! spelling). Numbers keep their text. No XML declaration is written. A character XML cannot carry (a control
//! character) fails the conversion, as WSO2 documents.
//!
//! XML to JSON follows Synapse's `JsonFormatter`: a `<jsonObject>` root is the object itself, a `<jsonArray>`
//! root the array of its children, any other root `{"name": …}`; elements repeated under one parent, or named
//! by an `<?xml-multiple name?>` instruction, become an array (grouped where the name first appears); an empty
//! element is `null` (WSO2's default); attributes are `"@name": "value"` strings; text beside child elements or
//! attributes is `"$"`; text that is a JSON number, `true` or `false` is written as one (WSO2's auto-primitive);
//! the `_JsonReader_` escapes above are undone. Namespace prefixes stay in the names. A DOCTYPE is refused (no
//! entity expansion), as is a document that is not well formed or not UTF-8.

use std::collections::HashMap;

/// Nesting levels accepted: JSON objects and arrays, or XML elements.
pub const MAX_DEPTH: usize = 64;
/// Attributes accepted on one XML element (the JDK's XML parsers default to 10,000).
pub const MAX_ATTRIBUTES: usize = 10_000;

/// Why a body could not be converted; its text is what the client or the log is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not XML: {0}")]
    NotXml(String),
    #[error("the body cannot be converted: {0}")]
    Unrepresentable(String),
    #[error("the converted body would be over {0} bytes")]
    TooLarge(usize),
}

// ---------------------------------------------------------------------------------------------------------------
// JSON → XML

/// Where a JSON value goes: inside an element of its own name (an object member, or an item of a named array),
/// or as the item of an anonymous array (wrapped in `<jsonArray>` when it is an array itself).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Member,
    Item,
}

struct Frame {
    array: bool,
    /// The element each item is written in (arrays).
    item: String,
    /// Elements to close when the container ends, innermost first.
    closes: Vec<String>,
    first: bool,
}

/// JSON text to WSO2's XML form; `max_out` bounds the result.
pub fn json_to_xml(input: &[u8], max_out: usize) -> Result<Vec<u8>, ConvertError> {
    let text = std::str::from_utf8(input).map_err(|e| ConvertError::NotJson(format!("it is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut p = Json { s: text.as_bytes(), pos: 0 };
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    let mut stack: Vec<Frame> = Vec::new();
    p.ws();
    match p.peek() {
        Some(b'{') => {
            p.pos += 1;
            out.push_str("<jsonObject>");
            stack.push(Frame { array: false, item: String::new(), closes: vec!["jsonObject".into()], first: true });
        }
        Some(b'[') => {
            p.pos += 1;
            out.push_str("<jsonArray><?xml-multiple jsonElement?>");
            stack.push(Frame { array: true, item: "jsonElement".into(), closes: vec!["jsonArray".into()], first: true });
        }
        Some(_) => {
            // A bare value is JSON, but WSO2's mapping has no root for it.
            p.value_text()?;
            p.ws();
            if p.pos < p.s.len() {
                return Err(p.err("unexpected text after the value"));
            }
            return Err(ConvertError::Unrepresentable(
                "only a JSON object or array has an XML form (root <jsonObject> or <jsonArray>)".into(),
            ));
        }
        None => return Err(p.err("the body is empty")),
    }
    while let Some(top) = stack.last_mut() {
        p.ws();
        let close = if top.array { b']' } else { b'}' };
        let ended = match p.peek() {
            Some(c) if c == close => {
                p.pos += 1;
                true
            }
            Some(b',') if !top.first => {
                p.pos += 1;
                false
            }
            _ if top.first => false,
            _ => return Err(p.err(if top.array { "expected , or ]" } else { "expected , or }" })),
        };
        if ended {
            for name in &top.closes {
                close_tag(&mut out, name);
            }
            stack.pop();
            if out.len() > max_out {
                return Err(ConvertError::TooLarge(max_out));
            }
            continue;
        }
        top.first = false;
        p.ws();
        let (slot, name) = if top.array {
            (Slot::Item, top.item.clone())
        } else {
            if p.peek() != Some(b'"') {
                return Err(p.err("expected a key"));
            }
            let key = p.string()?;
            p.ws();
            if p.peek() != Some(b':') {
                return Err(p.err("expected :"));
            }
            p.pos += 1;
            p.ws();
            (Slot::Member, element_name(&key)?)
        };
        let depth = stack.len();
        match p.peek() {
            Some(b'{') => {
                p.pos += 1;
                if depth >= MAX_DEPTH {
                    return Err(ConvertError::Unrepresentable(format!("it is nested more than {MAX_DEPTH} levels deep")));
                }
                open_tag(&mut out, &name);
                stack.push(Frame { array: false, item: String::new(), closes: vec![name], first: true });
            }
            Some(b'[') => {
                p.pos += 1;
                if depth >= MAX_DEPTH {
                    return Err(ConvertError::Unrepresentable(format!("it is nested more than {MAX_DEPTH} levels deep")));
                }
                match slot {
                    Slot::Member => {
                        multiple(&mut out, &name);
                        stack.push(Frame { array: true, item: name, closes: Vec::new(), first: true });
                    }
                    Slot::Item => {
                        open_tag(&mut out, &name);
                        out.push_str("<jsonArray>");
                        multiple(&mut out, "jsonElement");
                        stack.push(Frame { array: true, item: "jsonElement".into(), closes: vec!["jsonArray".into(), name], first: true });
                    }
                }
            }
            _ => {
                let scalar = p.scalar()?;
                open_tag(&mut out, &name);
                match scalar {
                    Scalar::Text(t) => escape_text(&mut out, &t)?,
                    Scalar::Raw(r) => out.push_str(r),
                    Scalar::Null => {}
                }
                close_tag(&mut out, &name);
            }
        }
        if out.len() > max_out {
            return Err(ConvertError::TooLarge(max_out));
        }
    }
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected text after the document"));
    }
    Ok(out.into_bytes())
}

fn open_tag(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close_tag(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn multiple(out: &mut String, name: &str) {
    out.push_str("<?xml-multiple ");
    out.push_str(name);
    out.push_str("?>");
}

fn escape_text(out: &mut String, t: &str) -> Result<(), ConvertError> {
    for c in t.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if is_xml_char(c) => out.push(c),
            c => return Err(ConvertError::Unrepresentable(format!("U+{:04X} cannot appear in XML", u32::from(c)))),
        }
    }
    Ok(())
}

/// XML 1.0's `Char` (surrogates cannot occur in a Rust string).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}'
        | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A JSON key as an XML element name (WSO2's `_JsonReader_` escapes); `:` is escaped too, so a key never reads as
/// a namespace prefix.
fn element_name(key: &str) -> Result<String, ConvertError> {
    if key.is_empty() {
        return Err(ConvertError::Unrepresentable("an empty key has no XML element name".into()));
    }
    let mut out = String::with_capacity(key.len() + 16);
    let mut rest = key;
    if let Some(r) = key.strip_prefix('$') {
        out.push_str("_JsonReader_PS_");
        rest = r;
    } else if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push_str("_JsonReader_PD_");
    }
    for c in rest.chars() {
        let ok = if out.is_empty() { is_name_start(c) } else { is_name_char(c) };
        if ok {
            out.push(c);
        } else {
            out.push_str("_JsonReader_");
            out.push_str(&u32::from(c).to_string());
            out.push('_');
        }
    }
    Ok(out)
}

/// An element (or attribute) name back as the JSON key it came from.
fn key_name(name: &str) -> String {
    const MARK: &str = "_jsonreader_";
    if !name.to_ascii_lowercase().contains(MARK) {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let at_mark = name.get(i..i + MARK.len()).is_some_and(|m| m.eq_ignore_ascii_case(MARK));
        if at_mark {
            let after = &name[i + MARK.len()..];
            if i == 0 && after.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("PS_")) {
                out.push('$');
                i += MARK.len() + 3;
                continue;
            }
            if i == 0 && after.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("PD_")) {
                i += MARK.len() + 3;
                continue;
            }
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0
                && after.as_bytes().get(digits) == Some(&b'_')
                && let Some(c) = after[..digits].parse::<u32>().ok().and_then(char::from_u32)
            {
                out.push(c);
                i += MARK.len() + digits + 1;
                continue;
            }
        }
        // Advance by one character (names are UTF-8).
        let len = name[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&name[i..i + len]);
        i += len;
    }
    out
}

enum Scalar<'a> {
    Text(String),
    /// A number, `true` or `false`, as written.
    Raw(&'a str),
    Null,
}

/// A JSON reader over UTF-8 text, one token at a time (no recursion).
struct Json<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Json<'a> {
    fn err(&self, what: &str) -> ConvertError {
        ConvertError::NotJson(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value that is not an object or array, checked (for a bare root value's error).
    fn value_text(&mut self) -> Result<(), ConvertError> {
        self.scalar().map(|_| ())
    }

    fn scalar(&mut self) -> Result<Scalar<'a>, ConvertError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => Ok(Scalar::Text(self.string()?)),
            Some(b't') => self.literal("true").map(|()| Scalar::Raw(self.text(start))),
            Some(b'f') => self.literal("false").map(|()| Scalar::Raw(self.text(start))),
            Some(b'n') => self.literal("null").map(|()| Scalar::Null),
            Some(b'-' | b'0'..=b'9') => {
                self.pos += number_len(&self.s[start..]).ok_or_else(|| self.err("invalid number"))?;
                Ok(Scalar::Raw(self.text(start)))
            }
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end")),
        }
    }

    fn text(&self, start: usize) -> &'a str {
        // Token boundaries are ASCII, so the slice is UTF-8.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("")
    }

    fn literal(&mut self, word: &str) -> Result<(), ConvertError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err("expected a value"))
        }
    }

    /// A string token (the reader is at its opening quote), unescaped.
    fn string(&mut self) -> Result<String, ConvertError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.s[self.pos..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or_else(|| self.err("unterminated string"))?;
            out.push_str(std::str::from_utf8(&self.s[self.pos..self.pos + run]).map_err(|_| self.err("invalid UTF-8"))?);
            self.pos += run;
            match self.s[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = *self.s.get(self.pos + 1).ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 2;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(self.err("a lone surrogate"));
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("a lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(c).ok_or_else(|| self.err("a lone surrogate"))?);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                _ => return Err(self.err("a control character in a string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ConvertError> {
        let digits = self.s.get(self.pos..self.pos + 4).ok_or_else(|| self.err("invalid \\u escape"))?;
        let v =
            std::str::from_utf8(digits).ok().and_then(|d| u32::from_str_radix(d, 16).ok()).ok_or_else(|| self.err("invalid \\u escape"))?;
        self.pos += 4;
        Ok(v)
    }
}

/// The length of the JSON number at the start of `s` (RFC 8259 §6), if one is there.
fn number_len(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    if s.first() == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return None,
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while s.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    Some(i)
}

fn is_json_number(t: &str) -> bool {
    number_len(t.as_bytes()) == Some(t.len())
}

// ---------------------------------------------------------------------------------------------------------------
// XML → JSON

#[derive(Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    /// Child elements in document order.
    children: Vec<Element>,
    /// Child names in the order they first appear (or are named by `<?xml-multiple?>`), each with whether it is an
    /// array and the indexes of its children.
    groups: Vec<(String, bool, Vec<usize>)>,
    index: HashMap<String, usize>,
    text: String,
    /// An `<?xml-multiple?>` without a name: the next child's name is an array.
    pending_multiple: bool,
}

impl Element {
    fn group(&mut self, name: &str) -> usize {
        if let Some(&g) = self.index.get(name) {
            return g;
        }
        self.groups.push((name.to_string(), false, Vec::new()));
        self.index.insert(name.to_string(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    fn adopt(&mut self, child: Element) {
        let g = self.group(&child.name);
        if std::mem::take(&mut self.pending_multiple) {
            self.groups[g].1 = true;
        }
        self.groups[g].2.push(self.children.len());
        self.children.push(child);
    }
}

/// XML text to WSO2's JSON form; `max_out` bounds the result.
pub fn xml_to_json(input: &[u8], max_out: usize) -> Result<Vec<u8>, ConvertError> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(input).map_err(|e| ConvertError::NotXml(format!("it is not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let not_xml =
        |reader: &quick_xml::Reader<&[u8]>, what: String| ConvertError::NotXml(format!("{what} (at byte {})", reader.buffer_position()));
    loop {
        let event = reader.read_event().map_err(|e| not_xml(&reader, e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(not_xml(&reader, "more than one root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ConvertError::Unrepresentable(format!("it is nested more than {MAX_DEPTH} elements deep")));
                }
                let name = e.name().0.to_string();
                let mut element = Element { name, ..Element::default() };
                let mut attrs = e.attributes();
                // Duplicates are found with a set here, not by the parser's own scan of the earlier names.
                attrs.with_checks(false);
                let mut seen = std::collections::HashSet::new();
                for a in attrs {
                    let a = a.map_err(|e| not_xml(&reader, e.to_string()))?;
                    if element.attributes.len() >= MAX_ATTRIBUTES {
                        return Err(ConvertError::Unrepresentable(format!("an element has more than {MAX_ATTRIBUTES} attributes")));
                    }
                    let key = a.key.0.to_string();
                    if !seen.insert(key.clone()) {
                        return Err(not_xml(&reader, format!("the attribute `{key}` is repeated")));
                    }
                    let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| not_xml(&reader, e.to_string()))?;
                    element.attributes.push((key, value.into_owned()));
                }
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.adopt(element),
                        None => root = Some(element),
                    }
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| not_xml(&reader, "an end tag without its start".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.adopt(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None if content.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')).is_empty() => {}
                    None => return Err(not_xml(&reader, "text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                let top = stack.last_mut().ok_or_else(|| not_xml(&reader, "CDATA outside the root element".into()))?;
                top.text.push_str(&c.xml10_content());
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| not_xml(&reader, e.to_string()))? {
                    Some(c) if is_xml_char(c) => c,
                    Some(c) => return Err(not_xml(&reader, format!("U+{:04X} is not an XML character", u32::from(c)))),
                    None => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(not_xml(&reader, format!("the entity `&{other};` is not defined"))),
                    },
                };
                let top = stack.last_mut().ok_or_else(|| not_xml(&reader, "a reference outside the root element".into()))?;
                top.text.push(c);
            }
            Event::PI(pi) => {
                if pi.target() == "xml-multiple"
                    && let Some(top) = stack.last_mut()
                {
                    let name = pi.content().trim();
                    if name.is_empty() {
                        top.pending_multiple = true;
                    } else {
                        let g = top.group(name);
                        top.groups[g].1 = true;
                    }
                }
            }
            Event::DocType(_) => return Err(not_xml(&reader, "a DOCTYPE is not accepted".into())),
            Event::Decl(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(not_xml(&reader, format!("`<{}>` is not closed", stack.last().map_or("", |e| e.name.as_str()))));
    }
    let root = root.ok_or_else(|| ConvertError::NotXml("there is no root element".into()))?;
    let mut out = Out { buf: String::with_capacity(input.len()), max: max_out };
    match root.name.as_str() {
        "jsonObject" => out.object(&root)?,
        "jsonArray" => out.array(&root)?,
        _ => {
            out.buf.push('{');
            out.key(&root.name);
            out.value(&root)?;
            out.buf.push('}');
        }
    }
    out.check()?;
    Ok(out.buf.into_bytes())
}

/// JSON written from the element tree (recursion at most `MAX_DEPTH` deep: the tree is no deeper).
struct Out {
    buf: String,
    max: usize,
}

impl Out {
    fn check(&self) -> Result<(), ConvertError> {
        if self.buf.len() > self.max { Err(ConvertError::TooLarge(self.max)) } else { Ok(()) }
    }

    fn string(&mut self, s: &str) {
        // serde_json's escaping; writing into a String cannot fail.
        self.buf.push_str(&serde_json::Value::from(s).to_string());
    }

    fn key(&mut self, name: &str) {
        self.string(&key_name(name));
        self.buf.push(':');
    }

    fn primitive(&mut self, t: &str) {
        if t == "true" || t == "false" || is_json_number(t) {
            self.buf.push_str(t);
        } else {
            self.string(t);
        }
    }

    fn value(&mut self, e: &Element) -> Result<(), ConvertError> {
        self.check()?;
        let blank = e.text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')).is_empty();
        if e.attributes.is_empty() && e.children.is_empty() && e.groups.is_empty() {
            if e.text.is_empty() {
                self.buf.push_str("null");
            } else {
                self.primitive(&e.text);
            }
            return Ok(());
        }
        // `<name><jsonArray>…</jsonArray></name>`: an array inside an array.
        if e.attributes.is_empty() && blank && e.children.len() == 1 && e.groups.len() == 1 {
            match e.children[0].name.as_str() {
                "jsonArray" => return self.array(&e.children[0]),
                "jsonObject" => return self.object(&e.children[0]),
                _ => {}
            }
        }
        self.object(e)
    }

    fn object(&mut self, e: &Element) -> Result<(), ConvertError> {
        self.buf.push('{');
        let mut first = true;
        let mut comma = |buf: &mut String| {
            if !std::mem::take(&mut first) {
                buf.push(',');
            }
        };
        for (name, value) in &e.attributes {
            comma(&mut self.buf);
            self.string(&format!("@{}", key_name(name)));
            self.buf.push(':');
            self.string(value);
        }
        for (name, multiple, members) in &e.groups {
            comma(&mut self.buf);
            self.key(name);
            if *multiple || members.len() > 1 {
                self.buf.push('[');
                for (i, &m) in members.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(',');
                    }
                    self.value(&e.children[m])?;
                }
                self.buf.push(']');
            } else if let Some(&m) = members.first() {
                self.value(&e.children[m])?;
            }
        }
        let text = e.text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if !text.is_empty() {
            comma(&mut self.buf);
            self.buf.push_str("\"$\":");
            self.primitive(text);
        }
        self.buf.push('}');
        self.check()
    }

    fn array(&mut self, e: &Element) -> Result<(), ConvertError> {
        self.buf.push('[');
        for (i, child) in e.children.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.value(child)?;
        }
        self.buf.push(']');
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 1 << 20;

    fn to_xml(json: &str) -> String {
        String::from_utf8(json_to_xml(json.as_bytes(), BIG).unwrap_or_else(|e| panic!("{json}: {e}"))).expect("utf-8")
    }

    fn to_json(xml: &str) -> serde_json::Value {
        let out = xml_to_json(xml.as_bytes(), BIG).unwrap_or_else(|e| panic!("{xml}: {e}"));
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{xml} gave {}: {e}", String::from_utf8_lossy(&out)))
    }

    /// The examples of WSO2's "Working with JSON Message Payloads" (JsonBuilder's form, with the PIs).
    #[test]
    fn json_to_xml_as_wso2_documents_it() {
        assert_eq!(to_xml(r#"{"object":{}}"#), "<jsonObject><object></object></jsonObject>");
        assert_eq!(to_xml(r#"{"object":""}"#), "<jsonObject><object></object></jsonObject>");
        assert_eq!(to_xml("[]"), "<jsonArray><?xml-multiple jsonElement?></jsonArray>");
        assert_eq!(to_xml(r#"{"array":[1,2]}"#), "<jsonObject><?xml-multiple array?><array>1</array><array>2</array></jsonObject>");
        assert_eq!(to_xml(r#"{"array":[]}"#), "<jsonObject><?xml-multiple array?></jsonObject>");
        assert_eq!(
            to_xml("[1,2]"),
            "<jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>"
        );
        assert_eq!(
            to_xml("[1, []]"),
            "<jsonArray><?xml-multiple jsonElement?><jsonElement>1</jsonElement>\
             <jsonElement><jsonArray><?xml-multiple jsonElement?></jsonArray></jsonElement></jsonArray>"
        );
        assert_eq!(to_xml(r#"{"$key":1234}"#), "<jsonObject><_JsonReader_PS_key>1234</_JsonReader_PS_key></jsonObject>");
        assert_eq!(
            to_xml(r#"{"32X32":"image_32x32.png"}"#),
            "<jsonObject><_JsonReader_PD_32X32>image_32x32.png</_JsonReader_PD_32X32></jsonObject>"
        );
        assert_eq!(to_xml(r#"{"abc def":"v"}"#), "<jsonObject><abc_JsonReader_32_def>v</abc_JsonReader_32_def></jsonObject>");
        // Numbers keep their text; strings are escaped; null is an empty element.
        assert_eq!(
            to_xml(r#" {"n": 25.0000, "e": -1E+3, "t": true, "s": "a<b & \"c\" \u00e9\ud83d\ude00", "z": null} "#),
            "<jsonObject><n>25.0000</n><e>-1E+3</e><t>true</t><s>a&lt;b &amp; \"c\" é😀</s><z></z></jsonObject>"
        );
        assert_eq!(
            to_xml(r#"{"order":{"id":"o-1","lines":[{"sku":"a","qty":2}]}}"#),
            "<jsonObject><order><id>o-1</id><?xml-multiple lines?><lines><sku>a</sku><qty>2</qty></lines></order></jsonObject>"
        );
    }

    /// WSO2's XML-to-JSON examples: `coordinates` (repeated elements), empty elements, the `nil` attribute.
    #[test]
    fn xml_to_json_as_wso2_documents_it() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
            <coordinates>
               <location><name>Bermuda Triangle</name><n>25.0000</n><w>71.0000</w></location>
               <location><name>Eiffel Tower</name><n>48.8582</n><e>2.2945</e></location>
            </coordinates>"#;
        let out = String::from_utf8(xml_to_json(doc.as_bytes(), BIG).expect("converts")).expect("utf-8");
        assert_eq!(
            out,
            r#"{"coordinates":{"location":[{"name":"Bermuda Triangle","n":25.0000,"w":71.0000},{"name":"Eiffel Tower","n":48.8582,"e":2.2945}]}}"#
        );
        assert_eq!(to_json("<jsonObject><object></object></jsonObject>"), serde_json::json!({"object": null}));
        assert_eq!(to_json("<jsonObject><object/></jsonObject>"), serde_json::json!({"object": null}));
        assert_eq!(to_json(r#"<jsonObject><object nil="true"></object></jsonObject>"#), serde_json::json!({"object": {"@nil": "true"}}));
        assert_eq!(to_json("<jsonObject><?xml-multiple array?></jsonObject>"), serde_json::json!({"array": []}));
        assert_eq!(to_json("<jsonObject><?xml-multiple a?><a>x</a></jsonObject>"), serde_json::json!({"a": ["x"]}));
        assert_eq!(
            to_json(
                r#"<p:order xmlns:p="urn:x" id="7">hello<p:qty>2</p:qty><!-- c --><note><![CDATA[<raw> & ]]>&amp;&#x41;</note></p:order>"#
            ),
            serde_json::json!({"p:order": {"@xmlns:p": "urn:x", "@id": "7", "p:qty": 2, "note": "<raw> & &A", "$": "hello"}})
        );
        assert_eq!(to_json("\u{FEFF}<a>true</a>"), serde_json::json!({"a": true}), "a byte order mark is skipped");
        assert_eq!(to_xml("\u{FEFF}{}"), "<jsonObject></jsonObject>");
        assert_eq!(to_json("<a>007</a>"), serde_json::json!({"a": "007"}), "not a JSON number: stays text");
        assert_eq!(to_json("<_JsonReader_PS_key>1</_JsonReader_PS_key>"), serde_json::json!({"$key": 1}));
        assert_eq!(to_json("<abc_jsonreader_32_def>v</abc_jsonreader_32_def>"), serde_json::json!({"abc def": "v"}));
    }

    #[test]
    fn json_survives_the_round_trip() {
        for doc in [
            r#"{"id":"o-1","qty":2,"price":9.50,"tags":["a","b"],"one":["only"],"none":[],"nested":[[1,2],[]],"deep":{"x":{"y":false}},"$ref":"r","1st":1}"#,
            r#"[{"a":1},{"a":2}]"#,
            "[[[]]]",
        ] {
            let xml = json_to_xml(doc.as_bytes(), BIG).expect("to xml");
            let back = xml_to_json(&xml, BIG).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&xml)));
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&back).expect("json"),
                serde_json::from_str::<serde_json::Value>(doc).expect("json"),
                "{}",
                String::from_utf8_lossy(&xml)
            );
        }
    }

    #[test]
    fn what_is_not_json_or_xml_fails_with_a_reason() {
        for bad in [
            "",
            "{",
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            r#"{"a":"\x"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":01}"#,
            "[1] x",
            "nul",
            r#"{"a":"\ud800"}"#,
        ] {
            assert!(
                matches!(json_to_xml(bad.as_bytes(), BIG), Err(ConvertError::NotJson(_))),
                "{bad:?}: {:?}",
                json_to_xml(bad.as_bytes(), BIG)
            );
        }
        for bad in [r#""text""#, "12", "true"] {
            assert!(matches!(json_to_xml(bad.as_bytes(), BIG), Err(ConvertError::Unrepresentable(_))), "{bad}");
        }
        // JSON that XML cannot carry: control characters, empty keys.
        for bad in [r#"{"a":"\u0001"}"#, r#"{"":1}"#] {
            assert!(matches!(json_to_xml(bad.as_bytes(), BIG), Err(ConvertError::Unrepresentable(_))), "{bad}");
        }
        for bad in [
            "",
            "   ",
            "not xml",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "<a/>trailing",
            "<a>&bogus;</a>",
            "<a>&</a>",
            r#"<a x="1" x="2"/>"#,
            "<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            "{\"json\": true}",
        ] {
            assert!(
                matches!(xml_to_json(bad.as_bytes(), BIG), Err(ConvertError::NotXml(_))),
                "{bad:?}: {:?}",
                xml_to_json(bad.as_bytes(), BIG)
            );
        }
    }

    /// Hostile input fails cleanly and quickly: nesting beyond the limit (no stack overflow), invalid UTF-8,
    /// thousands of attributes, output amplification.
    #[test]
    fn hostile_input_is_refused_without_harm() {
        let deep_json = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert!(matches!(json_to_xml(deep_json.as_bytes(), 64 << 20), Err(ConvertError::Unrepresentable(_))));
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert!(matches!(json_to_xml(deep_objects.as_bytes(), 64 << 20), Err(ConvertError::Unrepresentable(_))));
        let ok_depth = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(json_to_xml(ok_depth.as_bytes(), BIG).is_ok(), "{MAX_DEPTH} levels are fine");
        let deep_xml = format!("{}{}", "<a>".repeat(1_000_000), "</a>".repeat(1_000_000));
        assert!(matches!(xml_to_json(deep_xml.as_bytes(), 64 << 20), Err(ConvertError::Unrepresentable(_))));
        let unclosed = "<a>".repeat(1_000_000);
        assert!(xml_to_json(unclosed.as_bytes(), 64 << 20).is_err());

        assert!(matches!(json_to_xml(b"{\"a\":\"\xff\xfe\"}", BIG), Err(ConvertError::NotJson(_))));
        assert!(matches!(xml_to_json(b"<a>\xc3\x28</a>", BIG), Err(ConvertError::NotXml(_))));

        let many: String = (0..200_000).map(|i| format!(" a{i}=\"v\"")).collect();
        let attrs = format!("<a{many}/>");
        assert!(matches!(xml_to_json(attrs.as_bytes(), 64 << 20), Err(ConvertError::Unrepresentable(_))));
        let allowed: String = (0..MAX_ATTRIBUTES).map(|i| format!(" a{i}=\"v\"")).collect();
        assert!(xml_to_json(format!("<a{allowed}/>").as_bytes(), 64 << 20).is_ok());
        let same: String = (0..5_000).map(|_| " a=\"v\"".to_string()).collect();
        assert!(matches!(xml_to_json(format!("<a{same}/>").as_bytes(), 64 << 20), Err(ConvertError::NotXml(_))));

        // A long key repeated by a long array: 2 input bytes per item, thousands of output bytes per item.
        let key = "k".repeat(4096);
        let amplified = format!("{{\"{key}\":[{}1]}}", "1,".repeat(100_000));
        assert_eq!(json_to_xml(amplified.as_bytes(), 1 << 20), Err(ConvertError::TooLarge(1 << 20)));
        let wide = format!("<r>{}</r>", "<a b=\"\"/>".repeat(100_000));
        assert_eq!(xml_to_json(wide.as_bytes(), 1 << 10), Err(ConvertError::TooLarge(1 << 10)));
    }
}
