//! The U-Net: `depth` encoder stages (two 3×3 conv + batch norm + ReLU, then 2×2 max pool),
//! a bottleneck, a decoder of transposed-conv upsampling with skip concatenation, and a 1×1
//! head to `num_classes` logits `[N, C, H, W]`.
//!
//! With batch norm the 3×3 convolutions carry no bias (the norm's shift replaces it); the
//! transposed convolutions and the head always do.
//!
//! Every layer is initialised right after it is built, by the configuration's [`Init`]
//! (PyTorch's defaults unless asked otherwise), in the order `peer/unet.py` builds the same
//! network in PyTorch: encoder stages, bottleneck, then per decoder stage the transposed
//! convolution and the two convolutions, then the head.
//!
//! With `channels_last` the weights and the input are laid out NHWC in memory (the shape
//! stays `[N, C, H, W]`), which libtorch's CPU convolutions run about 20% faster on; the
//! maths is the same.

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::Init;

/// The shape of a U-Net.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UNetConfig {
    pub in_channels: i64,
    pub num_classes: i64,
    pub base_channels: i64,
    pub depth: usize,
    pub batch_norm: bool,
    /// Weights and activations in channels-last (NHWC) memory layout.
    pub channels_last: bool,
    /// How the weights start.
    pub init: Init,
    /// Batch norm's weight of a batch's statistics in its running averages (PyTorch's
    /// `momentum`).
    pub bn_momentum: f64,
    /// Batch norm's ε.
    pub bn_eps: f64,
    /// Which variance of a batch the running variance averages.
    pub bn_variance: BnVariance,
}

/// The variance of a batch that batch norm's running variance averages; training
/// normalises by the biased one either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnVariance {
    /// With n − 1 (Bessel's correction): PyTorch's `BatchNorm2d`.
    #[default]
    Unbiased,
    /// With n: Keras' `BatchNormalization`.
    Biased,
}

impl BnVariance {
    /// Whether this is PyTorch's (left out of a configuration's canonical form).
    pub fn is_default(&self) -> bool {
        *self == BnVariance::Unbiased
    }
}

impl Default for UNetConfig {
    fn default() -> Self {
        UNetConfig {
            in_channels: 3,
            num_classes: 7,
            base_channels: 16,
            depth: 4,
            batch_norm: true,
            channels_last: true,
            init: Init::Pytorch,
            bn_momentum: 0.1,
            bn_eps: 1e-5,
            bn_variance: BnVariance::Unbiased,
        }
    }
}

impl UNetConfig {
    /// The multiple that input height and width must be: `2^depth`.
    pub fn size_multiple(&self) -> i64 {
        1 << self.depth
    }

    /// Checks that an `height × width` input passes through `depth` poolings and back.
    pub fn check_input(&self, height: i64, width: i64) -> Result<(), ShapeError> {
        let m = self.size_multiple();
        if height <= 0 || width <= 0 || height % m != 0 || width % m != 0 {
            return Err(ShapeError {
                height,
                width,
                depth: self.depth,
                multiple: m,
            });
        }
        Ok(())
    }

    /// The number of trainable parameters, from the architecture alone.
    pub fn parameter_count(&self) -> i64 {
        let b = self.base_channels;
        let conv3 = |i: i64, o: i64| i * o * 9 + if self.batch_norm { 2 * o } else { o };
        let double = |i: i64, o: i64| conv3(i, o) + conv3(o, o);
        let width = |stage: usize| b << stage;
        let mut count = 0;
        let mut inc = self.in_channels;
        for stage in 0..self.depth {
            count += double(inc, width(stage));
            inc = width(stage);
        }
        count += double(inc, width(self.depth));
        for stage in (0..self.depth).rev() {
            let (i, o) = (width(stage + 1), width(stage));
            count += i * o * 4 + o; // transposed conv 2×2, biased
            count += double(2 * o, o);
        }
        count + b * self.num_classes + self.num_classes
    }
}

/// An input whose height or width is not a multiple of `2^depth`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "image size {height}×{width} does not fit a U-Net of depth {depth}: height and width \
     must be multiples of 2^{depth} = {multiple}; resize or crop the data to a multiple of \
     {multiple}, or lower model.depth"
)]
pub struct ShapeError {
    pub height: i64,
    pub width: i64,
    pub depth: usize,
    pub multiple: i64,
}

