//! Box operations as torchvision.ops computes them (`box_iou`, `clip_boxes_to_image`, `nms`,
//! `batched_nms`), so that detectors built on them give torchvision's numbers.
//!
//! Boxes are `[x1, y1, x2, y2]` float tensors. NMS runs on the host (libtorch has no NMS op):
//! torchvision's CPU kernel visits boxes in descending score order (stable sort) and suppresses
//! every later box whose IoU with a kept one is above the threshold.

use tch::{Device, Kind, Tensor};

/// `(x2 − x1) · (y2 − y1)` of `[N, 4]`.
pub fn box_area(b: &Tensor) -> Tensor {
    (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1))
}

/// Pairwise IoU `[N, M]` of `a [N, 4]` and `b [M, 4]` (torchvision's `box_iou`).
pub fn box_iou(a: &Tensor, b: &Tensor) -> Tensor {
    let (area1, area2) = (box_area(a), box_area(b));
    let a2 = a.unsqueeze(1);
    let lt = a2.narrow(2, 0, 2).maximum(&b.narrow(1, 0, 2));
    let rb = a2.narrow(2, 2, 2).minimum(&b.narrow(1, 2, 2));
    let wh = (rb - lt).clamp_min(0.0);
    let inter = wh.select(2, 0) * wh.select(2, 1);
    let union = area1.unsqueeze(1) + area2 - &inter;
    inter / union
}

/// Clamps x to `[0, width]` and y to `[0, height]` (torchvision's `clip_boxes_to_image`).
pub fn clip_boxes_to_image(b: &Tensor, height: i64, width: i64) -> Tensor {
    let n = b.size()[0];
    let v = b.view([n, 2, 2]);
    let x = v.select(2, 0).clamp(0.0, width as f64);
    let y = v.select(2, 1).clamp(0.0, height as f64);
    Tensor::stack(&[x, y], 2).reshape([n, 4])
}

fn host_f32(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
        .expect("a float tensor")
}

/// Indices kept by greedy NMS, in descending score order (torchvision's CPU `nms`).
pub fn nms_host(boxes: &[[f32; 4]], scores: &[f32], threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let (bi, ai) = (boxes[i], area(&boxes[i]));
        for &j in &order[k + 1..] {
            if suppressed[j] {
                continue;
            }
            let bj = boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
            let inter = w * h;
            if inter / (ai + area(&bj) - inter) > threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// Class-wise NMS (torchvision's `batched_nms`): indices kept, descending score. Small inputs
/// (≤ 1000 boxes) use torchvision's coordinate trick (each class shifted by
/// `label · (max coordinate + 1)`), larger ones one NMS per class, as torchvision does on the CPU.
pub fn batched_nms(boxes: &Tensor, scores: &Tensor, labels: &Tensor, threshold: f64) -> Vec<usize> {
    let n = scores.size()[0] as usize;
    if n == 0 {
        return Vec::new();
    }
    let b = host_f32(boxes);
    let s = host_f32(scores);
    let l =
        Vec::<i64>::try_from(labels.to_device(Device::Cpu).to_kind(Kind::Int64)).expect("labels");
    let thr = threshold as f32;
    if n * 4 <= 4000 {
        let max = b.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let shifted: Vec<[f32; 4]> = (0..n)
            .map(|i| {
                let off = l[i] as f32 * (max + 1.0);
                [
                    b[4 * i] + off,
                    b[4 * i + 1] + off,
                    b[4 * i + 2] + off,
                    b[4 * i + 3] + off,
                ]
            })
            .collect();
        return nms_host(&shifted, &s, thr);
    }
    let mut classes: Vec<i64> = l.clone();
    classes.sort_unstable();
    classes.dedup();
    let mut keep = Vec::new();
    for c in classes {
        let idx: Vec<usize> = (0..n).filter(|&i| l[i] == c).collect();
        let bx: Vec<[f32; 4]> = idx
            .iter()
            .map(|&i| [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
            .collect();
        let sc: Vec<f32> = idx.iter().map(|&i| s[i]).collect();
        keep.extend(nms_host(&bx, &sc, thr).into_iter().map(|k| idx[k]));
    }
    keep.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_overlapping_and_disjoint_boxes() {
        let a = Tensor::from_slice(&[0f32, 0., 10., 10.]).view([1, 4]);
        let b = Tensor::from_slice(&[5f32, 0., 15., 10., 20., 20., 30., 30.]).view([2, 4]);
        let iou = Vec::<f32>::try_from(box_iou(&a, &b).flatten(0, -1)).unwrap();
        assert!(
            (iou[0] - 50.0 / 150.0).abs() < 1e-6 && iou[1] == 0.0,
            "{iou:?}"
        );
    }

    #[test]
    fn batched_nms_keeps_other_classes_and_the_best_of_each() {
        let boxes = Tensor::from_slice(&[0f32, 0., 10., 10., 1., 0., 11., 10., 0., 0., 10., 10.])
            .view([3, 4]);
        let scores = Tensor::from_slice(&[0.5f32, 0.9, 0.7]);
        let labels = Tensor::from_slice(&[0i64, 0, 1]);
        assert_eq!(batched_nms(&boxes, &scores, &labels, 0.5), vec![1, 2]);
    }
}
