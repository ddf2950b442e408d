//! The `table:` / `tables:` sections of a spec: how `sweep table` lays out results in a paper's
//! layout (rows, column groups, sub-tables, baselines and deltas, bold, claims). Only the schema
//! and its checks live here; the report module renders it.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The metrics a table may show, as the evaluator names them.
pub const METRICS: [&str; 12] = crate::eval::CocoSummary::NAMES;

/// Evaluation-time perturbations a metric may be measured under (`AP50@black_patch`).
pub const PERTURBATIONS: [&str; 4] = [
    "black_patch",
    "random_patch",
    "flip_patch",
    "gaussian_noise",
];

/// Whether `name` is a metric a job reports: a COCO summary name, optionally measured on a
/// perturbed val set (`AP50@gaussian_noise`).
pub fn is_metric(name: &str) -> bool {
    let (base, perturbation) = match name.split_once('@') {
        Some((b, p)) => (b, Some(p)),
        None => (name, None),
    };
    METRICS.contains(&base) && perturbation.is_none_or(|p| PERTURBATIONS.contains(&p))
}

pub fn allowed_metrics() -> String {
    format!(
        "{} (or METRIC@PERTURBATION with one of {})",
        METRICS.join(", "),
        PERTURBATIONS.join(", ")
    )
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// File stem under `DIR/tables/` (default: the spec's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Heading of the table, e.g. the paper's table name.
    #[serde(default)]
    pub title: Option<String>,
    /// Caption under the table; what ran (detector, schedule, data, scale, seeds) is appended.
    #[serde(default)]
    pub caption: Option<String>,
    /// Only jobs whose resolved config has these values (`{loss.weights.adapt.variant: 2}`).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, Scalar>,
    /// Where a row's label comes from.
    #[serde(default)]
    pub rows: RowSource,
    /// Header of the row-label column.
    #[serde(default = "default_row_header")]
    pub row_header: String,
    /// Column groups from a config axis; each group holds every metric.
    #[serde(default)]
    pub columns: Option<AxisSpec>,
    /// Metrics shown (in each column group).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<String>,
    /// Column headers for metrics, e.g. `{AP50@black_patch: Black Patch}` (reference files
    /// still key columns by metric name).
    #[serde(default)]
    pub metric_labels: BTreeMap<String, String>,
    /// Sub-tables, each with its own header row.
    #[serde(default)]
    pub sections: Option<Sections>,
    /// The row other rows are compared with: one label, or `{row: its baseline}`.
    #[serde(default)]
    pub baseline: Option<Baseline>,
    #[serde(default)]
    pub delta: DeltaMode,
    /// Metrics the deltas apply to (default: all).
    #[serde(default)]
    pub delta_metrics: Option<Vec<String>>,
    #[serde(default)]
    pub delta_format: DeltaFormat,
    /// Label of `delta: rows` rows.
    #[serde(default = "default_delta_label")]
    pub delta_label: String,
    #[serde(default)]
    pub bold: Bold,
    /// Show metrics ×100 (papers print 37.4, not 0.374).
    #[serde(default = "default_percent")]
    pub percent: bool,
    #[serde(default = "default_decimals")]
    pub decimals: usize,
    /// The paper's own numbers: a YAML file beside the spec (path relative to the spec).
    #[serde(default)]
    pub reference: Option<String>,
    /// Comparisons stated under the table, each computed from our seeds.
    #[serde(default)]
    pub claims: Vec<ClaimSpec>,
    /// Confidence level of the claims' tests and intervals (two-sided), unless a claim sets
    /// its own.
    #[serde(default = "default_claims_level")]
    pub claims_level: f64,
}

/// `rows:` — the expansion's row label (variant plus grid point), the variant name, or a
/// config axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RowSource {
    Named(RowKeyword),
    Axis(AxisSpec),
}

impl Default for RowSource {
    fn default() -> Self {
        RowSource::Named(RowKeyword::Row)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKeyword {
    Row,
    Variant,
}

/// A config path whose value labels a row, a column group or a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisSpec {
    /// Dotted path into the resolved config, e.g. `loss.reg.kind`.
    pub axis: String,
    /// Value → label; values without one show as `format` makes them. Labelled values come
    /// first, in this order.
    #[serde(default)]
    pub labels: Labels,
    /// Label template for unlabelled values: `{}` is the value (default `{}`).
    #[serde(default)]
    pub format: Option<String>,
}

impl AxisSpec {
    /// The label of a config value.
    pub fn label(&self, value: &serde_json::Value) -> String {
        if let Some((_, l)) = self.labels.0.iter().find(|(k, _)| k.matches(value)) {
            return l.clone();
        }
        let text = Scalar::text_of(value);
        match &self.format {
            Some(f) => f.replace("{}", &text),
            None => text,
        }
    }

