//! The floor plan holds only if a test holds it: the layer table in
//! `ARCHITECTURE.md` (between the `layers:` markers) says which top-level
//! modules of `src/` each module may import, and this test reads every
//! `crate::…` path in `src/**/*.rs` and fails, naming the file and line,
//! on an import the table does not allow. It also fails when the table
//! itself has a loop, or misses a module that `lib.rs` declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name → the modules it may import.
type Table = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table between `<!-- layers: begin -->` and `<!-- layers: end -->`:
/// rows `| `module` | `a`, `b` |`, or `—` for none.
fn parse_table(text: &str) -> Result<Table, String> {
    let begin = text
        .find("<!-- layers: begin -->")
        .ok_or("ARCHITECTURE.md has no `<!-- layers: begin -->` marker")?;
    let end = text
        .find("<!-- layers: end -->")
        .ok_or("ARCHITECTURE.md has no `<!-- layers: end -->` marker")?;
    let mut table = Table::new();
    for line in text[begin..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| a | b |` splits into ["", a, b, ""].
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let module = cells[1].trim_matches('`').to_owned();
        let allowed = cells[2]
            .split(',')
            .map(|name| name.trim().trim_matches('`').to_owned())
            .filter(|name| !name.is_empty() && name != "—")
            .collect();
        if table.insert(module.clone(), allowed).is_some() {
            return Err(format!("the layer table lists `{module}` twice"));
        }
    }
    Ok(table)
}

/// A loop in the table, as a path of module names, if there is one.
fn find_loop(table: &Table) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        table: &Table,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in table.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, table, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    table
        .keys()
        .find_map(|module| visit(module, table, &mut Vec::new(), &mut done))
}

/// The code of a line without its `//` comment (a `//` inside a string
/// literal is rare in `use` lines and harmless: it only hides the rest).
fn code_of(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

/// Every top-level module a source file names through `crate::`, with the
/// line: `crate::a::b`, `crate::a`, and each name of `crate::{a, b::c}`
/// (over several lines too).
fn crate_imports(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // A `crate::{` group not closed yet: its line and what it holds so far.
    let mut open: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let code = code_of(line);
        if let Some((start, mut inside)) = open.take() {
            inside.push_str(code);
            if closed(&inside) {
                found.extend(group_names(&inside).into_iter().map(|n| (start, n)));
            } else {
                open = Some((start, inside));
            }
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + "crate::".len()..];
            // `qoswatch_core::…` or `other_crate::` is not this crate.
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(inside) = rest.strip_prefix('{') {
                if closed(inside) {
                    found.extend(group_names(inside).into_iter().map(|n| (index + 1, n)));
                } else {
                    open = Some((index + 1, inside.to_owned()));
                }
                break;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push((index + 1, name));
            }
        }
    }
    found
}

/// Whether the inside of a `{` holds its closing `}`.
fn closed(inside: &str) -> bool {
    let mut depth = 0usize;
    for c in inside.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return true,
            '}' => depth -= 1,
            _ => {}
        }
    }
    false
}

