//! Key paths (`orgs[1].domains[0]`) and where they sit in the TOML text. Owns the parsed, spanned
//! document that every error's line comes from; it answers "which line?" and "which key?", and
//! never judges a value.

use std::fmt;

use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// A path from the document root to a value, printed the way a reader would write it:
/// `orgs[1].domains[0]`, `database.url`. The empty path is the whole document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct KeyPath(Vec<Step>);

impl KeyPath {
    /// The path of a top-level key.
    pub(super) fn top(key: &str) -> Self {
        Self(vec![Step::Key(key.to_string())])
    }

    /// This path extended by a table key.
    pub(super) fn key(&self, key: &str) -> Self {
        self.with(Step::Key(key.to_string()))
    }

    /// This path extended by an array index.
    pub(super) fn at(&self, index: usize) -> Self {
        self.with(Step::Index(index))
    }

    pub(super) fn from_steps(steps: Vec<Step>) -> Self {
        Self(steps)
    }

    pub(super) fn steps(&self) -> &[Step] {
        &self.0
    }

    /// True when this path is `ancestor` or lies inside it.
    pub(super) fn is_within(&self, ancestor: &KeyPath) -> bool {
        self.0.starts_with(&ancestor.0)
    }

    fn with(&self, step: Step) -> Self {
        let mut steps = self.0.clone();
        steps.push(step);
        Self(steps)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, step) in self.0.iter().enumerate() {
            match step {
                Step::Index(index) => write!(f, "[{index}]")?,
                Step::Key(key) => {
                    if position > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if bare { f.write_str(key)? } else { write!(f, "{key:?}")? }
                }
            }
        }
        Ok(())
    }
}

/// The TOML text together with its spanned parse tree.
pub(super) struct Source<'t> {
    text: &'t str,
    root: DeValue<'t>,
}

impl<'t> Source<'t> {
    /// Parses `text`, reporting every syntax error (with line and column) when it is not TOML.
    pub(super) fn parse(text: &'t str) -> Result<Self, Vec<ConfigError>> {
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        let source = Self { text, root: DeValue::Table(root.into_inner()) };
        if syntax_errors.is_empty() {
            return Ok(source);
        }
        let mut offsets: Vec<(usize, &str)> = syntax_errors
            .iter()
            .map(|error| (error.span().map_or(0, |span| span.start), error.message()))
            .collect();
        offsets.sort_by_key(|(offset, _)| *offset);
        Err(offsets
            .into_iter()
            .map(|(offset, message)| ConfigError {
                key: String::new(),
                line: Some(source.line_at(offset)),
                message: format!("column {}: {}", source.column_at(offset), message.trim_end()),
            })
            .collect())
    }

    /// The whole document as a table.
    pub(super) fn root(&self) -> &DeValue<'t> {
        &self.root
    }

    /// The line of `path`; when the path is absent, the line of its nearest present ancestor;
    /// `None` when not even its top-level key is in the file.
    pub(super) fn line(&self, path: &KeyPath) -> Option<usize> {
        let mut current = &self.root;
        let mut span = None;
        for step in path.steps() {
            let next = match (step, current) {
                (Step::Key(key), DeValue::Table(table)) => table.get(key.as_str()),
                (Step::Index(index), DeValue::Array(array)) => array.get(*index),
                _ => None,
            };
            let Some(next) = next else { break };
            span = Some(next.span());
            current = next.get_ref();
        }
        span.map(|span| self.line_at(span.start))
    }

    /// The path of the innermost value whose text covers byte `offset` (empty when none does).
    pub(super) fn path_at(&self, offset: usize) -> KeyPath {
        let mut best = Vec::new();
        deepest_covering(&self.root, offset, &mut Vec::new(), &mut best);
        KeyPath(best)
    }

    /// 1-based line of byte `offset`.
    pub(super) fn line_at(&self, offset: usize) -> usize {
        let before = self.text.get(..offset).unwrap_or(self.text);
        before.matches('\n').count() + 1
    }

    /// 1-based column (in characters) of byte `offset`.
    pub(super) fn column_at(&self, offset: usize) -> usize {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        before.get(line_start..).map_or(0, |line| line.chars().count()) + 1
    }
}

/// Removes the table entry holding the value at byte `offset`, so a retried deserialization can
/// go on to find the next problem (the entry then takes its default). The path of the removed
/// entry, or `None` when no entry covers the offset.
pub(super) fn remove_value_at(root: &mut DeValue<'_>, source: &Source<'_>, offset: usize) -> Option<KeyPath> {
    let mut steps = source.path_at(offset).0;
    while matches!(steps.last(), Some(Step::Index(_))) {
        steps.pop();
    }
    let removed = KeyPath(steps.clone());
    let Some(Step::Key(key)) = steps.pop() else {
        return None;
    };
    let mut current = root;
    for step in &steps {
        let next = match (step, current) {
            (Step::Key(key), DeValue::Table(table)) => table.get_mut(key.as_str()),
            (Step::Index(index), DeValue::Array(array)) => array.get_mut(*index),
            _ => None,
        };
        current = next?.get_mut();
    }
    match current {
        DeValue::Table(table) => table.remove(key.as_str()).map(|_| removed),
        _ => None,
    }
}

/// Depth-first search keeping the longest path whose value span covers `offset`. Header tables
/// (`[instance]`) only span their header line, so their entries are searched regardless.
fn deepest_covering(value: &DeValue<'_>, offset: usize, path: &mut Vec<Step>, best: &mut Vec<Step>) {
    let children: Vec<(Step, &toml::Spanned<DeValue<'_>>)> = match value {
        DeValue::Table(table) => {
            table.iter().map(|(key, child)| (Step::Key(key.get_ref().to_string()), child)).collect()
        }
        DeValue::Array(array) => {
            array.iter().enumerate().map(|(index, child)| (Step::Index(index), child)).collect()
        }
        _ => Vec::new(),
    };
    for (step, child) in children {
        path.push(step);
        if child.span().contains(&offset) && path.len() > best.len() {
            *best = path.clone();
        }
        deepest_covering(child.get_ref(), offset, path, best);
        path.pop();
    }
}
