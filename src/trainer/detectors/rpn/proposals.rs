//! torchvision's `RegionProposalNetwork.filter_proposals`: per image, the `pre_nms_top_n`
//! highest objectness logits of each level (`topk`, in descending order, levels one after the
//! other), sigmoid, clip to the image, drop boxes with a side below `min_size`, drop scores
//! below `score_thresh`, NMS within each level (`batched_nms` with the level as the class), and
//! keep the `post_nms_top_n` best.

use crate::trainer::box_ops::{batched_nms, clip_boxes_to_image};
use tch::{Kind, Tensor};

/// The filter's settings for one mode (training or test).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    pub pre_nms_top_n: i64,
    pub post_nms_top_n: i64,
    pub nms_thresh: f64,
    pub score_thresh: f64,
    pub min_size: f64,
}

/// The proposals of one image: `boxes [P, 4]` in the batch's pixels and their
/// `sigmoid(objectness)` `scores [P]`, in descending score order.
#[derive(Debug)]
pub struct Proposals {
    pub boxes: Tensor,
    pub scores: Tensor,
}

/// The proposals of each image from the decoded boxes `[B, N, 4]` and the objectness logits
/// `[B, N]` (both detached; `per_level` anchors per level, in order).
pub fn filter(
    boxes: &Tensor,
    objectness: &Tensor,
    per_level: &[i64],
    image_sizes: &[(i64, i64)],
    f: &Filter,
) -> Vec<Proposals> {
    let device = objectness.device();
    let b = objectness.size()[0];
    let (mut top, mut levels) = (Vec::new(), Vec::new());
    let mut offset = 0;
    for (l, &n) in per_level.iter().enumerate() {
        let k = n.min(f.pre_nms_top_n);
        let (_, idx) = objectness.narrow(1, offset, n).topk(k, 1, true, true);
        top.push(idx + offset);
        levels.push(Tensor::full([k], l as i64, (Kind::Int64, device)));
        offset += n;
    }
    let top = Tensor::cat(&top, 1);
    let levels = Tensor::cat(&levels, 0);
    let scores = objectness.gather(1, &top, false).sigmoid();
    let k = top.size()[1];
    let boxes = boxes.gather(1, &top.unsqueeze(2).expand([b, k, 4], false), false);
    image_sizes
        .iter()
        .enumerate()
        .map(|(i, &(h, w))| {
            let i = i as i64;
            let bx = clip_boxes_to_image(&boxes.get(i), h, w);
            let (ws, hs) = (
                bx.select(1, 2) - bx.select(1, 0),
                bx.select(1, 3) - bx.select(1, 1),
            );
            let s = scores.get(i);
            let keep = ws
                .ge(f.min_size)
                .logical_and(&hs.ge(f.min_size))
                .logical_and(&s.ge(f.score_thresh))
                .nonzero()
                .squeeze_dim(1);
            let (bx, s, lv) = (
                bx.index_select(0, &keep),
                s.index_select(0, &keep),
                levels.index_select(0, &keep),
            );
            let mut kept = batched_nms(&bx, &s, &lv, f.nms_thresh);
            kept.truncate(f.post_nms_top_n.max(0) as usize);
            let kept = Tensor::from_slice(&kept.iter().map(|&k| k as i64).collect::<Vec<_>>())
                .to_device(device);
            Proposals {
                boxes: bx.index_select(0, &kept),
                scores: s.index_select(0, &kept),
            }
        })
        .collect()
}
