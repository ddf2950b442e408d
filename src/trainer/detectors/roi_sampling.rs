//! torchvision's `BalancedPositiveNegativeSampler` (`models/detection/_utils.py`), as the box
//! head of Faster R-CNN uses it: per image, of the candidates labelled ≥ 1 (positives) draw
//! `min(#positives, ⌊batch · fraction⌋)`, of those labelled 0 (negatives) draw
//! `min(#negatives, batch − drawn positives)`; −1 (ignored) is never drawn.
//!
//! The random choice is a [`Draw`]: [`TorchDraw`] draws as torchvision does (`torch.randperm`
//! on the candidates' device, first `k`), so a seeded run (`tch::manual_seed`) makes the same
//! draws as torchvision from the same seed; a test can replay torchvision's recorded draws.

use tch::{Device, Kind, Tensor};

/// Chooses `k` of `n` candidates.
pub trait Draw {
    /// `k` distinct positions in `0..n` (int64 `[k]`, any order, on `device`).
    fn choose(&mut self, n: i64, k: i64, device: Device) -> Tensor;
}

/// torchvision's draw: the first `k` of `torch.randperm(n)` (torch's global generator).
#[derive(Debug, Default, Clone, Copy)]
pub struct TorchDraw;

impl Draw for TorchDraw {
    fn choose(&mut self, n: i64, k: i64, device: Device) -> Tensor {
        Tensor::randperm(n, (Kind::Int64, device)).narrow(0, 0, k)
    }
}

/// The drawn candidates of one image, as masks over its candidates (bool `[N]`).
#[derive(Debug)]
pub struct Drawn {
    pub positive: Tensor,
    pub negative: Tensor,
}

impl Drawn {
    /// Indices of every drawn candidate, ascending (torchvision's `subsample`).
    pub fn indices(&self) -> Tensor {
        self.positive
            .logical_or(&self.negative)
            .nonzero()
            .squeeze_dim(1)
    }
}

/// torchvision's `BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BalancedSampler {
    pub batch_size_per_image: i64,
    pub positive_fraction: f64,
}

impl BalancedSampler {
    /// The draw of one image whose candidates have `labels [N]` (int64: −1 ignored,
    /// 0 negative, ≥ 1 positive). Positives are drawn before negatives.
    pub fn sample(&self, labels: &Tensor, draw: &mut dyn Draw) -> Drawn {
        let device = labels.device();
        let positive = labels.ge(1).nonzero().squeeze_dim(1);
        let negative = labels.eq(0).nonzero().squeeze_dim(1);
        // Python's int() of the product, as torchvision writes it.
        let quota = (self.batch_size_per_image as f64 * self.positive_fraction) as i64;
        let num_pos = positive.size()[0].min(quota);
        let num_neg = negative.size()[0].min(self.batch_size_per_image - num_pos);
        let mut mask = |candidates: &Tensor, k: i64| {
            let chosen = draw.choose(candidates.size()[0], k, device);
            let idx = candidates.index_select(0, &chosen);
            let mut m = Tensor::zeros_like(labels).to_kind(Kind::Bool);
            let _ = m.index_fill_(0, &idx, 1);
            m
        };
        let positive = mask(&positive, num_pos);
        let negative = mask(&negative, num_neg);
        Drawn { positive, negative }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays fixed choices in order.
    struct Fixed(Vec<Vec<i64>>);

    impl Draw for Fixed {
        fn choose(&mut self, n: i64, k: i64, _: Device) -> Tensor {
            let c = self.0.remove(0);
            assert!(c.len() as i64 == k && c.iter().all(|&i| i < n));
            Tensor::from_slice(&c)
        }
    }

    fn host(t: &Tensor) -> Vec<i64> {
        Vec::<i64>::try_from(t.to_kind(Kind::Int64)).unwrap()
    }

    fn sampler(batch: i64) -> BalancedSampler {
        BalancedSampler {
            batch_size_per_image: batch,
            positive_fraction: 0.25,
        }
    }

    #[test]
    fn fixed_choices_select_those_candidates_in_ascending_order() {
        // positives at 1, 4, 6, 7; negatives at 0, 2, 3, 8; ignored at 5.
        let labels = Tensor::from_slice(&[0i64, 2, 0, 0, 1, -1, 3, 1, 0]);
        let drawn = sampler(8).sample(&labels, &mut Fixed(vec![vec![3, 1], vec![2, 0, 3, 1]]));
        assert_eq!(host(&drawn.positive.nonzero().squeeze_dim(1)), vec![4, 7]);
        assert_eq!(
            host(&drawn.negative.nonzero().squeeze_dim(1)),
            vec![0, 2, 3, 8]
        );
        assert_eq!(host(&drawn.indices()), vec![0, 2, 3, 4, 7, 8]);
    }

    #[test]
    fn quotas_follow_the_fraction_and_the_available_candidates() {
        tch::manual_seed(3);
        // 30 positives, 100 negatives, 20 ignored.
        let labels = Tensor::cat(
            &[
                Tensor::ones([30], (Kind::Int64, Device::Cpu)),
                Tensor::zeros([100], (Kind::Int64, Device::Cpu)),
                Tensor::full([20], -1, (Kind::Int64, Device::Cpu)),
            ],
            0,
        );
        let count = |m: &Tensor| m.sum(Kind::Int64).int64_value(&[]);
        let d = sampler(64).sample(&labels, &mut TorchDraw);
        assert_eq!((count(&d.positive), count(&d.negative)), (16, 48));
        // Few positives: the negatives fill the batch.
        let d = sampler(64).sample(&labels.narrow(0, 25, 125), &mut TorchDraw);
        assert_eq!((count(&d.positive), count(&d.negative)), (5, 59));
        // Few candidates: everything that is not ignored.
        let d = sampler(512).sample(&labels, &mut TorchDraw);
        assert_eq!((count(&d.positive), count(&d.negative)), (30, 100));
        // int(10 · 0.25) = 2 positives.
        let d = sampler(10).sample(&labels, &mut TorchDraw);
        assert_eq!((count(&d.positive), count(&d.negative)), (2, 8));
        let ignored = labels.eq(-1);
        assert_eq!(count(&d.positive.logical_and(&ignored)), 0);
        assert_eq!(count(&d.negative.logical_and(&ignored)), 0);
        assert_eq!(count(&d.positive.logical_and(&labels.ge(1))), 2);
    }

    #[test]
    fn torch_draw_picks_distinct_positions_in_range() {
        for (n, k) in [(40, 8), (10, 10), (5, 0), (0, 0)] {
            let mut c = host(&TorchDraw.choose(n, k, Device::Cpu));
            assert_eq!(c.len() as i64, k);
            c.sort_unstable();
            c.dedup();
            assert_eq!(c.len() as i64, k);
            assert!(c.iter().all(|&i| (0..n).contains(&i)));
        }
    }
}