    /// Label and rank of the value at the axis' path; an absent value is `null`, which shows
    /// only where `labels` names it (`{null: "baseline"}`), else the job is left out.
    pub fn place(&self, value: Option<&serde_json::Value>) -> Option<(String, usize)> {
        match value {
            Some(v) => Some((self.label(v), self.rank(v))),
            None => {
                let null = serde_json::Value::Null;
                self.labels
                    .0
                    .iter()
                    .any(|(k, _)| k.0.is_null())
                    .then(|| (self.label(&null), self.rank(&null)))
            }
        }
    }

    /// Rank of a value for ordering: labelled values in label order, then the rest.
    pub fn rank(&self, value: &serde_json::Value) -> usize {
        self.labels
            .0
            .iter()
            .position(|(k, _)| k.matches(value))
            .unwrap_or(self.labels.0.len())
    }
}

/// `labels:` as written: YAML keys may be numbers (`{32: "w32"}`), so keys are scalars.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Labels(pub Vec<(Scalar, String)>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map from config values to labels")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Labels, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<Scalar, String>()? {
                    out.push((k, v));
                }
                Ok(Labels(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A YAML scalar compared with config values: numbers by value (`1` equals `1.0`), strings
/// and booleans exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scalar(pub serde_json::Value);

impl Scalar {
    /// Whether a config has this value at a path (`None`: the path is absent, which `null`
    /// matches).
    pub fn matches_at(&self, value: Option<&serde_json::Value>) -> bool {
        match value {
            None => self.0.is_null(),
            Some(v) => self.matches(v),
        }
    }

    pub fn matches(&self, value: &serde_json::Value) -> bool {
        match (&self.0, value) {
            (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                a.as_f64() == b.as_f64()
            }
            (a, b) => a == b,
        }
    }

    /// How a config value reads in a label: `0.5`, `1`, `l1`, `true`.
    pub fn text_of(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) => format!("{f}"),
                None => n.to_string(),
            },
            other => other.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, string or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.into()))
            }
            /// `null`: the key is absent (an optional section not set).
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(serde_json::Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// `sections:` — listed sub-tables, or one per value of a config axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Sections {
    Listed(Vec<SectionSpec>),
    Axis(AxisSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    /// Shown in the row-label column of the sub-table's header row.
    pub header: String,
    pub rows: Vec<SectionRow>,
}

/// A row of a listed section: a row label, or `{row, label}` to show a row under another
/// label (one job may appear in several sub-tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SectionRow {
    Row(String),
    Relabelled { row: String, label: String },
}

