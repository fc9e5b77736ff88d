//! The `pattern` keyword. Most patterns in OpenAPI documents are a whole-string run of ASCII character sets
//! (`^[A-Z]{3}-[0-9]+$`, dates, codes, ids). Those are decided here by one walk over the bytes, a few nanoseconds
//! per string, where the regex engine's per-call set-up alone costs about 20; any other pattern goes to `regex`.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A compiled `pattern`: `is_match` answers as `regex::Regex::is_match` does for the same source.
#[derive(Debug)]
pub(super) struct Pattern {
    regex: regex::Regex,
    runs: Option<Vec<Run>>,
}

/// Between `min` and `max` characters, each in `set` (ASCII only).
#[derive(Debug, Clone, Copy)]
struct Run {
    set: [bool; 128],
    min: u32,
    max: u32,
}

impl Pattern {
    pub(super) fn new(source: &str) -> Result<Pattern, regex::Error> {
        let regex = regex::Regex::new(source)?;
        let runs = regex_syntax::parse(source).ok().and_then(|hir| runs(&hir));
        Ok(Pattern { regex, runs })
    }

    pub(super) fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    pub(super) fn is_match(&self, text: &str) -> bool {
        match &self.runs {
            Some(runs) => match_runs(runs, text.as_bytes()),
            None => self.regex.is_match(text),
        }
    }
}

/// Greedy and without backtracking: exact because `runs` only accepts sequences where a run of varying length
/// shares no character with any run that could come right after it, so no character has two places to go.
fn match_runs(runs: &[Run], text: &[u8]) -> bool {
    let mut at = 0;
    for run in runs {
        let mut n = 0;
        while n < run.max
            && let Some(&b) = text.get(at)
            && b < 128
            && run.set[usize::from(b)]
        {
            at += 1;
            n += 1;
        }
        if n < run.min {
            return false;
        }
    }
    at == text.len()
}

/// `^…$` over ASCII sets and literals, each repeated a counted number of times, or `None` (then `regex` decides).
fn runs(hir: &Hir) -> Option<Vec<Run>> {
    let HirKind::Concat(parts) = hir.kind() else { return None };
    let (first, rest) = parts.split_first()?;
    let (last, middle) = rest.split_last()?;
    if *first.kind() != HirKind::Look(Look::Start) || *last.kind() != HirKind::Look(Look::End) {
        return None;
    }
    let mut runs = Vec::new();
    for part in middle {
        match part.kind() {
            HirKind::Literal(lit) => {
                for &b in lit.0.iter() {
                    let mut set = [false; 128];
                    *set.get_mut(usize::from(b))? = true;
                    runs.push(Run { set, min: 1, max: 1 });
                }
            }
            HirKind::Class(class) => runs.push(Run { set: ascii_set(class)?, min: 1, max: 1 }),
            HirKind::Repetition(rep) => {
                let set = match rep.sub.kind() {
                    HirKind::Class(class) => ascii_set(class)?,
                    HirKind::Literal(lit) if lit.0.len() == 1 => {
                        let mut set = [false; 128];
                        *set.get_mut(usize::from(lit.0[0]))? = true;
                        set
                    }
                    _ => return None,
                };
                runs.push(Run { set, min: rep.min, max: rep.max.unwrap_or(u32::MAX) });
            }
            _ => return None,
        }
    }
    // A run of varying length must not share a character with a run that may follow it directly: the runs after
    // it up to the first that cannot be empty.
    for (i, run) in runs.iter().enumerate() {
        if run.min == run.max {
            continue;
        }
        for next in &runs[i + 1..] {
            if run.set.iter().zip(next.set.iter()).any(|(a, b)| *a && *b) {
                return None;
            }
            if next.min > 0 {
                break;
            }
        }
    }
    Some(runs)
}

/// A class of ASCII characters only, as a table; `None` when any member is beyond ASCII.
fn ascii_set(class: &Class) -> Option<[bool; 128]> {
    let mut set = [false; 128];
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect(),
        Class::Bytes(c) => c.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect(),
    };
    for (start, end) in ranges {
        if end >= 128 {
            return None;
        }
        for c in start..=end {
            set[c as usize] = true;
        }
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each pattern's verdicts on many strings are the regex engine's.
    #[test]
    fn agrees_with_regex() {
        let patterns = [
            "^[A-Z]{3}-[0-9]+$",
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "^[a-z]+[0-9]*$",
            "^ab?c$",
            "^[a-z]*a$",
            "^x{2,3}y$",
            "^[A-Za-z0-9_.-]{1,16}$",
            "^$",
            "[0-9]+",
            "^(ab)+$",
            "^\\d+$",
            "^[^a]+$",
            "^a+$|^b$",
        ];
        let alphabet = ['A', 'B', 'Z', 'a', 'b', 'c', 'x', 'y', '0', '7', '9', '-', '_', '.', ' ', 'é', '٣'];
        let mut seed = 0x2545_f491_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut fast = 0;
        for source in patterns {
            let p = Pattern::new(source).expect("pattern");
            fast += usize::from(p.runs.is_some());
            let mut strings: Vec<String> = vec![String::new(), "ABC-1".into(), "2026-12-05".into(), "xxy".into(), "abc".into()];
            for _ in 0..3000 {
                let len = (next() % 12) as usize;
                strings.push((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect());
            }
            for s in &strings {
                assert_eq!(p.is_match(s), p.regex.is_match(s), "{source} on {s:?}");
            }
        }
        // Seven are runs; the others (`[a-z]*a`, whose greedy walk would be wrong, unanchored, a group, Unicode
        // classes, an alternation) go to the regex engine.
        assert_eq!(fast, 7, "runs recognised");
    }
}
