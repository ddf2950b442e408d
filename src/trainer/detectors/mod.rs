//! One-stage detectors as torchvision wires them: anchors, target matching, losses and
//! post-processing around a head, on FPN levels computed elsewhere.

pub mod fcos;
#[cfg(test)]
mod fcos_golden;
#[cfg(test)]
mod fcos_tests;
