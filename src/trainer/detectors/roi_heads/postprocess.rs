//! torchvision's `RoIHeads.postprocess_detections`: per proposal and class, the class score and
//! the proposal decoded with that class's deltas; per image, boxes clipped to the image, the
//! background column dropped, scores above `score_thresh` kept, boxes with a side under 1e-2 px
//! removed, class-wise NMS, and the `detections_per_img` best kept.

use super::loss::foreground_logits;
use super::{HeadOutput, RoiHeads};
use crate::trainer::box_ops::{batched_nms, clip_boxes_to_image};
use crate::trainer::detectors::retinanet::Detections;
use crate::trainer::losses::Score;
use tch::{Kind, Tensor};

/// torchvision's `min_size` for `remove_small_boxes` in the box head.
pub const MIN_SIZE: f64 = 1e-2;

/// Indices of the boxes `[N, 4]` whose both sides are at least `min_size`
/// (torchvision's `remove_small_boxes`).
pub fn remove_small_boxes(boxes: &Tensor, min_size: f64) -> Tensor {
    let w = boxes.select(1, 2) - boxes.select(1, 0);
    let h = boxes.select(1, 3) - boxes.select(1, 1);
    w.ge(min_size)
        .logical_and(&h.ge(min_size))
        .nonzero()
        .squeeze_dim(1)
}

impl RoiHeads {
    /// Every proposal `[R, 4]` decoded with each class's deltas: `[R, K + 1, 4]`.
    pub fn decode_per_class(&self, box_regression: &Tensor, proposals: &Tensor) -> Tensor {
        let r = proposals.size()[0];
        let k1 = box_regression.size()[1] / 4;
        let deltas = box_regression.reshape([r * k1, 4]);
        let repeated = proposals.repeat_interleave_self_int(k1, 0, None);
        self.coder.decode(&deltas, &repeated).view([r, k1, 4])
    }

    /// Detections per image (labels are class columns, ≥ 1) of the head's outputs on
    /// `proposals` (one tensor per image, rows in `out`'s order), clipped to `image_sizes`
    /// `(height, width)`. `score`: torchvision's softmax, or the sigmoid of background-relative
    /// logits for a head trained with a sigmoid loss.
    pub fn postprocess(
        &self,
        out: &HeadOutput,
        proposals: &[Tensor],
        image_sizes: &[(i64, i64)],
        score: Score,
    ) -> Vec<Detections> {
        let c = &self.cfg;
        let logits = &out.class_logits;
        let k = logits.size()[1] - 1;
        let boxes = self.decode_per_class(&out.box_regression, &Tensor::cat(proposals, 0));
        let scores = match score {
            Score::Softmax => logits.softmax(-1, logits.kind()).narrow(1, 1, k),
            Score::Sigmoid => foreground_logits(logits).sigmoid(),
        };
        let mut start = 0;
        proposals
            .iter()
            .zip(image_sizes)
            .map(|(p, &(h, w))| {
                let rows = p.size()[0];
                let b = clip_boxes_to_image(
                    &boxes
                        .narrow(0, start, rows)
                        .narrow(1, 1, k)
                        .reshape([-1, 4]),
                    h,
                    w,
                );
                let s = scores.narrow(0, start, rows).reshape([-1]);
                start += rows;
                let labels =
                    Tensor::arange_start(1, k + 1, (Kind::Int64, b.device())).repeat([rows]);
                let keep = s.gt(c.score_thresh).nonzero().squeeze_dim(1);
                let (b, s, labels) = (
                    b.index_select(0, &keep),
                    s.index_select(0, &keep),
                    labels.index_select(0, &keep),
                );
                let keep = remove_small_boxes(&b, MIN_SIZE);
                let (b, s, labels) = (
                    b.index_select(0, &keep),
                    s.index_select(0, &keep),
                    labels.index_select(0, &keep),
                );
                let mut keep = batched_nms(&b, &s, &labels, c.nms_thresh);
                keep.truncate(c.detections_per_img.max(0) as usize);
                let keep = Tensor::from_slice(&keep.iter().map(|&i| i as i64).collect::<Vec<_>>())
                    .to_device(b.device());
                Detections {
                    boxes: b.index_select(0, &keep),
                    scores: s.index_select(0, &keep),
                    labels: labels.index_select(0, &keep),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::RoiHeadsConfig;
    use super::*;
    use tch::{nn, Device};

    #[test]
    fn an_image_without_proposals_has_no_detections() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = RoiHeadsConfig::torchvision(3);
        (cfg.pooled_channels, cfg.representation) = (2, 8);
        let h = RoiHeads::new(&(vs.root() / "roi_heads"), &cfg);
        let p = Tensor::from_slice(&[0f32, 0., 10., 10., 5., 5., 25., 30., 2., 4., 12., 16.])
            .view([3, 4]);
        let out = HeadOutput {
            // Class 2 certain for every proposal; zero deltas.
            class_logits: Tensor::from_slice(&[0f32, 0., 20.])
                .view([1, 3])
                .repeat([3, 1]),
            box_regression: Tensor::zeros([3, 12], (Kind::Float, Device::Cpu)),
        };
        let empty = Tensor::zeros([0, 4], (Kind::Float, Device::Cpu));
        let d = h.postprocess(&out, &[p, empty], &[(20, 40), (30, 30)], Score::Softmax);
        // No two overlap by IoU 0.5: all three stay, the second clipped to 20 px high.
        assert_eq!(Vec::<i64>::try_from(&d[0].labels).unwrap(), vec![2, 2, 2]);
        assert_eq!(d[0].boxes.select(1, 3).max().double_value(&[]), 20.0);
        assert_eq!(d[1].boxes.size(), vec![0, 4]);
    }

    #[test]
    fn small_boxes_are_removed_on_either_side() {
        let b = Tensor::from_slice(&[
            0f32, 0., 1., 1., 0., 0., 0.005, 5., 0., 0., 5., 0.009, 2., 2., 2.02, 2.02,
        ])
        .view([4, 4]);
        let keep = Vec::<i64>::try_from(remove_small_boxes(&b, MIN_SIZE)).unwrap();
        assert_eq!(keep, vec![0, 3]);
    }
}
