//! The architecture's invariants (ARCHITECTURE.md, "Invariants") as tests, in the manner of
//! rust-analyzer's: each rule reads the source of `src/` and names every line that breaks it.
//! Test modules (`#[cfg(test)]` to the end of a file, and `tests.rs` files) are exempt.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

/// One source file of `src/`, without its test module.
struct Source {
    /// Relative to the crate, e.g. `src/core/thread.rs`.
    path: String,
    text: String,
}

impl Source {
    fn new(path: &str, text: &str) -> Source {
        let text = match text.find("#[cfg(test)]") {
            Some(at) => &text[..at],
            None => text,
        };
        Source { path: path.to_string(), text: text.to_string() }
    }

    /// `(line number, line)` of the lines that are not comments.
    fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text.lines().enumerate().map(|(n, line)| (n + 1, line)).filter(|(_, line)| {
            let line = line.trim_start();
            !line.starts_with("//")
        })
    }

    fn under(&self, dir: &str) -> bool {
        self.path.starts_with(dir)
    }
}

fn sources() -> Vec<Source> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&root.join("src"), &mut files);
    files.sort();
    assert!(files.len() > 50, "found only {} files under src/", files.len());
    files
        .iter()
        .filter(|file| {
            file.file_name()
                .is_some_and(|name| name != "tests.rs" && !name.to_string_lossy().ends_with("_tests.rs"))
        })
        .map(|file| {
            let relative = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            Source::new(&relative, &std::fs::read_to_string(file).unwrap())
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Lines of `sources` that match `pattern`, as `path:line: text`.
fn offending<'a>(sources: impl IntoIterator<Item = &'a Source>, pattern: &Regex) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources {
        for (n, line) in source.code_lines() {
            if pattern.is_match(line) {
                found.push(format!("{}:{n}: {}", source.path, line.trim()));
            }
        }
    }
    found
}

/// A string literal that starts an SQL statement.
static SQL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#""\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|CREATE\s+(TABLE|INDEX)\s)"#,
    )
    .unwrap()
});

fn sql_outside_store(sources: &[Source]) -> Vec<String> {
    offending(sources.iter().filter(|s| !s.under("src/store/")), &SQL)
}

/// What `core` may not use: the rest of the crate, the async runtime, files, the network, time and
/// randomness. (It may use `crate::core::...`, std's data structures, regex and serde.)
static CORE_FORBIDDEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\bcrate::(?:[a-z_]+)\b|\btokio::|\bstd::(?:fs|net|process|env|thread)\b|\b(?:Instant|SystemTime)::now\b|\brand::|\bthread_rng\b",
    )
    .unwrap()
});

fn core_reaching_out(sources: &[Source]) -> Vec<String> {
    let mut found = Vec::new();
    for source in sources.iter().filter(|s| s.under("src/core/") || s.path == "src/core.rs") {
        for (n, line) in source.code_lines() {
            let reaching = CORE_FORBIDDEN.find_iter(line).any(|m| !m.as_str().starts_with("crate::core"));
            if reaching {
                found.push(format!("{}:{n}: {}", source.path, line.trim()));
            }
        }
    }
    found
}

static TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(?:Instant|SystemTime)::now\b").unwrap());

fn time_outside_clock(sources: &[Source]) -> Vec<String> {
    offending(sources.iter().filter(|s| s.path != "src/clock.rs"), &TIME)
}

static UNWRAP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\.unwrap\(\)").unwrap());

fn unwrap_outside_tests(sources: &[Source]) -> Vec<String> {
    offending(sources, &UNWRAP)
}

fn assert_none(rule: &str, found: Vec<String>) {
    assert!(found.is_empty(), "{rule}:\n{}", found.join("\n"));
}

#[test]
fn sql_appears_only_in_store() {
    assert_none("SQL outside src/store/", sql_outside_store(&sources()));
}

#[test]
fn core_imports_nothing_else_and_does_no_io() {
    assert_none("core reaching outside itself", core_reaching_out(&sources()));
}

#[test]
fn time_is_read_only_through_the_clock() {
    assert_none("time read outside src/clock.rs", time_outside_clock(&sources()));
}

#[test]
fn no_unwrap_outside_tests() {
    assert_none("unwrap() outside tests", unwrap_outside_tests(&sources()));
}

/// The rules catch what they are meant to (a rule that matches nothing proves nothing).
#[test]
fn each_rule_catches_its_violation() {
    let bad = [
        Source::new("src/web/page.rs", "let n = tx.query_one(\"SELECT COUNT(*) FROM tickets\", &[], f)?;\n"),
        Source::new("src/core/thread.rs", "use crate::store::Tx;\nuse crate::core::ids::TicketId;\n"),
        Source::new("src/core/quote.rs", "let f = std::fs::read(\"x\");\nlet n = rand::random::<u8>();\n"),
        Source::new("src/outbox/worker.rs", "let t = std::time::Instant::now();\nlet x = y.unwrap();\n"),
        Source::new(
            "src/ingest/mod.rs",
            "// SELECT in a comment is fine\nlet x = 1;\n#[cfg(test)]\nmod tests { fn t() { y.unwrap(); } }\n",
        ),
    ];
    assert_eq!(
        sql_outside_store(&bad),
        ["src/web/page.rs:1: let n = tx.query_one(\"SELECT COUNT(*) FROM tickets\", &[], f)?;"]
    );
    assert_eq!(
        core_reaching_out(&bad),
        [
            "src/core/thread.rs:1: use crate::store::Tx;",
            "src/core/quote.rs:1: let f = std::fs::read(\"x\");",
            "src/core/quote.rs:2: let n = rand::random::<u8>();",
        ]
    );
    assert_eq!(time_outside_clock(&bad), ["src/outbox/worker.rs:1: let t = std::time::Instant::now();"]);
    assert_eq!(unwrap_outside_tests(&bad), ["src/outbox/worker.rs:2: let x = y.unwrap();"]);
}
