//! `--format` of the `get` commands, as apictl (after docker) documents it: a Go-template-like line per item
//! (`"{{.Name}}\t{{.Version}}"`), `table …` for the same with a header row and aligned columns, `table` alone or
//! nothing for the command's own table, `json` for each item as one line of JSON, `jsonArray` for all of them as
//! one array. `\t` and `\n` in the format are a tab and a new line (the shell passes them as written).
//!
//! What a template may hold: text, `{{.Field}}` (a field of the command's list, its name in any case), `{{json .}}`
//! (the whole item), `{{jsonPretty .}}`, `{{json .Field}}`, `{{upper .Field}}`, `{{lower .Field}}`. Anything else,
//! or a format without any `{{…}}` (`xml`), is an error naming the format, found before any request is made.

use serde_json::Value;

/// A field the template may name: its name in templates (`LifeCycleStatus`), its table header and its key in
/// the REST answer's items.
pub struct Field {
    pub name: &'static str,
    pub header: &'static str,
    pub key: &'static str,
}

pub const fn field(name: &'static str, header: &'static str, key: &'static str) -> Field {
    Field { name, header, key }
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("--format `{format}`: {cause}")]
    Template { format: String, cause: String },
}

pub enum Piece {
    Text(String),
    /// A field's index, with a function applied.
    Field(usize, Func),
    /// The whole item as JSON (pretty or not).
    Item(bool),
}

#[derive(Clone, Copy)]
pub enum Func {
    Plain,
    Json,
    JsonPretty,
    Upper,
    Lower,
}

/// A parsed `--format`.
pub enum Format {
    /// A line per item; with `header`, a header row first and columns aligned at tabs.
    Template {
        pieces: Vec<Piece>,
        header: bool,
    },
    JsonLines,
    JsonArray,
}

impl Format {
    /// `format` as given (None: the command's default table, `default`, itself a `table …` format).
    pub fn parse(format: Option<&str>, default: &str, fields: &[Field]) -> Result<Format, FormatError> {
        let given = format.unwrap_or(default).trim();
        match given {
            "json" => return Ok(Format::JsonLines),
            "jsonArray" => return Ok(Format::JsonArray),
            _ => {}
        }
        let (text, header) = match given.strip_prefix("table") {
            Some(rest) if rest.trim().is_empty() => (default.trim().strip_prefix("table").unwrap_or(default), true),
            Some(rest) if rest.starts_with([' ', '\t']) => (rest, true),
            _ => (given, false),
        };
        let text = text.trim().replace("\\t", "\t").replace("\\n", "\n");
        let fail = |cause: String| FormatError::Template { format: given.to_string(), cause };
        if text.is_empty() {
            return Err(fail("an empty template".into()));
        }
        let mut pieces = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| fail("`{{` without its `}}`".into()))?;
            pieces.push(action(after[..close].trim(), fields).map_err(fail)?);
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(fail("`}}` without its `{{`".into()));
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        if pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
            return Err(fail("no `{{.Field}}` in it: give json, jsonArray, table or a template such as \"{{.Name}}\"".into()));
        }
        Ok(Format::Template { pieces, header })
    }

    /// The output for `items`, each line ending in a new line.
    pub fn render(&self, items: &[Value], fields: &[Field]) -> String {
        match self {
            Format::JsonLines => items.iter().map(|i| format!("{i}\n")).collect(),
            Format::JsonArray => format!("{}\n", serde_json::to_string_pretty(items).unwrap_or_default()),
            Format::Template { pieces, header } => {
                let mut lines: Vec<String> = Vec::new();
                if *header {
                    lines.push(
                        pieces
                            .iter()
                            .map(|p| match p {
                                Piece::Text(t) => t.clone(),
                                Piece::Field(i, _) => fields[*i].header.to_string(),
                                Piece::Item(_) => "ITEM".to_string(),
                            })
                            .collect(),
                    );
                }
                for item in items {
                    lines.push(
                        pieces
                            .iter()
                            .map(|p| match p {
                                Piece::Text(t) => t.clone(),
                                Piece::Field(i, func) => apply(*func, item.get(fields[*i].key)),
                                Piece::Item(false) => item.to_string(),
                                Piece::Item(true) => serde_json::to_string_pretty(item).unwrap_or_default(),
                            })
                            .collect(),
                    );
                }
                if *header { align(&lines) } else { lines.iter().map(|l| format!("{l}\n")).collect() }
            }
        }
    }
}

