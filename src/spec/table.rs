//! The `table:` section of a spec: how `sweep table` lays out the results (the report module
//! renders it; this is only its schema).

use serde::{Deserialize, Serialize};

/// The metrics a table may show, as the evaluator names them.
pub const METRICS: [&str; 12] = crate::eval::CocoSummary::NAMES;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Heading of the table, e.g. the paper's table name.
    #[serde(default)]
    pub title: Option<String>,
    /// Caption under the table; the scale that ran and the seeds are appended to it.
    #[serde(default)]
    pub caption: Option<String>,
    /// Header of the row-label column.
    #[serde(default = "default_row_header")]
    pub row_header: String,
    /// Metric columns, in order.
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    /// The paper's own numbers: a YAML file beside the spec (path relative to the spec).
    #[serde(default)]
    pub reference: Option<String>,
    /// Show metrics ×100 (papers print 37.4, not 0.374).
    #[serde(default = "default_percent")]
    pub percent: bool,
    #[serde(default = "default_decimals")]
    pub decimals: usize,
}

fn default_row_header() -> String {
    "Configuration".into()
}

fn default_columns() -> Vec<String> {
    vec!["AP".into(), "AP50".into(), "AP75".into()]
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
            title: None,
            caption: None,
            row_header: default_row_header(),
            columns: default_columns(),
            reference: None,
            percent: default_percent(),
            decimals: default_decimals(),
        }
    }
}

/// The reference file: the paper's numbers, transcribed, per row label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceFile {
    /// Where the numbers come from (paper, table, dataset, detector).
    pub source: String,
    /// Row label → metric → value, in the paper's own units (as printed).
    pub rows: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
}
