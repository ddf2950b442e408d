//! `loss:`: the classification and regression losses, their coupling, and the task weights
//! (fixed or ALWA).

use serde::{Deserialize, Serialize};

#[allow(unused_imports)]
use super::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LossSpec {
    pub cls: ClsLossSpec,
    pub reg: RegLossSpec,
    pub weights: WeightsSpec,
    /// A joint term coupling classification and regression (absent: none). Absent from the
    /// serialized config (and the job id) when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupling: Option<CouplingSpec>,
    /// A two-stage detector's RPN (`torchvision_faster_rcnn` only): its regression loss and
    /// task weights (`loss.cls`, `loss.reg`, `loss.weights` are then the box head's). Always
    /// filled for that detector (`reg` defaults to `loss.reg`), so its job ids include it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpn: Option<RpnLossSpec>,
}

/// The RPN's losses: binary cross-entropy objectness (fixed, torchvision's) and `reg`, weighted
/// by `weights` (fixed or ALWA, as `loss.weights`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpnLossSpec {
    pub reg: RegLossSpec,
    pub weights: WeightsSpec,
}

impl Default for RpnLossSpec {
    /// torchvision's: smooth L1 with β = 1/9, weights 1:1.
    fn default() -> Self {
        RpnLossSpec {
            reg: RegLossSpec::SmoothL1 {
                beta: defaults::smooth_l1_beta(),
            },
            weights: WeightsSpec::default(),
        }
    }
}

/// Classification losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClsLossSpec {
    /// Softmax cross-entropy over the background and the classes, averaged over every sampled
    /// entry (torchvision's `fastrcnn_loss`; the box head of `torchvision_faster_rcnn`).
    Softmax,
    /// Sigmoid focal loss (Lin et al.), normalised by the number of positives.
    Focal {
        #[serde(default = "defaults::focal_alpha")]
        alpha: f64,
        #[serde(default = "defaults::focal_gamma")]
        gamma: f64,
    },
    /// Softmax cross-entropy with online hard example mining (SSD's hard negative mining):
    /// per image, all positives and the `neg_pos_ratio × positives` negatives of highest loss.
    CeOhem {
        #[serde(default = "defaults::neg_pos_ratio")]
        neg_pos_ratio: f64,
    },
    /// AUC-loss (AP-loss paper, Eq. 7): the error-driven ranking update with `H(x)/|N|`.
    Auc {
        /// Half-width of the piecewise step function (Eq. 21).
        #[serde(default = "defaults::ranking_delta")]
        delta: f64,
        /// Rank the whole batch together (else per image, averaged).
        #[serde(default = "defaults::yes")]
        minibatch: bool,
    },
    /// AP-loss (Chen et al., AP-loss paper, Section 3 and Algorithm 1).
    Ap {
        /// Half-width of the piecewise step function (Eq. 21).
        #[serde(default = "defaults::ranking_delta")]
        delta: f64,
        /// Interpolated AP (Section 3.4.3).
        #[serde(default = "defaults::yes")]
        interpolate: bool,
        /// Rank the whole batch together (Section 3.4.1; else per image, averaged).
        #[serde(default = "defaults::yes")]
        minibatch: bool,
    },
}

/// Joint classification–regression terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CouplingSpec {
    /// Harmonic loss (Wang & Zhang, supplementary Eq. 1): per positive
    /// `(1 + β_r)·CE + (1 + β_c)·L_reg`, `β_r = e^(−L_reg)`, `β_c = e^(−CE)`.
    Harmonic {
        /// Stop the gradient through β_r and β_c (the paper differentiates through them).
        #[serde(default)]
        detach: bool,
        /// Which classification loss carries the "1 · CE" part. Absent from the serialized
        /// config (and the job id) when `focal`, the composition older jobs ran.
        #[serde(default, skip_serializing_if = "HarmonicCls::is_focal")]
        cls: HarmonicCls,
    },
}

/// How the harmonic coupling composes with the classification loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HarmonicCls {
    /// Focal loss over every sample, plus `β_r·CE` (sigmoid CE) on the positives.
    #[default]
    Focal,
    /// The paper's: softmax cross-entropy (`loss.cls: ce_ohem`), so each positive's
    /// classification term is `(1 + β_r)·CE` (the mined negatives keep plain CE).
    Paper,
}

impl HarmonicCls {
    pub fn is_focal(&self) -> bool {
        *self == HarmonicCls::Focal
    }
}

impl Default for ClsLossSpec {
    fn default() -> Self {
        ClsLossSpec::Focal {
            alpha: defaults::focal_alpha(),
            gamma: defaults::focal_gamma(),
        }
    }
}

/// Localization losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegLossSpec {
    /// |d| on the encoded targets.
    L1,
    /// Huber-style: 0.5 d²/β below β, |d| − 0.5 β above.
    SmoothL1 {
        #[serde(default = "defaults::smooth_l1_beta")]
        beta: f64,
    },
    /// d² on the encoded targets, or on box-coder targets (`normalize`).
    L2 {
        /// Absent from the serialized config (and the job id) when `encoded`.
        #[serde(default, skip_serializing_if = "L2Normalize::is_encoded")]
        normalize: L2Normalize,
    },
    /// IoU loss on decoded boxes: `−ln IoU` (UnitBox) or `1 − IoU`.
    Iou {
        #[serde(default)]
        form: IouForm,
    },
    /// 1 − GIoU on decoded boxes.
    #[default]
    Giou,
    /// DIoU loss on decoded boxes: `1 − IoU + ρ²/c²`.
    Diou,
    /// CIoU loss on decoded boxes: DIoU + `α·v` (aspect-ratio term).
    Ciou,
    /// Harmonic IoU loss (Harmonic loss supplementary Eq. 11): `(1 + IoU)^γ (1 − IoU)`,
    /// `0 < γ ≤ 1`.
    Hiou {
        #[serde(default = "defaults::hiou_gamma")]
        gamma: f64,
    },
    /// Uncertainty-guided gradient stabilization (UGS summary): classification-based
    /// localization with optional interval non-uniform labels, uncertainty minimization (λ)
    /// and uncertainty-guided refinement (γ, ρ).
    Ugs(UgsSpec),
}

