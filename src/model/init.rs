//! How a U-Net's weights start. Each scheme draws from libtorch's generator layer by layer
//! in construction order, with exactly the formulas of `torch.nn.init`, so that
//! `torch.manual_seed(s)` and the PyTorch U-Net of `peer/unet.py` start from bitwise the
//! same tensors as lossbench with seed `s`.

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// An initialisation scheme (`model.init`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// torch.nn's defaults: convolution weights `kaiming_uniform_(a = √5)`, i.e.
    /// U(±1/√fan_in), biases U(±1/√fan_in); batch-norm weight 1, bias 0. What a user's
    /// own PyTorch U-Net starts from.
    #[default]
    Pytorch,
    /// Keras' defaults: `glorot_uniform` kernels (U(±√(6/(fan_in + fan_out)))), zero
    /// biases, batch-norm weight 1; what the Keras U-Nets behind "why does BCE learn better?"
    /// start from.
    Keras,
    /// He normal with fan_out and ReLU gain (N(0, 2/fan_out)), zero biases, batch-norm
    /// weight 1, as in torchvision's ResNets and many segmentation repositories.
    Kaiming,
}

impl Init {
    /// Draws a convolution's (or transposed convolution's) weight and then its bias, in
    /// place, as the layer's `reset_parameters` in PyTorch does for this scheme.
    pub fn convolution(self, weight: &Tensor, bias: Option<&Tensor>) {
        let (fan_in, fan_out) = fans(weight);
        tch::no_grad(|| {
            let mut weight = weight.shallow_clone();
            match self {
                Init::Pytorch => {
                    // kaiming_uniform_(a = √5): gain √(2 / (1 + a²)), bound √3 · gain / √fan.
                    let a = 5f64.sqrt();
                    let gain = (2.0 / (1.0 + a * a)).sqrt();
                    let bound = 3f64.sqrt() * (gain / (fan_in as f64).sqrt());
                    let _ = weight.uniform_(-bound, bound);
                }
                Init::Keras => {
                    // xavier_uniform_: bound √3 · √(2 / (fan_in + fan_out)).
                    let bound = 3f64.sqrt() * (2.0 / (fan_in + fan_out) as f64).sqrt();
                    let _ = weight.uniform_(-bound, bound);
                }
                Init::Kaiming => {
                    // kaiming_normal_(mode = "fan_out", nonlinearity = "relu").
                    let std = 2f64.sqrt() / (fan_out as f64).sqrt();
                    let _ = weight.normal_(0.0, std);
                }
            }
            if let Some(bias) = bias {
                let mut bias = bias.shallow_clone();
                match self {
                    Init::Pytorch => {
                        let bound = if fan_in > 0 {
                            1.0 / (fan_in as f64).sqrt()
                        } else {
                            0.0
                        };
                        let _ = bias.uniform_(-bound, bound);
                    }
                    Init::Keras | Init::Kaiming => {
                        let _ = bias.zero_();
                    }
                }
            }
        });
    }
}

/// PyTorch's `_calculate_fan_in_and_fan_out` of a weight `[a, b, k…]`: `(b·Πk, a·Πk)`. For a
/// transposed convolution (`[in, out, k, k]`) that makes fan_in the output channels, as in
/// PyTorch.
fn fans(weight: &Tensor) -> (i64, i64) {
    let size = weight.size();
    let receptive: i64 = size[2..].iter().product();
    (size[1] * receptive, size[0] * receptive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn drawn(init: Init, shape: &[i64]) -> Tensor {
        tch::manual_seed(11);
        let w = Tensor::zeros(shape, (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let b = Tensor::zeros([shape[0]], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        init.convolution(&w, Some(&b));
        w.detach()
    }

    #[test]
    fn pytorch_weights_lie_within_one_over_root_fan_in_and_fill_it() {
        let w = drawn(Init::Pytorch, &[64, 32, 3, 3]);
        let bound = 1.0 / (32.0f64 * 9.0).sqrt();
        let max = w.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.99 * bound, "{max} vs {bound}");
    }

    #[test]
    fn keras_weights_lie_within_the_glorot_bound_and_biases_are_zero() {
        tch::manual_seed(11);
        let w = Tensor::zeros([16, 8, 3, 3], (Kind::Float, Device::Cpu));
        let b = Tensor::ones([16], (Kind::Float, Device::Cpu));
        Init::Keras.convolution(&w, Some(&b));
        let bound = (6.0f64 / ((8 + 16) * 9) as f64).sqrt();
        let max = w.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.95 * bound, "{max} vs {bound}");
        assert_eq!(b.abs().sum(Kind::Double).double_value(&[]), 0.0);
    }

    #[test]
    fn kaiming_weights_have_the_fan_out_standard_deviation() {
        let w = drawn(Init::Kaiming, &[64, 32, 3, 3]);
        let want = (2.0f64 / (64.0 * 9.0)).sqrt();
        let std = w.std(true).double_value(&[]);
        assert!((std / want - 1.0).abs() < 0.03, "{std} vs {want}");
    }

    #[test]
    fn transposed_convolution_fan_in_is_its_output_channels() {
        let w = Tensor::zeros([32, 16, 2, 2], (Kind::Float, Device::Cpu));
        assert_eq!(fans(&w), (16 * 4, 32 * 4));
    }
}
