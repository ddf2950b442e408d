//! Region-of-interest pooling as torchvision.ops computes it, for the two-stage detectors.
//!
//! libtorch has no RoIAlign, so [`align::roi_align`] is built from differentiable tensor ops:
//! each box's bilinear taps are reduced to a small per-box row set and column set, the features
//! at those rows × columns are gathered (one `index_select` of channel vectors) and two batched
//! matrix products apply the interpolation weights. Autograd then gives torchvision's backward
//! (the transpose of the same linear map). [`pooler::MultiScaleRoIAlign`] assigns each box to an
//! FPN level (torchvision's `LevelMapper`) and pools it there with the scale inferred from the
//! feature and image sizes.
//!
//! Both are compared to torchvision 0.26.0, values and input gradients, in `tests.rs`
//! (fixtures from `tests/golden_roi_align.py`).

pub mod align;
pub mod pooler;
#[cfg(test)]
mod tests;
