//! The optimizers, written on tensors so that their state (Adam's moments, SGD's momentum
//! buffers, the step count) can be saved in a checkpoint and restored: tch's optimizers keep
//! theirs inside libtorch, out of reach. Each follows PyTorch's single-tensor implementation
//! (`torch.optim.Adam`, `AdamW` and `SGD`, the one PyTorch runs on CPU) operation for
//! operation; `tests/parity.rs` checks them against the venv's PyTorch.

use std::collections::BTreeMap;

use anyhow::Context;
use tch::{nn, Tensor};

use crate::config::{OptimConfig, Optimizer};

/// Adam's and AdamW's betas: PyTorch's (and Keras') defaults. Their ε is `optim.eps`.
pub const BETAS: (f64, f64) = (0.9, 0.999);

/// One parameter and its state.
struct Slot {
    name: String,
    param: Tensor,
    /// Adam: the first and second moments; SGD: the momentum buffer (first only, once the
    /// first step has made it).
    first: Option<Tensor>,
    second: Option<Tensor>,
}

/// An optimizer over the trainable variables of a [`nn::VarStore`].
pub struct Optim {
    config: OptimConfig,
    /// The learning rate of the next step (the schedule's, set by the training loop).
    lr: f64,
    slots: Vec<Slot>,
    /// Steps taken.
    step: i64,
}

impl Optim {
    /// The optimizer of `config` over the trainable variables of `vars`, in name order.
    pub fn new(config: &OptimConfig, vars: &nn::VarStore) -> Self {
        let named: BTreeMap<String, Tensor> = vars
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        let adam = matches!(config.name, Optimizer::Adam | Optimizer::Adamw);
        let slots = named
            .into_iter()
            .map(|(name, param)| Slot {
                first: adam.then(|| param.zeros_like()),
                second: adam.then(|| param.zeros_like()),
                name,
                param,
            })
            .collect();
        Optim {
            lr: config.lr,
            config: config.clone(),
            slots,
            step: 0,
        }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Zeroes every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.param.zero_grad();
        }
    }

    /// One step with the gradients the last backward pass left.
    pub fn step(&mut self) {
        self.step += 1;
        let o = &self.config;
        let (lr, wd) = (self.lr, o.weight_decay);
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.param.grad();
                if !grad.defined() {
                    continue;
                }
                match o.name {
                    Optimizer::Adam | Optimizer::Adamw => {
                        let grad = if o.name == Optimizer::Adam && wd != 0.0 {
                            &grad + &s.param * wd
                        } else {
                            grad
                        };
                        if o.name == Optimizer::Adamw && wd != 0.0 {
                            let _ = s.param.g_mul_scalar_(1.0 - lr * wd);
                        }
                        adam_update(s, &grad, lr, self.step, o.eps, o.eps_hat);
                    }
                    Optimizer::Sgd => {
                        let grad = if wd != 0.0 {
                            &grad + &s.param * wd
                        } else {
                            grad
                        };
                        let direction = if o.momentum != 0.0 {
                            match &mut s.first {
                                Some(buffer) => {
                                    let _ = buffer.g_mul_scalar_(o.momentum);
                                    let _ = buffer.g_add_(&grad);
                                    buffer.shallow_clone()
                                }
                                None => {
                                    let buffer = grad.detach().copy();
                                    s.first = Some(buffer.shallow_clone());
                                    buffer
                                }
                            }
                        } else {
                            grad
                        };
                        let _ = s.param.g_sub_(&(direction * lr));
                    }
                }
            }
        });
    }

    /// The state as named tensors (`optim.step`, `optim.first.<param>`,
    /// `optim.second.<param>`), for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("optim.step".to_string(), Tensor::from(self.step))];
        for s in &self.slots {
            for (kind, t) in [("first", &s.first), ("second", &s.second)] {
                if let Some(t) = t {
                    out.push((format!("optim.{kind}.{}", s.name), t.shallow_clone()));
                }
            }
        }
        out
    }

    /// Restores the state [`Optim::state`] gave, from `tensors` by name; an error names the
    /// first tensor that is missing or of the wrong shape.
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>) -> anyhow::Result<()> {
        let step = tensors
            .get("optim.step")
            .ok_or_else(|| anyhow::anyhow!("the checkpoint has no optim.step"))?;
        self.step = step.int64_value(&[]);
        for s in &mut self.slots {
            for (kind, slot) in [("first", &mut s.first), ("second", &mut s.second)] {
                let name = format!("optim.{kind}.{}", s.name);
                match tensors.get(&name) {
                    Some(saved) if saved.size() != s.param.size() => anyhow::bail!(
                        "{name} has shape {:?} in the checkpoint, the parameter {:?}",
                        saved.size(),
                        s.param.size()
                    ),
                    Some(saved) => *slot = Some(saved.to_device(s.param.device()).copy()),
                    // Adam's moments always exist; SGD's buffer only after its first step.
                    None if slot.is_some() => anyhow::bail!("the checkpoint has no {name}"),
                    None => {}
                }
            }
        }
        Ok(())
    }
}

