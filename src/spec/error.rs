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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
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
pub(crate) fn explain_serde(message: &str) -> (String, Option<String>, Option<String>) {
    for (prefix, what) in [
        ("unknown field `", "unknown key"),
        ("unknown variant `", "unknown kind"),
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
            return (problem, allowed, Some(found));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return (
            format!("missing key `{field}`"),
            None,
            Some(field.to_string()),
        );
    }
    (message.to_string(), None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_allowed_name() {
        let (problem, allowed, found) =
            explain_serde("unknown field `lamda`, expected one of `n`, `alpha`, `lambda`");
        assert_eq!(problem, "unknown key `lamda` (did you mean `lambda`?)");
        assert_eq!(allowed.as_deref(), Some("n, alpha, lambda"));
        assert_eq!(found.as_deref(), Some("lamda"));
    }

    #[test]
    fn no_suggestion_when_nothing_is_close() {
        let (problem, allowed, _) =
            explain_serde("unknown variant `xyz`, expected one of `focal`, `l1`");
        assert_eq!(problem, "unknown kind `xyz`");
        assert_eq!(allowed.as_deref(), Some("focal, l1"));
    }
}
