//! What a bad configuration looks like to its caller: every problem at once, each with its key
//! path and line, printed one per line as `mailgate.toml:12: orgs[1].domains[0]: ...`. Also the
//! collector the validators report into; it decides nothing about values.

use std::fmt;

use super::locate::{KeyPath, Source};

/// One problem in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path such as `orgs[1].domains[0]`; empty for problems with the file as a whole.
    pub key: String,
    /// 1-based line in the file, when the problem can be placed.
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found in one configuration, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file path, or `<defaults>` for the embedded defaults.
    pub origin: String,
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// A problem with the file as a whole (cannot be read, ...).
    pub(super) fn whole_file(origin: &str, message: String) -> Self {
        let error = ConfigError { key: String::new(), line: None, message };
        Self { origin: origin.to_string(), errors: vec![error] }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&self.origin)?;
            if let Some(line) = error.line {
                write!(f, ":{line}")?;
            }
            if !error.key.is_empty() {
                write!(f, ": {}", error.key)?;
            }
            write!(f, ": {}", error.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
impl std::error::Error for ConfigErrors {}

/// Collects problems while the validators run, placing each one by its key path.
pub(super) struct Problems<'s, 't> {
    source: &'s Source<'t>,
    errors: Vec<ConfigError>,
    /// Entries of the wrong type, already reported and replaced by their defaults: a judgement of
    /// what is now in their place would be about the default, not about what was written.
    defaulted: Vec<KeyPath>,
}

impl<'s, 't> Problems<'s, 't> {
    pub(super) fn new(source: &'s Source<'t>) -> Self {
        Self { source, errors: Vec::new(), defaulted: Vec::new() }
    }

    /// Records a problem with the value at `path` (or, when absent, at its nearest ancestor),
    /// unless `path` lies inside an entry already reported as being of the wrong type.
    pub(super) fn report(&mut self, path: &KeyPath, message: impl Into<String>) {
        if self.defaulted.iter().any(|defaulted| path.is_within(defaulted)) {
            return;
        }
        let line = self.source.line(path);
        self.errors.push(ConfigError { key: path.to_string(), line, message: message.into() });
    }

    /// Notes that the entry at `path` was reported and now holds its default.
    pub(super) fn defaulted(&mut self, path: KeyPath) {
        self.defaulted.push(path);
    }

    /// Every problem so far, sorted by line.
    pub(super) fn into_errors(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|error| error.line.unwrap_or(usize::MAX));
        self.errors
    }

    /// Records a problem already placed (used for errors from the TOML deserializer).
    pub(super) fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }
}