/// Two 3×3 convolutions, each followed by batch norm (when enabled) and ReLU.
#[derive(Debug)]
struct DoubleConv {
    convs: [nn::Conv2D; 2],
    norms: Option<[Norm; 2]>,
}

/// A convolution whose parameters start at zero (no draw) and are then drawn by `init`.
fn conv2d(
    vs: nn::Path,
    input: i64,
    output: i64,
    kernel: i64,
    padding: i64,
    bias: bool,
    init: Init,
) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding,
        bias,
        ws_init: nn::Init::Const(0.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    let conv = nn::conv2d(vs, input, output, kernel, cfg);
    init.convolution(&conv.ws, conv.bs.as_ref());
    conv
}

/// Batch norm as PyTorch's `BatchNorm2d` starts (weight 1, bias 0, running mean 0 and
/// variance 1), with the configuration's momentum and ε, and its running variance of the
/// unbiased (PyTorch) or biased (Keras) batch variance.
#[derive(Debug)]
struct Norm {
    bn: nn::BatchNorm,
    momentum: f64,
    eps: f64,
    variance: BnVariance,
}

impl Norm {
    fn new(vs: nn::Path, channels: i64, config: &UNetConfig) -> Self {
        let cfg = nn::BatchNormConfig {
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            momentum: config.bn_momentum,
            eps: config.bn_eps,
            ..Default::default()
        };
        Norm {
            bn: nn::batch_norm2d(vs, channels, cfg),
            momentum: config.bn_momentum,
            eps: config.bn_eps,
            variance: config.bn_variance,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if !(train && self.variance == BnVariance::Biased) {
            return x.apply_t(&self.bn, train);
        }
        // Normalised by the batch's statistics, as libtorch's kernel does, without its
        // running update; then the running averages of the batch's mean and biased variance
        // (Keras' `moving * momentum + batch * (1 - momentum)`).
        let y = x.batch_norm(
            self.bn.ws.as_ref(),
            self.bn.bs.as_ref(),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            self.momentum,
            self.eps,
            false,
        );
        tch::no_grad(|| {
            let kind = x.kind();
            let mean = x.mean_dim([0i64, 2, 3].as_slice(), false, kind);
            let var = x.var_correction([0i64, 2, 3].as_slice(), 0, false);
            let keep = 1.0 - self.momentum;
            let mut running_mean = self.bn.running_mean.shallow_clone();
            let mut running_var = self.bn.running_var.shallow_clone();
            let _ = running_mean
                .g_mul_scalar_(keep)
                .g_add_(&(mean * self.momentum));
            let _ = running_var
                .g_mul_scalar_(keep)
                .g_add_(&(var * self.momentum));
        });
        y
    }
}

impl DoubleConv {
    fn new(vs: nn::Path, input: i64, output: i64, config: &UNetConfig) -> Self {
        let (batch_norm, init) = (config.batch_norm, config.init);
        let convs = [
            conv2d(&vs / "conv1", input, output, 3, 1, !batch_norm, init),
            conv2d(&vs / "conv2", output, output, 3, 1, !batch_norm, init),
        ];
        let norms = batch_norm.then(|| {
            [
                Norm::new(&vs / "bn1", output, config),
                Norm::new(&vs / "bn2", output, config),
            ]
        });
        DoubleConv { convs, norms }
    }

    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut x = xs.shallow_clone();
        for (i, conv) in self.convs.iter().enumerate() {
            x = x.apply(conv);
            if let Some(norms) = &self.norms {
                x = norms[i].forward_t(&x, train);
            }
            // In place: neither the convolution's nor the norm's backward needs the tensor
            // that ReLU overwrites, and one activation fewer is allocated per layer.
            x = x.relu_();
        }
        x
    }
}

/// A U-Net whose parameters live in the `VarStore` it was built from.
#[derive(Debug)]
pub struct UNet {
    config: UNetConfig,
    encoder: Vec<DoubleConv>,
    bottleneck: DoubleConv,
    upsample: Vec<nn::ConvTranspose2D>,
    decoder: Vec<DoubleConv>,
    head: nn::Conv2D,
}

