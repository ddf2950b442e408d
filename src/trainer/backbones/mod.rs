//! Backbones of the paper-scale detectors, laid out as torchvision's (`torchvision.models`).

pub mod resnet;

pub use resnet::ResNet;
