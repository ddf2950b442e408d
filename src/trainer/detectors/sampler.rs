//! torchvision's `BalancedPositiveNegativeSampler` (`models/detection/_utils.py`), shared by
//! Faster R-CNN's two stages: per image, `batch_size_per_image · positive_fraction` (truncated)
//! positives at most (label ≥ 1), the rest of `batch_size_per_image` from the negatives
//! (label 0), both drawn uniformly without replacement; ignored entries (−1) are never drawn.
//!
//! The draw is injectable ([`Draw`]): training uses [`Seeded`], a stream keyed by the job's
//! seed, the iteration and the stage, so a run (and a resumed run) draws the same samples on any
//! device; a test can replay exactly the indices torchvision drew ([`Replay`]), or draw as
//! torchvision does from torch's global generator ([`TorchDraw`]: the same draws as torchvision
//! from the same `torch.manual_seed`). The result is torchvision's after its masks: the chosen
//! indices of each side in ascending order.

use crate::trainer::synth::{key, Rng};
use tch::{Device, Kind, Tensor};

/// Which candidates a draw chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Positive,
    Negative,
}

/// How `k` of the candidates are chosen.
pub trait Draw {
    /// `k` distinct entries of `candidates` (the ascending indices of image `image`'s
    /// positives or negatives), `k ≤ candidates.len()`.
    fn draw(&mut self, image: usize, side: Side, candidates: &[i64], k: usize) -> Vec<i64>;
}

/// Uniform draws from a seeded stream (a partial Fisher–Yates shuffle).
#[derive(Debug, Clone)]
pub struct Seeded {
    rng: Rng,
}

impl Seeded {
    /// The stream of one training step: `stage` keeps the RPN's and the box head's draws
    /// apart (e.g. "rpn", "roi_heads").
    pub fn new(seed: u64, iteration: u64, stage: &str) -> Seeded {
        let tag = stage
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(257).wrapping_add(b as u64));
        Seeded {
            rng: Rng::new(key(&[seed, 0x7361_6d70_6c65, iteration, tag])),
        }
    }
}

impl Draw for Seeded {
    fn draw(&mut self, _image: usize, _side: Side, candidates: &[i64], k: usize) -> Vec<i64> {
        let mut pool = candidates.to_vec();
        let n = pool.len();
        for i in 0..k.min(n) {
            let j = i + self.rng.below((n - i) as u64) as usize;
            pool.swap(i, j);
        }
        pool.truncate(k.min(n));
        pool
    }
}

/// torchvision's own draw: the first `k` of `torch.randperm(#candidates)` on the CPU generator
/// (torchvision draws on the labels' device; on the CPU they are the same stream).
#[derive(Debug, Default, Clone, Copy)]
pub struct TorchDraw;

impl Draw for TorchDraw {
    fn draw(&mut self, _image: usize, _side: Side, candidates: &[i64], k: usize) -> Vec<i64> {
        let perm = Tensor::randperm(candidates.len() as i64, (Kind::Int64, Device::Cpu))
            .narrow(0, 0, k as i64);
        Vec::<i64>::try_from(perm)
            .expect("int64 positions")
            .into_iter()
            .map(|p| candidates[p as usize])
            .collect()
    }
}

/// Replays recorded draws: per image, the positives and the negatives to return (checked to be
/// `k` of the candidates, so a replay also checks the counts and the labels it is fed).
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct Replay {
    /// Per image `(positives, negatives)`.
    pub per_image: Vec<(Vec<i64>, Vec<i64>)>,
}

#[cfg(test)]
impl Draw for Replay {
    fn draw(&mut self, image: usize, side: Side, candidates: &[i64], k: usize) -> Vec<i64> {
        let (pos, neg) = &self.per_image[image];
        let chosen = if side == Side::Positive { pos } else { neg };
        assert_eq!(
            chosen.len(),
            k,
            "image {image}, {side:?}: replaying {} draws where the sampler wants {k} (of {})",
            chosen.len(),
            candidates.len()
        );
        for c in chosen {
            assert!(
                candidates.binary_search(c).is_ok(),
                "image {image}, {side:?}: recorded index {c} is not a candidate here"
            );
        }
        chosen.clone()
    }
}

