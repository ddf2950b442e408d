//! Region-of-interest pooling as torchvision.ops computes it, for the two-stage detectors.
//!
//! libtorch has no RoIAlign, so [`align::roi_align`] is built from differentiable tensor ops:
//! the taps and weights of every output bin are worked out from the boxes, and one
//! `embedding_bag` (weighted sum) over a channels-last view of the features reads them; its
//! backward, a weighted scatter-add onto the same pixels, is torchvision's backward
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
