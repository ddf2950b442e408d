//! SSD's training losses as torchvision's `SSD.compute_loss` computes them, over the batch:
//!
//! - regression: the loss of each foreground default box's deltas against its matched box
//!   encoded with weights (10, 10, 5, 5), summed over the batch and divided by
//!   `N = max(1, foreground boxes in the batch)`; torchvision's is smooth L1 (β = 1), the
//!   registry's `smooth_l1` with its default β, but any registry regression loss can stand in;
//! - classification, torchvision's ([`SsdCls::Torchvision`]): softmax cross-entropy of every
//!   default box (column 0 background), with hard negative mining: per image the background
//!   boxes are sorted by their loss (highest first) and the first `ratio · P_b` of them kept
//!   (`P_b` the image's foreground boxes; when `ratio · P_b` exceeds the background boxes,
//!   torchvision's rank test also admits foreground boxes, counted twice, and so does this);
//!   `(Σ_fg CE + Σ_mined CE) / N`;
//! - or a registry loss ([`SsdCls::Registry`]: focal, CE + OHEM, AUC-, AP-loss) on the
//!   [`super::ssd::registry_logits`] of the whole batch, with `N` positives. The registry's
//!   `ce_ohem` at ratio 3 coincides with torchvision's up to that double count (it takes at most
//!   all the background boxes, and `⌊ratio · P_b⌋` of them where torchvision takes
//!   `⌈ratio · P_b⌉` for a fractional ratio).

use super::retinanet::{Forward, Target};
use super::ssd::{registry_logits, Ssd};
use super::Losses;
use crate::trainer::losses::{ClsBatch, ClsLoss, RegLoss, Space};
use tch::{Kind, Tensor};

/// The classification loss of an SSD.
#[derive(Debug, Clone, Copy)]
pub enum SsdCls<'a> {
    /// torchvision's cross-entropy with hard negative mining at `neg_to_pos_ratio`.
    Torchvision {
        neg_to_pos_ratio: f64,
    },
    Registry(&'a dyn ClsLoss),
}

/// torchvision's classification loss: `logits [B, A, K]`, `targets [B, A]` (0 background).
pub fn hard_negative_ce(logits: &Tensor, targets: &Tensor, ratio: f64, n: f64) -> Tensor {
    let k = logits.size()[2];
    let ce = logits
        .reshape([-1, k])
        .log_softmax(1, logits.kind())
        .gather(1, &targets.reshape([-1, 1]), false)
        .neg()
        .view_as(targets);
    let fg = targets.gt(0);
    let mined = tch::no_grad(|| {
        let num_negative = fg
            .sum_dim_intlist(1, true, Kind::Int64)
            .to_kind(Kind::Float)
            * ratio;
        let negative = ce.detach().masked_fill(&fg, f64::NEG_INFINITY);
        let (_, idx) = negative.sort(1, true);
        let (_, rank) = idx.sort(1, false);
        rank.to_kind(Kind::Float).lt_tensor(&num_negative)
    });
    (ce.masked_select(&fg).sum(ce.kind()) + ce.masked_select(&mined).sum(ce.kind())) / n
}

impl Ssd {
    /// The matched box of every default box of every image (`[A]` each, −1 background).
    pub fn matches(&self, anchors: &Tensor, targets: &[Target]) -> Vec<Tensor> {
        targets
            .iter()
            .map(|t| self.match_image(anchors, t))
            .collect()
    }

    /// The losses of a batch against `targets` (one per image).
    pub fn losses(
        &self,
        out: &Forward,
        anchors: &Tensor,
        targets: &[Target],
        cls_loss: SsdCls,
        reg_loss: &dyn RegLoss,
    ) -> Losses {
        let (cls, reg) = out.concat();
        let matched = self.matches(anchors, targets);
        let mut cls_targets = Vec::with_capacity(targets.len());
        let mut reg_terms = vec![reg.sum(reg.kind()) * 0.0];
        let mut num_fg = 0i64;
        for (i, (t, m)) in targets.iter().zip(&matched).enumerate() {
            let pos = m.ge(0).nonzero().squeeze_dim(1);
            let mut y = Tensor::zeros_like(m);
            num_fg += pos.size()[0];
            if pos.numel() > 0 {
                let gt_idx = m.index_select(0, &pos);
                let pred = reg.get(i as i64).index_select(0, &pos);
                let a = anchors.index_select(0, &pos);
                let gt = t.boxes.index_select(0, &gt_idx);
                reg_terms.push(
                    match reg_loss.space() {
                        Space::Encoded => reg_loss.per_box(&pred, &self.coder.encode(&gt, &a)),
                        Space::Boxes => reg_loss.per_box(&self.coder.decode(&pred, &a), &gt),
                    }
                    .sum(reg.kind()),
                );
                let labels = t.labels.index_select(0, &gt_idx) + 1;
                let _ = y.index_put_(&[Some(pos)], &labels, false);
            }
            cls_targets.push(y);
        }
        let n = num_fg.max(1) as f64;
        let y = Tensor::stack(&cls_targets, 0);
        let (cls_backprop, cls_value) = match cls_loss {
            SsdCls::Torchvision { neg_to_pos_ratio } => {
                let l = hard_negative_ce(&cls, &y, neg_to_pos_ratio, n);
                (l.shallow_clone(), l.detach())
            }
            SsdCls::Registry(loss) => {
                let x = registry_logits(&cls, loss.score());
                let c = x.size()[2];
                let o = loss.loss(&ClsBatch {
                    logits: &x.reshape([-1, c]),
                    labels: &y.reshape([-1]),
                    num_pos: n,
                    images: targets.len() as i64,
                });
                (o.backprop, o.value.detach())
            }
        };
        Losses {
            cls_backprop,
            cls: cls_value,
            reg: Tensor::stack(&reg_terms, 0).sum(reg.kind()) / n,
        }
    }
}
