//! The training objective of one job: from a batch's head outputs and targets to the loss terms
//! (classification, regression, center-ness, and UGS's parts), built from the loss registry.
//!
//! `total = λ_cls · L_cls + λ_reg · L_reg + L_ctr`; the weights come from
//! [`super::alwa::Weighting`] (fixed or ALWA). Each term has a value to back-propagate and a
//! value to log: they differ only for the ranking losses (a surrogate vs 1 − AP or 1 − AUC).
//! The logged `total` is made of the logged values.
//!
//! Regression: a plain loss compares the positives' predictions in its space; UGS
//! ([`losses::ugs`]) reads the distribution logits, adds `λ·L_UM`, and for `γ > 0` perturbs the
//! FPN levels along `∇L_UM` and re-runs the head's regression branch for `γ·L^ur`. With the
//! harmonic coupling ([`losses::harmonic`]) each positive's classification cross-entropy and
//! regression loss are coupled after both are known.
//!
//! Normalisation ([`Normalise`]): the tiny detectors and torchvision's FCOS divide each sum by
//! the batch's positives; torchvision's RetinaNet divides per image by that image's positives
//! and averages over the images (its regression always, its classification with the per-anchor
//! losses focal and CE + OHEM; a ranking loss sees the whole batch at once).

use super::layout::Layout;
use super::losses::harmonic::Harmonic;
use super::losses::{self, reduce, ClsBatch, ClsLoss, Reg, Score, Space};
use super::model::{Detector, HeadOutput};
use super::priors::Targets;
use crate::spec::config::{ClsLossSpec, CouplingSpec, DetectorSpec, JobConfig};
use tch::{Kind, Reduction, Tensor};

/// The `curves.csv` column of [`Terms::harmonic_neg`].
pub const HARMONIC_NEG_COLUMN: &str = "harmonic_neg_multiplier";

/// The losses of one job.
#[derive(Debug)]
pub struct Objective {
    cls: Box<dyn ClsLoss>,
    reg: Reg,
    harmonic: Option<Harmonic>,
    normalise: Normalise,
}

/// Which sums are divided per image (by the image's positives, then averaged over the images)
/// rather than by the batch's positives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Normalise {
    /// The classification loss (and the harmonic coupling's classification part).
    pub cls_per_image: bool,
    /// The regression loss (and UGS's parts).
    pub reg_per_image: bool,
}

impl Normalise {
    /// torchvision's RetinaNet with a per-anchor classification loss.
    pub const PER_IMAGE: Normalise = Normalise {
        cls_per_image: true,
        reg_per_image: true,
    };

    /// The detector's own rule: per image for torchvision's RetinaNet (its classification only
    /// with the per-anchor losses), per batch otherwise.
    pub fn of(cfg: &JobConfig) -> Normalise {
        let retina = matches!(cfg.model.detector, DetectorSpec::TorchvisionRetinanet(_));
        let per_anchor = matches!(
            cfg.loss.cls,
            ClsLossSpec::Focal { .. } | ClsLossSpec::CeOhem { .. }
        );
        Normalise {
            cls_per_image: retina && per_anchor,
            reg_per_image: retina,
        }
    }
}

/// Each positive's share of a per-image or per-batch mean: `1/(B·max(1, P_b))` for a positive of
/// image `b`, or `1/max(1, P)`.
fn positive_shares(t: &Targets, images: i64, per_image: bool) -> Tensor {
    let kind = t.weight.kind();
    if !per_image {
        return t.weight.ones_like() / t.num_pos.max(1) as f64;
    }
    let n = t.labels.size()[0] / images.max(1);
    let image = t.pos.divide_scalar_mode(n, "floor");
    let counts = image
        .bincount::<Tensor>(None, images)
        .to_kind(kind)
        .clamp_min(1.0);
    (counts.index_select(0, &image) * images as f64).reciprocal()
}

/// The FPN levels a head ran on and its regression branch alone (distribution logits
/// `[B, N, 4, n + 1]`): UGS's refinement step re-runs the branch on perturbed levels.
pub struct RegBranch<'a> {
    pub levels: &'a [Tensor],
    pub reg_logits: &'a dyn Fn(&[Tensor]) -> Tensor,
}

