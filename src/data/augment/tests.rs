//! Unit tests of the augmentation: configuration, draws and kernels.