/// The first names of each path in the inside of `crate::{…}`.
fn group_names(inside: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut depth = 0usize;
    for c in inside.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                pieces.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(piece) = pieces.last_mut() {
            piece.push(c);
        }
    }
    pieces
        .iter()
        .map(|piece| {
            piece
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs`
/// and `main.rs`, which sit above every module, and for this test).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    // This file quotes bad imports in its own tests.
    (!matches!(name, "lib" | "main" | "architecture_tests")).then(|| name.to_owned())
}

/// Every import of `src/` that the table does not allow, as
/// `file:line: a imports b`.
fn violations(src: &Path, table: &Table) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let shown = file.strip_prefix(root()).unwrap_or(&file).display();
        let Some(allowed) = table.get(&module) else {
            found.push(format!(
                "{shown}: module `{module}` has no row in the layer table"
            ));
            continue;
        };
        for (line, imported) in crate_imports(&text) {
            if imported != module && !allowed.contains(&imported) {
                found.push(format!(
                    "{shown}:{line}: `{module}` imports `{imported}`, which the layer table \
                     in ARCHITECTURE.md does not allow"
                ));
            }
        }
    }
    found
}

fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_owned)
        })
        .collect()
}

fn the_table() -> Table {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    parse_table(&text).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_import_follows_the_layer_table() {
    let found = violations(&root().join("src"), &the_table());
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_layer_table_has_no_loop_and_names_every_module() {
    let table = the_table();
    assert_eq!(find_loop(&table), None, "the layer table has a loop");
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let declared = declared_modules(&lib);
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    let architecture = "architecture_tests".to_owned();
    let missing: Vec<_> = declared
        .difference(&listed)
        .filter(|m| **m != architecture)
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a row in the layer table: {missing:?}"
    );
    let extra: Vec<_> = listed.difference(&declared).collect();
    assert!(
        extra.is_empty(),
        "rows for modules lib.rs does not declare: {extra:?}"
    );
    for (module, allowed) in &table {
        for name in allowed {
            assert!(
                listed.contains(name),
                "`{module}` may import `{name}`, which has no row"
            );
        }
    }
}

#[test]
fn imports_are_read_in_every_spelling() {
    let text = "use crate::store::Store;\n\
                // use crate::admin::x;\n\
                let x = crate::quota::view(1); // crate::intake\n\
                use crate::{\n    alerting::Rules,\n    notify::{self, A},\n};\n\
                use qoswatch_core::subject;\n\
                use crate::{watch, zoom::client::Z};\n";
    let names: Vec<(usize, String)> = crate_imports(text);
    assert_eq!(
        names,
        vec![
            (1, "store".to_owned()),
            (3, "quota".to_owned()),
            (4, "alerting".to_owned()),
            (4, "notify".to_owned()),
            (9, "watch".to_owned()),
            (9, "zoom".to_owned()),
        ]
    );
}

#[test]
fn a_bad_import_is_named_with_its_file_and_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("store")).expect("src/store");
    std::fs::write(src.join("store/mod.rs"), "use crate::backoff::Backoff;\n").expect("write");
    std::fs::write(
        src.join("store/sqlite.rs"),
        "//! SQLite.\n\nuse crate::watch::Monitor;\n",
    )
    .expect("write");
    let table = parse_table(
        "<!-- layers: begin -->\n| module | may import |\n|---|---|\n\
         | `backoff` | — |\n| `store` | `backoff` |\n| `watch` | `store`, `backoff` |\n\
         <!-- layers: end -->",
    )
    .expect("table");
    let found = violations(&src, &table);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].ends_with("store/sqlite.rs:3: `store` imports `watch`, which the layer table in ARCHITECTURE.md does not allow"),
        "{}",
        found[0]
    );
}

#[test]
fn a_loop_in_the_table_is_found() {
    let table = parse_table(
        "<!-- layers: begin -->\n| `a` | `b` |\n| `b` | `c` |\n| `c` | `a` |\n| `d` | — |\n<!-- layers: end -->",
    )
    .expect("table");
    assert_eq!(
        find_loop(&table),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let acyclic = parse_table(
        "<!-- layers: begin -->\n| `a` | `b`, `c` |\n| `b` | `c` |\n| `c` | — |\n<!-- layers: end -->",
    )
    .expect("table");
    assert_eq!(find_loop(&acyclic), None);
}

/// The most lines of a production file (its unit tests not counted).
const MAX_FILE_LINES: usize = 600;
/// The most lines of a production function.
const MAX_FUNCTION_LINES: usize = 80;

/// The production part of a file: everything before a trailing
/// `#[cfg(test)] mod … {` block.
fn production_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| {
            pair[0].starts_with("#[cfg(test)]")
                && pair[1].trim_start().starts_with("mod ")
                && pair[1].trim_end().ends_with('{')
        })
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// Each function of `lines` with its length in lines, from its `fn` line
/// to its closing brace (braces in strings and comments are rare enough
/// in this code base not to matter; a bodyless `fn …;` is skipped).
fn function_lengths(lines: &[&str]) -> Vec<(usize, String, usize)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let code = code_of(line).trim_start();
        let after_visibility = code
            .strip_prefix("pub(crate) ")
            .or_else(|| code.strip_prefix("pub(super) "))
            .or_else(|| code.strip_prefix("pub "))
            .unwrap_or(code);
        let after_async = after_visibility
            .strip_prefix("async ")
            .or_else(|| after_visibility.strip_prefix("const "))
            .unwrap_or(after_visibility);
        let Some(rest) = after_async.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0usize;
        let mut opened = false;
        for (offset, body) in lines[start..].iter().enumerate() {
            // A brace as a character (`b'{'`) opens nothing.
            let code = code_of(body).replace("'{'", "").replace("'}'", "");
            if !opened && code.trim_end().ends_with(';') && !code.contains('{') {
                break;
            }
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            if opened && depth == 0 {
                found.push((start + 1, name.clone(), offset + 1));
                break;
            }
        }
    }
    found
}

/// Whether a file of `src/` holds only tests.
fn is_test_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
}

#[test]
fn production_rooms_and_functions_stay_small() {
    // The service and every crate of the workspace.
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for entry in std::fs::read_dir(root().join("crates"))
        .into_iter()
        .flatten()
        .flatten()
    {
        rust_files(&entry.path().join("src"), &mut files);
    }
    files.sort();
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines = production_lines(&text);
        let shown = file.strip_prefix(root()).unwrap_or(file).display();
        if lines.len() > MAX_FILE_LINES {
            found.push(format!(
                "{shown}: {} lines of production code (at most {MAX_FILE_LINES}): split it by job",
                lines.len()
            ));
        }
        for (line, name, length) in function_lengths(&lines) {
            if length > MAX_FUNCTION_LINES {
                found.push(format!(
                    "{shown}:{line}: fn {name} is {length} lines (at most {MAX_FUNCTION_LINES}): name its steps"
                ));
            }
        }
    }
    assert!(found.is_empty(), "rooms too large:\n{}", found.join("\n"));
}

#[test]
fn function_lengths_count_from_fn_to_the_closing_brace() {
    let text = "pub async fn one(\n    a: u8,\n) -> u8 {\n    if a > 0 {\n        a\n    } else {\n        0\n    }\n}\n\
                fn declared();\n\
                pub(crate) fn two() { let _ = (b'{', '}'); }\n\
                #[cfg(test)]\nmod tests {\n    fn inside() {\n    }\n}\n";
    let lines = production_lines(text);
    assert_eq!(lines.len(), 11, "the test module is not production code");
    assert_eq!(
        function_lengths(&lines),
        vec![(1, "one".to_owned(), 9), (11, "two".to_owned(), 1)]
    );
}