/// The terms of one batch. `cls_backprop` is what the classification part back-propagates;
/// every other tensor is both back-propagated and logged.
#[derive(Debug)]
pub struct Terms {
    pub cls_backprop: Tensor,
    /// Logged classification value (detached).
    pub cls: Tensor,
    pub reg: Tensor,
    pub ctr: Option<Tensor>,
    /// UGS: the reduced `L_CE`, `L_UM`, `L^ur` (unweighted), for the logs.
    pub ugs: Option<[Tensor; 3]>,
    /// Harmonic coupling: the fraction of positives whose regression multiplier
    /// `1 + p + e^(−ℓ)·ln p` is negative (detached; 0 without positives), for the logs.
    pub harmonic_neg: Option<Tensor>,
}

impl Objective {
    pub fn new(cfg: &JobConfig) -> Objective {
        // RetinaNet regresses signed deltas, FCOS non-negative distances.
        let signed = matches!(
            cfg.model.detector,
            DetectorSpec::Retinanet { .. } | DetectorSpec::TorchvisionRetinanet(_)
        );
        Objective {
            cls: losses::build(&cfg.loss.cls),
            reg: losses::build_reg(&cfg.loss.reg, signed),
            harmonic: cfg.loss.coupling.as_ref().map(|c| match c {
                CouplingSpec::Harmonic { detach, .. } => Harmonic { detach: *detach },
            }),
            normalise: Normalise::of(cfg),
        }
    }

    /// An objective of given parts (tests against a reference's own losses).
    pub fn of_parts(
        cls: Box<dyn ClsLoss>,
        reg: Reg,
        harmonic: Option<Harmonic>,
        normalise: Normalise,
    ) -> Objective {
        Objective {
            cls,
            reg,
            harmonic,
            normalise,
        }
    }

    /// The grid of a distribution head, if the regression loss needs one.
    pub fn grid(&self) -> Option<&[f64]> {
        match &self.reg {
            Reg::Ugs(u) => Some(&u.grid.points),
            Reg::Plain(_) => None,
        }
    }

    pub fn score(&self) -> Score {
        self.cls.score()
    }

