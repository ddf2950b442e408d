//! pycocotools' `summarize`: the 12 numbers, their text form and their JSON form.

use serde::{Deserialize, Serialize};

use super::{CocoResult, AREA_LABELS, MAX_DETS};
use crate::eval::numeric::mean_defined;

/// The 12 COCO summary values, -1 where undefined (nothing to average: no ground truth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CocoSummary {
    /// AP at IoU .50:.05:.95, all areas, 100 detections (the COCO metric).
    #[serde(rename = "AP")]
    pub ap: f64,
    /// AP at IoU .50.
    #[serde(rename = "AP50")]
    pub ap50: f64,
    /// AP at IoU .75.
    #[serde(rename = "AP75")]
    pub ap75: f64,
    /// AP for small objects (area <= 32²).
    #[serde(rename = "APs")]
    pub aps: f64,
    /// AP for medium objects (32² to 96²).
    #[serde(rename = "APm")]
    pub apm: f64,
    /// AP for large objects (area >= 96²).
    #[serde(rename = "APl")]
    pub apl: f64,
    /// AR with 1 detection per image and category.
    #[serde(rename = "AR1")]
    pub ar1: f64,
    /// AR with 10 detections.
    #[serde(rename = "AR10")]
    pub ar10: f64,
    /// AR with 100 detections.
    #[serde(rename = "AR100")]
    pub ar100: f64,
    /// AR for small objects.
    #[serde(rename = "ARs")]
    pub ars: f64,
    /// AR for medium objects.
    #[serde(rename = "ARm")]
    pub arm: f64,
    /// AR for large objects.
    #[serde(rename = "ARl")]
    pub arl: f64,
}

/// (AP or AR, IoU threshold or all, area index, maxDets index) for each of the 12 values, the
/// order of pycocotools' `_summarizeDets`.
const SPECS: [(bool, Option<f64>, usize, usize); 12] = [
    (true, None, 0, 2),
    (true, Some(0.5), 0, 2),
    (true, Some(0.75), 0, 2),
    (true, None, 1, 2),
    (true, None, 2, 2),
    (true, None, 3, 2),
    (false, None, 0, 0),
    (false, None, 0, 1),
    (false, None, 0, 2),
    (false, None, 1, 2),
    (false, None, 2, 2),
    (false, None, 3, 2),
];

impl CocoSummary {
    /// The JSON keys, in pycocotools' `stats` order.
    pub const NAMES: [&'static str; 12] = [
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    ];

    /// The value named as in [`CocoSummary::NAMES`].
    pub fn get(&self, name: &str) -> Option<f64> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| self.values()[i])
    }

    /// The values in pycocotools' `stats` order.
    pub fn values(&self) -> [f64; 12] {
        [
            self.ap, self.ap50, self.ap75, self.aps, self.apm, self.apl, self.ar1, self.ar10,
            self.ar100, self.ars, self.arm, self.arl,
        ]
    }

    /// The inverse of [`CocoSummary::values`].
    pub fn from_values(v: [f64; 12]) -> CocoSummary {
        let [ap, ap50, ap75, aps, apm, apl, ar1, ar10, ar100, ars, arm, arl] = v;
        CocoSummary {
            ap,
            ap50,
            ap75,
            aps,
            apm,
            apl,
            ar1,
            ar10,
            ar100,
            ars,
            arm,
            arl,
        }
    }

    /// `summarize`: means over the selected entries > -1, in numpy's C order (t, r, k for
    /// precision; t, k for recall) with numpy's pairwise sum.
    pub(super) fn from_result(res: &CocoResult) -> CocoSummary {
        let [t_n, r_n, k_n, _, _] = res.precision_shape;
        let values = SPECS.map(|(is_ap, iou, a, m)| {
            // pycocotools selects a threshold with `np.where(iouThr == p.iouThrs)`: an exact
            // float comparison, nothing (and so -1) if absent.
            let ts: Vec<usize> = match iou {
                None => (0..t_n).collect(),
                Some(x) => res
                    .iou_thresholds
                    .iter()
                    .position(|&v| v == x)
                    .into_iter()
                    .collect(),
            };
            if is_ap {
                let it = ts
                    .iter()
                    .flat_map(|&t| (0..r_n).flat_map(move |r| (0..k_n).map(move |k| (t, r, k))));
                mean_defined(it.map(|(t, r, k)| res.precision_at(t, r, k, a, m)))
            } else {
                let it = ts.iter().flat_map(|&t| (0..k_n).map(move |k| (t, k)));
                mean_defined(it.map(|(t, k)| res.recall_at(t, k, a, m)))
            }
        });
        CocoSummary::from_values(values)
    }

    /// The 12 lines pycocotools prints, without a trailing newline.
    pub fn to_text(&self) -> String {
        let lines: Vec<String> = SPECS
            .iter()
            .zip(self.values())
            .map(|(&(is_ap, iou, a, m), v)| {
                let (title, kind) =
                    if is_ap { ("Average Precision", "(AP)") } else { ("Average Recall", "(AR)") };
                let iou = match iou {
                    None => "0.50:0.95".to_string(),
                    Some(x) => format!("{x:.2}"),
                };
                let (area, max_det) = (AREA_LABELS[a], MAX_DETS[m]);
                format!(
                    " {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6} | maxDets={max_det:>3} ] = {v:.3}"
                )
            })
            .collect();
        lines.join("\n")
    }

    /// One JSON object whose keys are [`CocoSummary::NAMES`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a struct of floats always serializes")
    }
}