impl UNet {
    /// Builds the layers under `vs`, initialised from libtorch's generator by
    /// `config.init`.
    pub fn new(vs: &nn::Path, config: &UNetConfig) -> Self {
        let b = config.base_channels;
        let init = config.init;
        let width = |stage: usize| b << stage;
        let mut encoder = Vec::with_capacity(config.depth);
        let mut input = config.in_channels;
        for stage in 0..config.depth {
            encoder.push(DoubleConv::new(
                vs / format!("enc{stage}"),
                input,
                width(stage),
                config,
            ));
            input = width(stage);
        }
        let bottleneck = DoubleConv::new(vs / "bottleneck", input, width(config.depth), config);
        let up_cfg = nn::ConvTransposeConfig {
            stride: 2,
            ws_init: nn::Init::Const(0.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let mut upsample = Vec::with_capacity(config.depth);
        let mut decoder = Vec::with_capacity(config.depth);
        for stage in (0..config.depth).rev() {
            let (i, o) = (width(stage + 1), width(stage));
            let up = nn::conv_transpose2d(vs / format!("up{stage}"), i, o, 2, up_cfg);
            init.convolution(&up.ws, up.bs.as_ref());
            upsample.push(up);
            decoder.push(DoubleConv::new(
                vs / format!("dec{stage}"),
                2 * o,
                o,
                config,
            ));
        }
        let head = conv2d(vs / "head", b, config.num_classes, 1, 0, true, init);
        let mut net = UNet {
            config: config.clone(),
            encoder,
            bottleneck,
            upsample,
            decoder,
            head,
        };
        if config.channels_last {
            net.weights_to_channels_last();
        }
        net
    }

    /// Re-lays every convolution weight out in channels-last order, in place (the
    /// parameters stay the same tensors, so the `VarStore` and optimizers see the change).
    fn weights_to_channels_last(&mut self) {
        let _guard = tch::no_grad_guard();
        let convs = self
            .encoder
            .iter_mut()
            .chain(std::iter::once(&mut self.bottleneck))
            .chain(self.decoder.iter_mut())
            .flat_map(|d| d.convs.iter_mut())
            .map(|c| &mut c.ws)
            .chain(self.upsample.iter_mut().map(|u| &mut u.ws))
            .chain(std::iter::once(&mut self.head.ws));
        for ws in convs {
            let relaid = channels_last(ws);
            ws.set_data(&relaid);
        }
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &UNetConfig {
        &self.config
    }
}

/// `t` (4-D) with channels-last strides: the same shape and values, stored NHWC.
pub fn channels_last(t: &Tensor) -> Tensor {
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

impl ModuleT for UNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let mut skips = Vec::with_capacity(self.encoder.len());
        let mut x = if self.config.channels_last {
            channels_last(xs)
        } else {
            xs.shallow_clone()
        };
        for stage in &self.encoder {
            let y = stage.forward_t(&x, train);
            x = y.max_pool2d_default(2);
            skips.push(y);
        }
        x = self.bottleneck.forward_t(&x, train);
        for ((up, dec), skip) in self
            .upsample
            .iter()
            .zip(&self.decoder)
            .zip(skips.iter().rev())
        {
            let upsampled = x.apply(up);
            x = dec.forward_t(&Tensor::cat(&[skip, &upsampled], 1), train);
        }
        x.apply(&self.head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::OptimizerConfig, Device, Kind};

    fn build(config: &UNetConfig) -> (nn::VarStore, UNet) {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = UNet::new(&vs.root(), config);
        (vs, net)
    }

    #[test]
    fn output_has_one_logit_map_per_class_at_input_size() {
        let config = UNetConfig {
            num_classes: 5,
            depth: 2,
            base_channels: 4,
            ..Default::default()
        };
        let (_vs, net) = build(&config);
        let x = Tensor::zeros([2, 3, 16, 24], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, false).size(), [2, 5, 16, 24]);
    }

    #[test]
    fn parameter_count_matches_formula_and_the_documented_figure() {
        let config = UNetConfig::default();
        assert_eq!(config.parameter_count(), 1_942_679);
        let (vs, _net) = build(&config);
        let counted: i64 = vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64;
        assert_eq!(counted, 1_942_679);
    }

    #[test]
    fn parameter_count_matches_formula_without_batch_norm() {
        let config = UNetConfig {
            in_channels: 1,
            num_classes: 2,
            base_channels: 8,
            depth: 3,
            batch_norm: false,
            channels_last: false,
            init: Init::Pytorch,
            ..Default::default()
        };
        let (vs, _net) = build(&config);
        let counted: i64 = vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .sum::<usize>() as i64;
        assert_eq!(counted, config.parameter_count());
    }

    #[test]
    fn every_parameter_receives_a_gradient() {
        let config = UNetConfig {
            depth: 2,
            base_channels: 4,
            ..Default::default()
        };
        let (vs, net) = build(&config);
        let mut opt = nn::Sgd::default().build(&vs, 0.1).expect("optimizer");
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let target = Tensor::randint(7, [2, 8, 8], (Kind::Int64, Device::Cpu));
        opt.zero_grad();
        let loss = net.forward_t(&x, true).cross_entropy_loss::<Tensor>(
            &target,
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        );
        loss.backward();
        let trainable = vs
            .variables()
            .into_iter()
            .filter(|(_, v)| v.requires_grad());
        for (name, var) in trainable {
            let grad = var.grad();
            assert!(grad.defined(), "{name} has no gradient");
            assert!(
                grad.abs().sum(Kind::Double).double_value(&[]) > 0.0,
                "{name}: zero gradient"
            );
        }
    }

    #[test]
    fn input_not_a_multiple_of_two_to_the_depth_is_refused_with_the_multiple() {
        let config = UNetConfig::default();
        let err = config
            .check_input(30, 32)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("multiples of 2^4 = 16"), "{err}");
        assert!(config.check_input(32, 48).is_ok());
    }

    #[test]
    fn channels_last_stores_weights_nhwc_and_computes_the_same_logits() {
        let config = UNetConfig {
            depth: 2,
            base_channels: 4,
            ..Default::default()
        };
        let build_seeded = |channels_last: bool| {
            tch::manual_seed(3);
            build(&UNetConfig {
                channels_last,
                ..config.clone()
            })
        };
        let (vs_last, last) = build_seeded(true);
        let (_vs, plain) = build_seeded(false);
        for (name, w) in vs_last.variables() {
            if w.dim() == 4 {
                let expected = channels_last(&w).stride();
                assert_eq!(w.stride(), expected, "{name} is not channels-last");
                assert!(
                    !w.is_contiguous() || w.size()[2] * w.size()[3] == 1,
                    "{name}"
                );
            }
        }
        let x = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
        let (a, b) = (last.forward_t(&x, false), plain.forward_t(&x, false));
        let diff = (&a - &b).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "largest difference {diff}");
        assert_eq!(a.size(), b.size());
    }