    /// Names of the logged terms after "total, cls, reg" (and "ctr" when `centerness`), in the
    /// order [`Terms::logged_extras`] gives them.
    pub fn extra_names(&self) -> Vec<&'static str> {
        let mut v = match self.reg {
            Reg::Ugs(_) => vec!["ugs_ce", "ugs_um", "ugs_ur"],
            Reg::Plain(_) => vec![],
        };
        if self.harmonic.is_some() {
            v.push(HARMONIC_NEG_COLUMN);
        }
        v
    }

    /// The terms of a batch of `images` already assigned (`t`).
    pub fn terms(&self, model: &Detector, layout: &Layout, images: &Tensor, t: &Targets) -> Terms {
        let feats = model.features(images);
        let out = model.head.forward(&feats);
        let rerun = |moved: &[Tensor]| model.head.reg_logits(moved);
        let branch = RegBranch {
            levels: &feats,
            reg_logits: &rerun,
        };
        self.terms_of(&out, &|p, pr| layout.decode(p, pr), t, Some(branch))
    }

    /// The terms of head outputs `out` whose regression `decode(pred [P, 4], priors [P, 4])`
    /// turns into boxes; `branch` is needed only by UGS (a distribution head).
    pub fn terms_of(
        &self,
        out: &HeadOutput,
        decode: &dyn Fn(&Tensor, &Tensor) -> Tensor,
        t: &Targets,
        branch: Option<RegBranch>,
    ) -> Terms {
        let (b, classes) = (out.cls.size()[0], out.cls.size()[2]);
        let logits = out.cls.reshape([-1, classes]);
        let num_pos = t.num_pos.max(1) as f64;
        let cls = if self.normalise.cls_per_image {
            self.cls_per_image(out, t)
        } else {
            self.cls.loss(&ClsBatch {
                logits: &logits,
                labels: &t.labels,
                num_pos,
                images: b,
            })
        };
        let norm = self.normalise;
        // The regression's weights: each positive's share of the mean, times its own weight.
        let (reg_weight, reg_weight_sum) = if norm.reg_per_image {
            (&t.weight * positive_shares(t, b, true), 1.0)
        } else {
            (t.weight.shallow_clone(), t.weight_sum)
        };
        let mut ugs_parts = None;
        let mut per_box = match &self.reg {
            Reg::Plain(loss) => {
                let pred = out.reg.view([-1, 4]).index_select(0, &t.pos);
                match loss.space() {
                    Space::Encoded => loss.per_box(&pred, &t.encoded),
                    Space::Boxes => loss.per_box(&decode(&pred, &t.priors), &t.boxes),
                }
            }
            Reg::Ugs(u) => {
                let bins = u.grid.bins();
                let at = |l: &Tensor| l.view([-1, 4, bins]).index_select(0, &t.pos);
                let dist = out.reg_logits.as_ref().expect("a distribution head");
                let terms = u.terms(&at(dist), &t.encoded);
                let um = reduce(&terms.um, &reg_weight, reg_weight_sum);
                let (s, kind) = (&u.spec, terms.ce.kind());
                let ur = if s.gamma > 0.0 {
                    let branch = branch.expect("UGS runs on a head with a regression branch");
                    let feats = branch.levels;
                    let scope = s.ur_scope.unwrap_or_default();
                    let eps = losses::ugs::perturbation(feats, &um, s.rho, scope);
                    let moved: Vec<Tensor> = feats.iter().zip(&eps).map(|(p, e)| p + e).collect();
                    let perturbed = u.terms(&at(&(branch.reg_logits)(&moved)), &t.encoded);
                    u.refinement(&perturbed)
                } else {
                    terms.ce.zeros_like()
                };
                let per_box = &terms.ce + &terms.um * s.lambda + &ur * s.gamma;
                let r = |x: &Tensor| reduce(x, &reg_weight, reg_weight_sum).detach();
                ugs_parts = Some([r(&terms.ce), um.detach().to_kind(kind), r(&ur)]);
                per_box
            }
        };
        let (mut cls_backprop, mut cls_value) = (cls.backprop, cls.value);
        let mut harmonic_neg = None;
        if let Some(h) = &self.harmonic {
            let pos_logits = logits.index_select(0, &t.pos);
            let class = t.labels.index_select(0, &t.pos) - 1;
            let ce = self.cls.score().positive_ce(&pos_logits, &class);
            harmonic_neg = Some(Harmonic::negative_fraction(&ce, &per_box));
            let coupled = h.couple(&ce, &per_box);
            let shares = positive_shares(t, b, norm.cls_per_image).to_kind(ce.kind());
            let extra = (coupled.cls_extra * shares).sum(ce.kind());
            // Not `+=` (in place): for a loss that is a function, `cls_value` is
            // `cls_backprop.detach()`, which shares its storage, so the add would reach both.
            cls_value = cls_value.g_add(&extra.detach());
            cls_backprop = cls_backprop.g_add(&extra);
            per_box = coupled.reg_per_box;
        }
        let reg = reduce(&per_box, &reg_weight, reg_weight_sum);
        let ctr = match (&out.ctr, &t.centerness) {
            (Some(ctr), Some(target)) => {
                let logits = ctr.view([-1]).index_select(0, &t.pos);
                let bce = logits.binary_cross_entropy_with_logits::<Tensor>(
                    target,
                    None,
                    None,
                    Reduction::Sum,
                );
                Some(bce / num_pos)
            }
            _ => None,
        };
        Terms {
            cls_backprop,
            cls: cls_value,
            reg,
            ctr,
            ugs: ugs_parts,
            harmonic_neg,
        }
    }
}

impl Objective {
    /// The classification loss of each image divided by its positives, averaged over the
    /// images (torchvision's RetinaNet).
    fn cls_per_image(&self, out: &HeadOutput, t: &Targets) -> losses::ClsOut {
        let (b, n) = (out.cls.size()[0], out.cls.size()[1]);
        let labels = t.labels.view([b, n]);
        let fg = Vec::<i64>::try_from(labels.gt(0).sum_dim_intlist(1, false, Kind::Int64))
            .expect("positives per image");
        let per: Vec<_> = (0..b)
            .map(|i| {
                self.cls.loss(&ClsBatch {
                    logits: &out.cls.get(i),
                    labels: &labels.get(i),
                    num_pos: fg[i as usize].max(1) as f64,
                    images: 1,
                })
            })
            .collect();
        let kind = out.cls.kind();
        let mean = |v: Vec<&Tensor>| Tensor::stack(&v, 0).sum(kind) / b.max(1) as f64;
        losses::ClsOut {
            backprop: mean(per.iter().map(|o| &o.backprop).collect()),
            value: mean(per.iter().map(|o| &o.value).collect()),
        }
    }
}

impl Terms {
    /// The logged values after "total, cls, reg, ctr", in the order of
    /// [`Objective::extra_names`].
    pub fn logged_extras(&self) -> Vec<Tensor> {
        let mut v: Vec<Tensor> = self.ugs.iter().flatten().map(|t| t.detach()).collect();
        v.extend(self.harmonic_neg.iter().map(|t| t.detach()));
        v
    }
}

#[cfg(test)]
#[path = "objective_tests.rs"]
mod tests;