/// One `{{…}}`.
fn action(inner: &str, fields: &[Field]) -> Result<Piece, String> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let (func, arg) = match words.as_slice() {
        [arg] => (Func::Plain, *arg),
        ["json", arg] => (Func::Json, *arg),
        ["jsonPretty", arg] => (Func::JsonPretty, *arg),
        ["upper", arg] => (Func::Upper, *arg),
        ["lower", arg] => (Func::Lower, *arg),
        [f, _] => return Err(format!("`{{{{{inner}}}}}`: unknown function `{f}` (json, jsonPretty, upper or lower)")),
        _ => return Err(format!("`{{{{{inner}}}}}` is not `{{{{.Field}}}}`")),
    };
    if arg == "." {
        return match func {
            Func::Json => Ok(Piece::Item(false)),
            Func::JsonPretty => Ok(Piece::Item(true)),
            _ => Err(format!("`{{{{{inner}}}}}`: `.` alone only with json or jsonPretty")),
        };
    }
    let name = arg.strip_prefix('.').ok_or_else(|| format!("`{{{{{inner}}}}}`: a field starts with a dot, as `.Name`"))?;
    let index = fields.iter().position(|f| f.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
        let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
        format!("no field `{name}` (fields: {})", known.join(", "))
    })?;
    Ok(Piece::Field(index, func))
}

fn apply(func: Func, v: Option<&Value>) -> String {
    let text = match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(x) => x.to_string(),
    };
    match func {
        Func::Plain => text,
        Func::Json => v.map(Value::to_string).unwrap_or_else(|| "null".into()),
        Func::JsonPretty => v.and_then(|v| serde_json::to_string_pretty(v).ok()).unwrap_or_else(|| "null".into()),
        Func::Upper => text.to_uppercase(),
        Func::Lower => text.to_lowercase(),
    }
}

/// Cells separated by tabs, aligned as Go's tabwriter does for apictl (three spaces between columns).
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len().saturating_sub(1);
        let line: String = row
            .iter()
            .enumerate()
            .map(|(i, cell)| if i == last { cell.to_string() } else { format!("{cell:<w$}   ", w = widths[i]) })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: [Field; 3] = [field("Id", "ID", "id"), field("Name", "NAME", "name"), field("Version", "VERSION", "version")];
    const DEFAULT: &str = "table {{.Id}}\t{{.Name}}\t{{.Version}}";

    fn items() -> Vec<Value> {
        vec![json!({"id": "a1", "name": "Pizza", "version": "1.0.0"}), json!({"id": "b2", "name": "Weather", "version": "2.0"})]
    }

    fn render(format: Option<&str>) -> String {
        Format::parse(format, DEFAULT, &FIELDS).map(|f| f.render(&items(), &FIELDS)).unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn templates_tables_and_json() {
        assert_eq!(render(Some("{{.Name}}\\t{{.Version}}")), "Pizza\t1.0.0\nWeather\t2.0\n");
        assert_eq!(render(Some("table {{.name}}")), "NAME\nPizza\nWeather\n");
        assert_eq!(render(None), "ID   NAME      VERSION\na1   Pizza     1.0.0\nb2   Weather   2.0\n");
        assert_eq!(render(Some("table")), render(None));
        assert_eq!(render(Some("{{upper .Name}}: {{json .Id}}")), "PIZZA: \"a1\"\nWEATHER: \"b2\"\n");
        assert_eq!(render(Some("json")).lines().count(), 2);
        let array: Value = serde_json::from_str(&render(Some("jsonArray"))).expect("an array");
        assert_eq!(array[1]["name"], "Weather");
        assert_eq!(render(Some("{{json .}}")).lines().next(), Some(r#"{"id":"a1","name":"Pizza","version":"1.0.0"}"#));
    }

    #[test]
    fn malformed_formats_name_the_trouble() {
        assert!(render(Some("{{.Name")).contains("without its `}}`"));
        assert!(render(Some("{{.Nope}}")).contains("no field `Nope` (fields: Id, Name, Version)"));
        assert!(render(Some("{{Name}}")).contains("starts with a dot"));
        assert!(render(Some("{{printf .Name}}")).contains("unknown function `printf`"));
        assert!(render(Some("{{upper .}}")).contains("`.` alone only with json"));
        assert!(render(Some("Name}}")).contains("without its `{{`"));
        assert!(render(Some("")).contains("empty template"));
        assert!(render(Some("xml")).contains("no `{{.Field}}` in it"));
    }
}