impl SectionRow {
    pub fn row(&self) -> &str {
        match self {
            SectionRow::Row(r) | SectionRow::Relabelled { row: r, .. } => r,
        }
    }
    pub fn label(&self) -> &str {
        match self {
            SectionRow::Row(r) => r,
            SectionRow::Relabelled { label, .. } => label,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Baseline {
    One(String),
    PerRow(BTreeMap<String, String>),
}

impl Baseline {
    /// The baseline of a row (by its displayed label), if it has one other than itself.
    pub fn of<'a>(&'a self, row: &str) -> Option<&'a str> {
        match self {
            Baseline::One(b) => (b != row).then_some(b.as_str()),
            Baseline::PerRow(m) => m.get(row).map(String::as_str),
        }
    }
    /// Every row named as a baseline or as having one.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Baseline::One(b) => vec![b],
            Baseline::PerRow(m) => m
                .iter()
                .flat_map(|(a, b)| [a.as_str(), b.as_str()])
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeltaMode {
    #[default]
    None,
    /// "22.4 (+2.5)": the difference appended to the value.
    Inline,
    /// The difference instead of the value (ALWA Table 1's "+1.46%").
    Replace,
    /// A row of differences after each compared row (ALWA Table 2's "Improvement%").
    Rows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeltaFormat {
    /// In the table's units: "+2.5".
    #[default]
    Value,
    /// The raw metric's difference ×100 with two decimals: "+1.46%" (absolute, as the ALWA
    /// paper's Improvement% is).
    PointsPercent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Bold {
    #[default]
    None,
    /// The highest mean of each column within each sub-table.
    Best,
    /// Cells whose mean beats their baseline row's.
    AboveBaseline,
}

/// "`row` > `than` on `metric`", checked against our seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimSpec {
    pub row: String,
    pub than: String,
    pub metric: String,
    /// The column group (label), when the table has groups.
    #[serde(default)]
    pub column: Option<String>,
    /// The sub-table (header), when the table has sections.
    #[serde(default)]
    pub section: Option<String>,
    /// This claim's confidence level (default: the table's `claims_level`).
    #[serde(default)]
    pub level: Option<f64>,
}

fn default_claims_level() -> f64 {
    0.95
}

fn default_row_header() -> String {
    "Configuration".into()
}

fn default_metrics() -> Vec<String> {
    vec!["AP".into(), "AP50".into(), "AP75".into()]
}

fn default_delta_label() -> String {
    "Improvement%".into()
}

fn default_percent() -> bool {
    true
}

fn default_decimals() -> usize {
    1
}

impl Default for TableSpec {
    fn default() -> Self {
        TableSpec {
            name: None,
            title: None,
            caption: None,
            filter: BTreeMap::new(),
            rows: RowSource::default(),
            row_header: default_row_header(),
            columns: None,
            metrics: default_metrics(),
            metric_labels: BTreeMap::new(),
            sections: None,
            baseline: None,
            delta: DeltaMode::None,
            delta_metrics: None,
            delta_format: DeltaFormat::Value,
            delta_label: default_delta_label(),
            bold: Bold::None,
            percent: default_percent(),
            decimals: default_decimals(),
            reference: None,
            claims: Vec::new(),
            claims_level: default_claims_level(),
        }
    }
}

impl TableSpec {
    /// The config paths this table reads, with the key that names each (for error messages).
    pub fn axes(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = self
            .filter
            .keys()
            .map(|k| (format!("where.{k}"), k.as_str()))
            .collect();
        if let RowSource::Axis(a) = &self.rows {
            out.push(("rows.axis".into(), &a.axis));
        }
        if let Some(a) = &self.columns {
            out.push(("columns.axis".into(), &a.axis));
        }
        if let Some(Sections::Axis(a)) = &self.sections {
            out.push(("sections.axis".into(), &a.axis));
        }
        out
    }

    /// Checks that need only the table itself: `(key, problem, allowed)` per problem.
    pub fn check(&self) -> Vec<(String, String, Option<String>)> {
        let mut out = Vec::new();
        for (i, m) in self.metrics.iter().enumerate() {
            if !is_metric(m) {
                out.push((
                    format!("metrics[{i}]"),
                    format!("unknown metric `{m}`"),
                    Some(allowed_metrics()),
                ));
            }
        }
        for m in self.metric_labels.keys() {
            if !self.metrics.contains(m) {
                out.push((
                    format!("metric_labels.{m}"),
                    format!("`{m}` is not one of the table's metrics"),
                    Some(self.metrics.join(", ")),
                ));
            }
        }
        if self.metrics.is_empty() {
            out.push(("metrics".into(), "no metrics to show".into(), None));
        }
        for (i, m) in self.delta_metrics.iter().flatten().enumerate() {
            if !self.metrics.contains(m) {
                out.push((
                    format!("delta_metrics[{i}]"),
                    format!("`{m}` is not one of the table's metrics"),
                    Some(self.metrics.join(", ")),
                ));
            }
        }
        let level_ok = |l: f64| l > 0.0 && l < 1.0;
        if !level_ok(self.claims_level) {
            out.push((
                "claims_level".into(),
                format!("{} is out of range", self.claims_level),
                Some("0 < level < 1, e.g. 0.95".into()),
            ));
        }
        for (i, c) in self.claims.iter().enumerate() {
            if let Some(l) = c.level.filter(|l| !level_ok(*l)) {
                out.push((
                    format!("claims[{i}].level"),
                    format!("{l} is out of range"),
                    Some("0 < level < 1, e.g. 0.95".into()),
                ));
            }
            if !self.metrics.contains(&c.metric) {
                out.push((
                    format!("claims[{i}].metric"),
                    format!("`{}` is not one of the table's metrics", c.metric),
                    Some(self.metrics.join(", ")),
                ));
            }
        }
        if self.delta != DeltaMode::None && self.baseline.is_none() {
            out.push(("delta".into(), "deltas need a `baseline` row".into(), None));
        }
        if self.bold == Bold::AboveBaseline && self.baseline.is_none() {
            out.push((
                "bold".into(),
                "`above_baseline` needs a `baseline` row".into(),
                Some("none, best".into()),
            ));
        }
        out
    }
}

/// A value transcribed from a paper: a number in the paper's units, or text as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefValue {
    Number(f64),
    Text(String),
}

/// The paper's numbers for one table: row key → column key → value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TableReference {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub rows: BTreeMap<String, BTreeMap<String, RefValue>>,
    /// What the paper's text says of this table, with the number it states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_claims: Vec<TextClaim>,
}

/// A sentence of the paper's text with the number it states, set against what the paper's own
/// cells give: the mean of some cells, or the difference of two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextClaim {
    /// The words, as printed.
    pub quote: String,
    /// Where they are (section, page).
    #[serde(default)]
    pub place: Option<String>,
    /// The number the sentence states, in the units the cells are printed in.
    pub stated: f64,
    /// How far the cells may be from `stated` and still agree (default: 5% of |stated|).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// The mean over these rows × columns.
    #[serde(default)]
    pub mean_of: Option<CellSet>,
    /// row − than in one column.
    #[serde(default)]
    pub difference: Option<CellPair>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellSet {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellPair {
    pub row: String,
    pub than: String,
    pub column: String,
}

/// The reference file: the paper's numbers, transcribed; one table's (`rows:`) or several,
/// keyed by table name (`tables:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReferenceFile {
    /// Where the numbers come from (paper, table, dataset, detector).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rows: BTreeMap<String, BTreeMap<String, RefValue>>,
    /// The text's claims about the table of a one-table file (`rows:` at the top).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_claims: Vec<TextClaim>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, TableReference>,
}

impl ReferenceFile {
    /// The numbers of table `name` (the file's top-level rows serve a table it does not name).
    pub fn table(&self, name: &str) -> Option<TableReference> {
        if let Some(t) = self.tables.get(name) {
            return Some(TableReference {
                source: t.source.clone().or_else(|| self.source.clone()),
                rows: t.rows.clone(),
                text_claims: t.text_claims.clone(),
            });
        }
        (!self.rows.is_empty()).then(|| TableReference {
            source: self.source.clone(),
            rows: self.rows.clone(),
            text_claims: self.text_claims.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_with_perturbations() {
        assert!(is_metric("AP"));
        assert!(is_metric("AP50@black_patch"));
        assert!(!is_metric("AP50@snow"));
        assert!(!is_metric("mAP"));
    }

    #[test]
    fn scalars_compare_numbers_by_value_and_label_them_shortly() {
        let one = Scalar(serde_json::json!(1));
        assert!(one.matches(&serde_json::json!(1.0)));
        assert!(!one.matches(&serde_json::json!("1")));
        assert_eq!(Scalar::text_of(&serde_json::json!(0.25)), "0.25");
        assert_eq!(Scalar::text_of(&serde_json::json!(2.0)), "2");
        let axis = AxisSpec {
            axis: "x".into(),
            labels: Labels(vec![(Scalar(serde_json::json!("l1")), "L1".into())]),
            format: Some("C = {}".into()),
        };
        assert_eq!(axis.label(&serde_json::json!("l1")), "L1");
        assert_eq!(axis.label(&serde_json::json!(20)), "C = 20");
        assert_eq!(axis.rank(&serde_json::json!("l1")), 0);
        assert_eq!(axis.rank(&serde_json::json!("ciou")), 1);
    }

    #[test]
    fn reference_file_serves_tables_by_name_or_its_top_level_rows() {
        let mut f = ReferenceFile {
            source: Some("paper".into()),
            ..Default::default()
        };
        assert_eq!(f.table("t1"), None);
        f.rows.insert("a".into(), BTreeMap::new());
        assert_eq!(f.table("t1").unwrap().source.as_deref(), Some("paper"));
        f.tables.insert(
            "t2".into(),
            TableReference {
                source: Some("Table 2".into()),
                rows: BTreeMap::new(),
                text_claims: Vec::new(),
            },
        );
        assert_eq!(f.table("t2").unwrap().source.as_deref(), Some("Table 2"));
    }
}