/// The indices one image contributes, each side ascending (int64, on the labels' device).
#[derive(Debug)]
pub struct Sampled {
    pub positives: Tensor,
    pub negatives: Tensor,
}

impl Sampled {
    /// Every sampled index, ascending (torchvision's `subsample` of the box head).
    pub fn indices(&self) -> Tensor {
        Tensor::cat(&[&self.positives, &self.negatives], 0)
            .sort(0, false)
            .0
    }
}

/// torchvision's `BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalancedSampler {
    pub batch_size_per_image: i64,
    pub positive_fraction: f64,
}

impl BalancedSampler {
    /// The sample of each image from its labels `[N]` (≥ 1 positive, 0 negative, −1 ignored).
    pub fn sample(&self, labels: &[Tensor], draw: &mut dyn Draw) -> Vec<Sampled> {
        labels
            .iter()
            .enumerate()
            .map(|(image, l)| {
                let host = Vec::<f64>::try_from(l.to_device(Device::Cpu).to_kind(Kind::Double))
                    .expect("a 1-D label tensor");
                let pick = |keep: fn(f64) -> bool| -> Vec<i64> {
                    (0..host.len() as i64)
                        .filter(|&i| keep(host[i as usize]))
                        .collect()
                };
                let positive = pick(|v| v >= 1.0);
                let negative = pick(|v| v == 0.0);
                // int(batch · fraction) as torchvision, then capped by what there is.
                let max_pos = (self.batch_size_per_image as f64 * self.positive_fraction) as i64;
                let num_pos = (positive.len() as i64).min(max_pos).max(0) as usize;
                let num_neg = (negative.len() as i64)
                    .min(self.batch_size_per_image - num_pos as i64)
                    .max(0) as usize;
                let mut pos = draw.draw(image, Side::Positive, &positive, num_pos);
                let mut neg = draw.draw(image, Side::Negative, &negative, num_neg);
                pos.sort_unstable();
                neg.sort_unstable();
                let dev = l.device();
                Sampled {
                    positives: Tensor::from_slice(&pos).to_device(dev),
                    negatives: Tensor::from_slice(&neg).to_device(dev),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels with `p` positives, `n` negatives and `i` ignored entries, interleaved.
    fn labels(p: usize, n: usize, i: usize) -> Tensor {
        let mut v = vec![1f32; p];
        v.extend(vec![0f32; n]);
        v.extend(vec![-1f32; i]);
        // A fixed interleaving so that the indices of each side are not contiguous.
        let len = v.len();
        let order: Vec<usize> = (0..len).map(|k| (k * 7919) % len).collect();
        let mut out = vec![0f32; len];
        for (k, &o) in order.iter().enumerate() {
            out[o] = v[k];
        }
        Tensor::from_slice(&out)
    }

    fn host(t: &Tensor) -> Vec<i64> {
        Vec::<i64>::try_from(t).unwrap()
    }

    #[test]
    fn counts_follow_the_fraction_and_fall_back_on_negatives() {
        let s = BalancedSampler {
            batch_size_per_image: 256,
            positive_fraction: 0.5,
        };
        let l = [labels(300, 1000, 50), labels(20, 1000, 0), labels(5, 30, 9)];
        let out = s.sample(&l, &mut Seeded::new(1, 0, "rpn"));
        let counts: Vec<(usize, usize)> = out
            .iter()
            .map(|o| (o.positives.numel(), o.negatives.numel()))
            .collect();
        // 128 positives at most; negatives fill the batch, capped by what there is.
        assert_eq!(counts, vec![(128, 128), (20, 236), (5, 30)]);
        for (o, l) in out.iter().zip(&l) {
            let lab = Vec::<f32>::try_from(l).unwrap();
            let (p, n) = (host(&o.positives), host(&o.negatives));
            assert!(p.iter().all(|&i| lab[i as usize] == 1.0));
            assert!(n.iter().all(|&i| lab[i as usize] == 0.0));
            assert!(p.windows(2).all(|w| w[0] < w[1]), "ascending, distinct");
            assert!(n.windows(2).all(|w| w[0] < w[1]), "ascending, distinct");
        }
        // A fraction whose product is not whole is truncated as Python's int() does.
        let s = BalancedSampler {
            batch_size_per_image: 10,
            positive_fraction: 0.25,
        };
        let out = s.sample(&[labels(9, 20, 0)], &mut Seeded::new(1, 0, "rpn"));
        assert_eq!((out[0].positives.numel(), out[0].negatives.numel()), (2, 8));
    }

    #[test]
    fn seeded_draws_repeat_per_step_and_differ_across_steps_and_stages() {
        let s = BalancedSampler {
            batch_size_per_image: 64,
            positive_fraction: 0.25,
        };
        let l = [labels(100, 500, 10)];
        let run = |seed, it, stage| {
            let o = &s.sample(&l, &mut Seeded::new(seed, it, stage))[0];
            (host(&o.positives), host(&o.negatives))
        };
        assert_eq!(run(3, 7, "rpn"), run(3, 7, "rpn"));
        assert_ne!(run(3, 7, "rpn"), run(3, 8, "rpn"));
        assert_ne!(run(3, 7, "rpn"), run(4, 7, "rpn"));
        assert_ne!(run(3, 7, "rpn"), run(3, 7, "roi_heads"));
    }

    #[test]
    fn seeded_draws_are_uniform() {
        // Each of 10 candidates drawn 3 at a time: 3/10 of the time each, over 20000 draws.
        let mut d = Seeded::new(5, 0, "rpn");
        let cand: Vec<i64> = (0..10).collect();
        let mut hits = [0u32; 10];
        for _ in 0..20000 {
            let got = d.draw(0, Side::Negative, &cand, 3);
            let mut g = got.clone();
            g.sort_unstable();
            g.dedup();
            assert_eq!(g.len(), 3, "without replacement");
            for i in got {
                hits[i as usize] += 1;
            }
        }
        for h in hits {
            // Expected 6000, sd ≈ 65.
            assert!((h as i64 - 6000).abs() < 400, "{hits:?}");
        }
    }

    #[test]
    fn torch_draw_takes_distinct_candidates_and_indices_merge_the_sides() {
        let s = BalancedSampler {
            batch_size_per_image: 8,
            positive_fraction: 0.25,
        };
        // Class labels as the box head's: positives 1, 4, 6, 7; ignored 5.
        let l = Tensor::from_slice(&[0i64, 2, 0, 0, 1, -1, 3, 1, 0]);
        tch::manual_seed(4);
        let o = &s.sample(&[l], &mut TorchDraw)[0];
        let (p, n) = (host(&o.positives), host(&o.negatives));
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|i| [1, 4, 6, 7].contains(i)));
        assert_eq!(n, vec![0, 2, 3, 8]);
        let mut all = [p, n].concat();
        all.sort_unstable();
        assert_eq!(host(&o.indices()), all);
    }

    #[test]
    fn a_replay_returns_the_recorded_indices_sorted() {
        let s = BalancedSampler {
            batch_size_per_image: 4,
            positive_fraction: 0.5,
        };
        let l = Tensor::from_slice(&[1f32, 0., 1., 1., 0., -1., 0., 0.]);
        let mut r = Replay {
            per_image: vec![(vec![3, 0], vec![7, 4])],
        };
        let o = &s.sample(&[l], &mut r)[0];
        assert_eq!(host(&o.positives), vec![0, 3]);
        assert_eq!(host(&o.negatives), vec![4, 7]);
    }
}
