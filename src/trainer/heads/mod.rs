//! Detection heads as torchvision lays them out: parameter names are torchvision's state-dict
//! names, so its weights load without a translation table.

pub mod fcos;