impl RegLossSpec {
    /// L2 on the detector's encoded targets.
    pub fn l2() -> RegLossSpec {
        RegLossSpec::L2 {
            normalize: L2Normalize::Encoded,
        }
    }
}

/// What the L2 loss compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum L2Normalize {
    /// The detector's encoded targets (FCOS: ltrb / stride, up to 8 at P3; RetinaNet: its
    /// anchor deltas, already a box coder's).
    #[default]
    Encoded,
    /// A box coder's targets (UGS supplementary Eq. 1 and 5): the centre offset divided by the
    /// anchor's side and the log of the size over the anchor's (FCOS only: the location's
    /// anchor is a square of 4 strides; see `trainer::losses::l2`).
    BoxCoder,
}

impl L2Normalize {
    pub fn is_encoded(&self) -> bool {
        *self == L2Normalize::Encoded
    }
}

/// The form of the plain IoU loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IouForm {
    /// `−ln IoU` (UnitBox; the IoU clamped at 1e-6 so disjoint boxes stay finite).
    #[default]
    Log,
    /// `1 − IoU`.
    Linear,
}

/// What the UGS refinement term `L^ur` measures at the perturbed features (the summary does not
/// define it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UrLoss {
    /// The classification-based localization loss `L_CE` (two-hot cross-entropy).
    #[default]
    Ce,
    /// `L_CE + λ·L_UM`, the whole localization objective.
    CeUm,
    /// `L_UM` alone: the literal min-max of the entropy.
    Um,
}

/// Over what UR's perturbation is normalised to norm ρ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UrScope {
    /// Each image's slice of each FPN level (`[C, H, W]`) has norm ρ.
    #[default]
    Image,
    /// Each FPN level's whole batch tensor (`[B, C, H, W]`) has norm ρ, so each image's share
    /// shrinks with the batch and the level's size.
    Level,
}

/// UGS hyperparameters. α, β and n are not given by the paper ("require manual tuning").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UgsSpec {
    /// Bins per box side (the distribution has n + 1 grid points).
    pub n: u32,
    /// Half-width of the target range [−α, α] (in strides).
    pub alpha: f64,
    /// Non-uniformity of the IN grid: larger packs points denser near zero.
    pub beta: f64,
    /// Interval non-uniform labels on (else a uniform grid).
    pub in_labels: bool,
    /// Weight of the uncertainty-minimization (entropy) term; 0 turns it off.
    pub lambda: f64,
    /// Weight of the uncertainty-guided refinement term; 0 turns it off.
    pub gamma: f64,
    /// Radius of the feature perturbation of the refinement step.
    pub rho: f64,
    /// What `L^ur` is at the perturbed features.
    pub ur_loss: UrLoss,
    /// Normalisation scope of UR's perturbation. Only UR (γ > 0) reads it: the spec sets it
    /// (default `image`) when γ > 0 and drops it when γ = 0, so jobs without UR keep their ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ur_scope: Option<UrScope>,
}

impl Default for UgsSpec {
    fn default() -> Self {
        UgsSpec {
            n: 16,
            alpha: 8.0,
            beta: 0.5,
            in_labels: false,
            lambda: 0.0,
            gamma: 0.0,
            rho: 0.5,
            ur_loss: UrLoss::Ce,
            ur_scope: None,
        }
    }
}

/// Task weights: `loss = cls · L_cls + reg · L_reg` (+ the center-ness term for FCOS); with
/// `adapt`, `cls` and `reg` are the initial weights and the rule changes them while training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsSpec {
    pub cls: f64,
    pub reg: f64,
    /// Adaptive weighting (absent: fixed weights). Absent from the serialized config (and the
    /// job id) when not set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapt: Option<AdaptSpec>,
}

impl Default for WeightsSpec {
    fn default() -> Self {
        WeightsSpec {
            cls: 1.0,
            reg: 1.0,
            adapt: None,
        }
    }
}

/// Rules that change the task weights while training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdaptSpec {
    /// Adaptive Loss Weight Adjustment (ALWA paper, Algorithm 1).
    Alwa {
        /// 1: standard = mean + std of the window (ALWA_1); 2: std only (ALWA_2).
        #[serde(default = "defaults::alwa_variant")]
        variant: u8,
        /// C: iterations per window.
        #[serde(default = "defaults::alwa_window")]
        window: u64,
        /// Which losses the window records.
        #[serde(default)]
        record: AlwaRecord,
        /// Divisor of the window's standard deviation.
        #[serde(default)]
        std: StdKind,
    },
}

/// The losses ALWA records per iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlwaRecord {
    /// `λ·L`, as Algorithm 1 lines 6–7 say.
    #[default]
    Weighted,
    /// `L` before weighting.
    Raw,
}

/// Standard deviation divisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StdKind {
    /// `n − 1` (Bessel's correction).
    #[default]
    Sample,
    /// `n`.
    Population,
}
