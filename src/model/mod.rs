//! The network lossbench trains: a U-Net on libtorch.

mod unet;

pub use unet::{ShapeError, UNet, UNetConfig};
