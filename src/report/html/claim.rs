//! A claim as the page draws it: its verdict and the interval of our difference. The table
//! model keeps each claim as its printed line; [`view`] is the one place that reads a line
//! back into numbers, so a structured claim needs only this function re-pointed.

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

/// Verdict words of the claim lines, old and new vocabulary.
const VERDICTS: [(&str, Verdict); 8] = [
    ("yes,", Verdict::Reproduced),
    ("reproduced", Verdict::Reproduced),
    ("no,", Verdict::Contradicted),
    ("contradicted", Verdict::Contradicted),
    ("unclear", Verdict::Unresolved),
    ("unresolved", Verdict::Unresolved),
    ("no such cell", Verdict::Unresolved),
    ("not yet", Verdict::Unresolved),
];

/// Reads a claim line: "A > B on AP: yes, +0.9 ± 0.3 (paper: +2.2)". The line's rule is "two
/// standard errors apart", so the drawn interval is the difference ± 2 standard errors; a
/// line that prints its own interval "[lo, hi]" is drawn with that instead.
pub fn view(line: &str) -> ClaimView {
    let mut out = ClaimView {
        text: line.to_string(),
        verdict: Verdict::Unresolved,
        estimate: None,
        interval: None,
        interval_kind: "difference ± 2 standard errors",
        paper: None,
        unit: "",
    };
    // The verdict follows the last ": " that starts one (row names may hold colons).
    let Some((at, verdict)) = line
        .match_indices(": ")
        .filter_map(|(i, _)| {
            let rest = &line[i + 2..];
            VERDICTS
                .iter()
                .find(|(w, _)| rest.starts_with(w))
                .map(|(_, v)| (i + 2, *v))
        })
        .last()
    else {
        return out;
    };
    out.verdict = verdict;
    let rest = &line[at..];
    if let Some(p) = rest.find("(paper: ") {
        let tail = &rest[p + 8..];
        out.paper = tail.split(')').next().and_then(number);
    }
    let body = rest.split(" (paper: ").next().unwrap_or(rest);
    // After the verdict (and its parenthesis): "+0.9 ± 0.3" or "+0.9 [+0.1, +1.7]".
    let Some((_, numbers)) = body.split_once(", ") else {
        return out;
    };
    let numbers = numbers.trim();
    let mut parts = numbers.splitn(2, [' ', '[']);
    let Some(estimate) = parts.next().and_then(number) else {
        return out;
    };
    out.estimate = Some(estimate);
    out.unit = if numbers
        .split_whitespace()
        .next()
        .is_some_and(|t| t.ends_with('%'))
    {
        "%"
    } else {
        ""
    };
    if let Some((lo, hi)) = bracketed(numbers) {
        out.interval = Some((lo, hi));
        out.interval_kind = "interval as printed";
    } else if let Some(se) = numbers.split_once('±').and_then(|(_, s)| number(s)) {
        out.interval = Some((estimate - 2.0 * se, estimate + 2.0 * se));
    }
    out
}

/// "[lo, hi]" anywhere in the text.
fn bracketed(s: &str) -> Option<(f64, f64)> {
    let inner = s.split_once('[')?.1.split_once(']')?.0;
    let (lo, hi) = inner.split_once(',')?;
    Some((number(lo)?, number(hi)?))
}

/// "+1.46%", "-0.3", "0.9": a signed number, percent sign dropped.
fn number(s: &str) -> Option<f64> {
    let t = s.trim().trim_end_matches(',').trim_end_matches('%');
    let t = t.strip_prefix('+').unwrap_or(t);
    t.replace('−', "-")
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_the_tables_print_them() {
        let c = view("UGS > L2 on AP: yes, +4.0 ± 0.8 (paper: +2.2)");
        assert_eq!(c.verdict, Verdict::Reproduced);
        assert_eq!(c.estimate, Some(4.0));
        let (lo, hi) = c.interval.unwrap();
        assert!((lo - 2.4).abs() < 1e-9 && (hi - 5.6).abs() < 1e-9);
        assert_eq!(c.paper, Some(2.2));

        let c = view("1.00:1.00 > 0.10:0.10 on AP50 (L1): no, -0.31% ± 0.05%");
        assert_eq!(c.verdict, Verdict::Contradicted);
        assert_eq!((c.estimate, c.unit, c.paper), (Some(-0.31), "%", None));
        assert!(c.interval.is_some());

        let c = view("A > B on AP [Batch Size]: unclear (within the seed spread), +0.1 ± 0.4");
        assert_eq!(c.verdict, Verdict::Unresolved);
        assert_eq!(c.estimate, Some(0.1));

        let c = view("A > B on AP: unclear (one seed: no spread to judge by), +0.5 (paper: +1.0)");
        assert_eq!(
            (c.verdict, c.estimate, c.interval),
            (Verdict::Unresolved, Some(0.5), None)
        );
        assert_eq!(c.paper, Some(1.0));

        let c = view("A > B on AP: not yet (results missing) (paper: +1.0)");
        assert_eq!(
            (c.verdict, c.estimate, c.paper),
            (Verdict::Unresolved, None, Some(1.0))
        );
    }

    #[test]
    fn a_printed_interval_wins() {
        let c = view("A > B on AP: reproduced, +0.9 [+0.2, +1.6] (paper: +2.2)");
        assert_eq!(c.verdict, Verdict::Reproduced);
        assert_eq!(c.interval, Some((0.2, 1.6)));
    }

    #[test]
    fn an_unknown_line_is_unresolved_without_numbers() {
        let c = view("something else entirely");
        assert_eq!(
            (c.verdict, c.estimate, c.interval),
            (Verdict::Unresolved, None, None)
        );
    }
}
