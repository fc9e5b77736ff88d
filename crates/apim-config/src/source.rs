//! Source text, spans and diagnostics that point at file:line:column and a key path.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// The text of one configuration file, kept so every diagnostic can quote the line it is about.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        Source { path: path.into(), text: text.into() }
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text.get(line_start..offset).map(|s| s.chars().count()).unwrap_or(0) + 1;
        (line, col)
    }

    fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the configuration, located in the file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Dotted key path, such as `database.apim_db.type`; empty when the finding is about the whole file.
    pub key_path: String,
    pub span: Option<Range<usize>>,
}

impl Diagnostic {
    pub fn error(key_path: impl Into<String>, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, message: message.into(), key_path: key_path.into(), span }
    }

    pub fn warning(key_path: impl Into<String>, span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, message: message.into(), key_path: key_path.into(), span }
    }

    /// Renders the diagnostic against its source, compiler style.
    pub fn render<'a>(&'a self, source: &'a Source) -> Rendered<'a> {
        Rendered { diag: self, source }
    }

    /// `file:line:column`, or just the file when there is no span.
    pub fn location(&self, source: &Source) -> String {
        match &self.span {
            Some(span) => {
                let (line, col) = source.line_col(span.start);
                format!("{}:{line}:{col}", source.path.display())
            }
            None => source.path.display().to_string(),
        }
    }
}

pub struct Rendered<'a> {
    diag: &'a Diagnostic,
    source: &'a Source,
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diag;
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", d.message)?;
        if !d.key_path.is_empty() {
            write!(f, " (key `{}`)", d.key_path)?;
        }
        write!(f, "\n  --> {}", d.location(self.source))?;
        if let Some(span) = &d.span {
            let (line, col) = self.source.line_col(span.start);
            let text = self.source.line_text(line);
            let width = self.source.text.get(span.clone()).map(|s| s.lines().next().unwrap_or("").chars().count()).unwrap_or(1).max(1);
            let gutter = line.to_string().len();
            write!(f, "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}", "", "", " ".repeat(col - 1), "^".repeat(width))?;
        }
        Ok(())
    }
}
