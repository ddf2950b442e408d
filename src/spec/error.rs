//! Spec errors: each names the file, the line and column, the key, what was wrong and what is
//! allowed. A file reports all its errors at once.

use std::fmt;
use std::path::PathBuf;

use super::yaml::Pos;

/// Where a problem was found: a position in the spec file, or a command-line override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, pos: Option<Pos> },
    CommandLine { arg: String },
}

/// What kind of problem a [`SpecError`] is, for callers (and tests) that act on it rather than
/// read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Read,
    /// Not YAML, or a value of the wrong type.
    Syntax,
    /// A key the schema does not have.
    UnknownKey,
    /// A `kind:` (or other enumerated value) the schema does not have.
    UnknownKind,
    /// A required key is absent.
    MissingKey,
    /// A value outside its allowed range or list.
    OutOfRange,
    /// A file or directory the config names does not exist.
    MissingPath,
    /// The spec's own structure: empty axes, duplicate names, cycles, bad dotted keys.
    Structure,
    /// A `--set` or `--scale` from the command line.
    CommandLine,
    /// A table that does not fit the jobs, or its reference file.
    Table,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub kind: ErrorKind,
    pub origin: Origin,
    /// Dotted key path, e.g. `variants[2].set.loss.reg.lamda`; empty for whole-file problems.
    pub key: String,
    pub problem: String,
    /// What would have been accepted, when that is a short list or range.
    pub allowed: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, pos: Some(p) } => {
                write!(f, "{}:{}:{}: ", path.display(), p.line, p.col)?
            }
            Origin::File { path, pos: None } => write!(f, "{}: ", path.display())?,
            Origin::CommandLine { arg } => write!(f, "--set {arg}: ")?,
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        write!(f, "{}", self.problem)?;
        if let Some(allowed) = &self.allowed {
            write!(f, "; allowed: {allowed}")?;
        }
        Ok(())
    }
}

/// Every problem found in one spec, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}

/// Splits serde's "unknown field `x`, expected one of `a`, `b`" into the problem and the
/// allowed list, adding a "did you mean" when one allowed name is close to the typo.
pub(crate) fn explain_serde(message: &str) -> Explained {
    for (prefix, what, kind) in [
        ("unknown field `", "unknown key", ErrorKind::UnknownKey),
        ("unknown variant `", "unknown kind", ErrorKind::UnknownKind),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let found = rest.split('`').next().unwrap_or_default().to_string();
            let allowed: Vec<&str> = rest
                .split_once("expected ")
                .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
                .unwrap_or_default();
            let best = allowed
                .iter()
                .map(|a| (strsim::jaro_winkler(&found, a), *a))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let problem = match best {
                Some((_, name)) => format!("{what} `{found}` (did you mean `{name}`?)"),
                None => format!("{what} `{found}`"),
            };
            let allowed = (!allowed.is_empty()).then(|| allowed.join(", "));
            return Explained {
                kind,
                problem,
                allowed,
                found: Some(found),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return Explained {
            kind: ErrorKind::MissingKey,
            problem: format!("missing key `{field}`"),
            allowed: None,
            found: Some(field.to_string()),
        };
    }
    Explained {
        kind: ErrorKind::Syntax,
        problem: message.to_string(),
        allowed: None,
        found: None,
    }
}

/// A serde message taken apart: its kind, the problem, what is allowed, and the offending name.
pub(crate) struct Explained {
    pub kind: ErrorKind,
    pub problem: String,
    pub allowed: Option<String>,
    pub found: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_allowed_name() {
        let e = explain_serde("unknown field `lamda`, expected one of `n`, `alpha`, `lambda`");
        assert_eq!(e.kind, ErrorKind::UnknownKey);
        assert_eq!(e.problem, "unknown key `lamda` (did you mean `lambda`?)");
        assert_eq!(e.allowed.as_deref(), Some("n, alpha, lambda"));
        assert_eq!(e.found.as_deref(), Some("lamda"));
    }

    #[test]
    fn no_suggestion_when_nothing_is_close() {
        let e = explain_serde("unknown variant `xyz`, expected one of `focal`, `l1`");
        assert_eq!(e.kind, ErrorKind::UnknownKind);
        assert_eq!(e.problem, "unknown kind `xyz`");
        assert_eq!(e.allowed.as_deref(), Some("focal, l1"));
    }
}