    #[test]
    fn biased_batch_norm_averages_the_batch_variance_with_n_and_normalises_alike() {
        let x = Tensor::randn([4, 3, 5, 5], (Kind::Float, Device::Cpu)) * 2.0 + 1.0;
        let config = |variance| UNetConfig {
            bn_momentum: 0.01,
            bn_eps: 1e-3,
            bn_variance: variance,
            ..Default::default()
        };
        let run = |variance| {
            let vs = nn::VarStore::new(Device::Cpu);
            let norm = Norm::new(vs.root(), 3, &config(variance));
            let y = norm.forward_t(&x, true);
            (y, norm.bn.running_mean.copy(), norm.bn.running_var.copy())
        };
        let (biased_y, mean, var) = run(BnVariance::Biased);
        let (unbiased_y, torch_mean, torch_var) = run(BnVariance::Unbiased);
        let dims = [0i64, 2, 3];
        let batch_var = x.var_correction(dims.as_slice(), 0, false);
        let expected = batch_var * 0.01 + 0.99;
        let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        assert!(close(&var, &expected) < 1e-6, "{var} against {expected}");
        assert!(close(&mean, &torch_mean) < 1e-7);
        // PyTorch's running variance takes n / (n - 1) of the batch's: 100 / 99 here.
        let unbiased = x.var_correction(dims.as_slice(), 1, false) * 0.01 + 0.99;
        assert!(close(&torch_var, &unbiased) < 1e-6);
        assert!(close(&var, &torch_var) > 1e-5);
        // Training normalises by the batch's biased variance either way.
        assert!(close(&biased_y, &unbiased_y) < 1e-6);
    }
}
