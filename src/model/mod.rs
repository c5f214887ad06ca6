//! The network lossbench trains: a U-Net on libtorch.

mod init;
mod unet;

pub use init::Init;

pub use unet::{BnVariance, ShapeError, UNet, UNetConfig};
