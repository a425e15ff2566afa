//! Problems found in a rules (or rules test) file, printed as
//! `FILE:LINE:COL: what is wrong and what was expected`.

use std::fmt;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Pos,
    pub message: String,
}

impl Diagnostic {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
        }
    }
}

/// Every problem of one file. Displays one `FILE:LINE:COL: message` line per
/// problem, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub file: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Builds the list, sorted by position and without exact duplicates.
    pub fn new(file: impl Into<String>, mut items: Vec<Diagnostic>) -> Self {
        items.sort_by_key(|item| item.pos);
        items.dedup();
        Self {
            file: file.into(),
            items,
        }
    }

    /// A problem with the file as a whole (it cannot be read, ...).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            file,
            vec![Diagnostic::new(Pos { line: 1, column: 1 }, message)],
        )
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            writeln!(
                f,
                "{}:{}:{}: {}",
                self.file, item.pos.line, item.pos.column, item.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean `x`?)` or nothing.
pub(crate) fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["metric", "above", "below", "summary"];
        assert_eq!(did_you_mean("metirc", keys), Some("metric"));
        assert_eq!(did_you_mean("abvoe", keys), Some("above"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn display_is_file_line_col() {
        let diagnostics = Diagnostics::new(
            "r.yaml",
            vec![
                Diagnostic::new(Pos { line: 9, column: 2 }, "second"),
                Diagnostic::new(Pos { line: 3, column: 7 }, "first"),
            ],
        );
        assert_eq!(
            diagnostics.to_string(),
            "r.yaml:3:7: first\nr.yaml:9:2: second\n"
        );
    }
}
