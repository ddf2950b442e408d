//! A claim as the page draws it: its verdict and the interval of our difference, in the
//! table's units, from the table's structured claim ([`of`]).

/// The verdict on the paper's statement "row > than".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Our difference is above zero beyond the seed spread.
    Reproduced,
    /// Our difference is below zero beyond the seed spread.
    Contradicted,
    /// Within the spread, one seed, results missing, or no such cell.
    Unresolved,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::Contradicted => "contradicted",
            Verdict::Unresolved => "unresolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimView {
    /// The line as the other formats print it.
    pub text: String,
    pub verdict: Verdict,
    /// Our difference of means, in the table's units.
    pub estimate: Option<f64>,
    /// The interval the verdict was decided on.
    pub interval: Option<(f64, f64)>,
    /// How the interval was made, for the legend.
    pub interval_kind: &'static str,
    /// The paper's difference, when it prints both numbers (or a difference).
    pub paper: Option<f64>,
    /// "%" when the differences are printed as percentages.
    pub unit: &'static str,
}

/// The page's view of a table's claim: numbers scaled as the table prints differences.
pub fn of(c: &crate::report::claims::Claim, scale: f64, unit: &'static str) -> ClaimView {
    use crate::report::claims::Verdict as V;
    let verdict = match c.verdict {
        V::Reproduced => Verdict::Reproduced,
        V::Contradicted => Verdict::Contradicted,
        _ => Verdict::Unresolved,
    };
    let level = (c.level * 100.0).round();
    ClaimView {
        text: c.text.clone(),
        verdict,
        estimate: c.diff.map(|d| d * scale),
        interval: c.test.as_ref().map(|t| (t.ci.0 * scale, t.ci.1 * scale)),
        interval_kind: if level == 95.0 {
            "95% confidence interval of the difference"
        } else {
            "confidence interval of the difference at the table's level"
        },
        paper: c.paper_diff.map(|d| d * scale),
        unit,
    }
}