/// PyTorch's single-tensor Adam update of one parameter at step `step` (1-based), on a
/// gradient that already holds Adam's L2 weight decay.
fn adam_update(s: &mut Slot, grad: &Tensor, lr: f64, step: i64, eps: f64, eps_hat: bool) {
    let (Some(m), Some(v)) = (&mut s.first, &mut s.second) else {
        return;
    };
    let (beta1, beta2) = BETAS;
    // Python's float power, as PyTorch computes it.
    let bias_correction1 = 1.0 - beta1.powf(step as f64);
    let bias_correction2 = 1.0 - beta2.powf(step as f64);
    if eps_hat {
        // Keras' Adam.update_step: m += (g - m)(1 - β1), v += (g² - v)(1 - β2),
        // α = lr √(1 - β2ᵗ) / (1 - β1ᵗ), θ -= α m / (√v + ε).
        let _ = m.lerp_(grad, 1.0 - beta1);
        let _ = v.g_add_(&((grad.square() - &*v) * (1.0 - beta2)));
        let alpha = lr * bias_correction2.sqrt() / bias_correction1;
        let mut denom = v.sqrt();
        let _ = denom.g_add_scalar_(eps);
        let _ = s.param.addcdiv_(&(&*m * -alpha), &denom);
        return;
    }
    // exp_avg.lerp_(grad, 1 - beta1)
    let _ = m.lerp_(grad, 1.0 - beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    let _ = v.g_mul_scalar_(beta2);
    let _ = v.addcmul_(&(grad * (1.0 - beta2)), grad);
    let step_size = lr / bias_correction1;
    // denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps), one buffer
    let mut denom = v.sqrt();
    let _ = denom.g_div_scalar_(bias_correction2.sqrt());
    let _ = denom.g_add_scalar_(eps);
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    let _ = s.param.addcdiv_(&(&*m * -step_size), &denom);
}

/// What a checkpoint holds of a training, for [`checkpoint::write`]: every variable of the
/// network (weights and batch-norm statistics) as `model.<name>`, then `optim`'s state
/// ([`Optim::state`]).
///
/// libtorch's generator is not saved: it is drawn from only while the network is
/// initialised (no dropout, no random augmentation inside libtorch), and a resumed run
/// restores the initialised weights from the checkpoint, so nothing draws from it again.
///
/// [`checkpoint::write`]: crate::store::checkpoint::write
pub fn checkpoint_tensors(vars: &nn::VarStore, optim: &Optim) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vars
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("model.{name}"), t.detach().contiguous()))
        .collect();
    named.extend(
        optim
            .state()
            .into_iter()
            .map(|(name, t)| (name, t.contiguous())),
    );
    named
}

/// Copies the variables [`checkpoint_tensors`] saved in `tensors` into `vars` and the saved
/// state into `optim`; an error names the first variable that is missing or of another
/// shape.
pub fn restore_checkpoint(
    tensors: &BTreeMap<String, Tensor>,
    vars: &nn::VarStore,
    optim: &mut Optim,
) -> anyhow::Result<()> {
    tch::no_grad(|| -> anyhow::Result<()> {
        for (name, mut var) in vars.variables() {
            let key = format!("model.{name}");
            let saved = tensors
                .get(&key)
                .with_context(|| format!("the checkpoint has no {key}"))?;
            if saved.size() != var.size() {
                anyhow::bail!(
                    "{key} has shape {:?} in the checkpoint, the network {:?}",
                    saved.size(),
                    var.size()
                );
            }
            var.copy_(saved);
        }
        Ok(())
    })?;
    optim.restore(tensors)
}
