"""Step-time variants that were tried for lossbench's step and not kept (BENCHMARKS.md).

Each variant is the U-Net of bench/pytorch_step.py in channels-last with one change that
keeps the maths (same parameters, same outputs up to float rounding) but runs other
kernels of the same libtorch. The variants take turns, round after round, two timed steps
each; the driver prints each one's median step time and its ratio to plain channels-last.

  cl              the model and input in channels-last (the baseline; what lossbench runs)
  matmul_upsample the 2x2 stride-2 transposed convolutions as one matrix product and a
                  reshuffle (their outputs do not overlap), instead of oneDNN's deconvolution
  decoder_nchw    the decoder's convolutions on NCHW tensors (the concatenation made
                  contiguous), as oneDNN's NCHW kernels differ from its channels-last ones
  nchw_wgrad      every 3x3 convolution's weight gradient computed on NCHW copies of its
                  input and output gradient (the forward pass and the input gradient stay
                  channels-last)

  python bench/variants.py --height 96 --width 128 --rounds 4
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pytorch_step as ps  # noqa: E402

CL = torch.channels_last
conv_backward = torch.ops.aten.convolution_backward


def matmul_upsample(x, up):
    """`up` (ConvTranspose2d, kernel 2, stride 2) of `x` as `x @ W` and a reshuffle."""
    n, c, h, w = x.shape
    out = up.weight.shape[1]
    rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c)
    weight = up.weight.permute(0, 2, 3, 1).reshape(c, 4 * out)
    y = torch.addmm(up.bias.repeat(4), rows, weight)
    y = y.reshape(n, h, w, 2, 2, out).permute(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, out)
    return y.permute(0, 3, 1, 2)


class NchwWeightGrad(torch.autograd.Function):
    """A 3x3, padding 1 convolution whose weight gradient is computed on NCHW tensors."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return torch.conv2d(x, weight, padding=1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        args = (None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
        gx = None
        if ctx.needs_input_grad[0]:
            gx = conv_backward(grad, x, weight, *args, [True, False, False])[0]
        gw = conv_backward(grad.contiguous(), x.contiguous(), weight.contiguous(), *args, [False, True, False])[1]
        return gx, gw.contiguous(memory_format=CL)


class NchwWeightGradConv(nn.Conv2d):
    def forward(self, x):
        return NchwWeightGrad.apply(x, self.weight)


def use_nchw_weight_grad(module):
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and child.kernel_size == (3, 3):
            conv = NchwWeightGradConv(child.in_channels, child.out_channels, 3, padding=1, bias=False)
            conv.weight = child.weight
            setattr(module, name, conv)
        else:
            use_nchw_weight_grad(child)


class Variant(ps.UNet):
    def __init__(self, args, name):
        super().__init__(3, args.classes, args.base, args.depth)
        self.name = name
        if name == "nchw_wgrad":
            use_nchw_weight_grad(self)

    def up(self, layer, x):
        return matmul_upsample(x, layer) if self.name == "matmul_upsample" else layer(x)

    def join(self, skip, x):
        joined = torch.cat([skip, x], 1)
        return joined.contiguous() if self.name == "decoder_nchw" else joined


VARIANTS = ["cl", "matmul_upsample", "decoder_nchw", "nchw_wgrad"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps.add_step_args(p)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    xs = torch.rand(args.batch, 3, args.height, args.width)
    ys = torch.randint(args.classes, (args.batch, args.height, args.width))
    steps, first = {}, {}
    for name in VARIANTS:
        torch.manual_seed(0)
        net = Variant(args, name).to(memory_format=CL)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def step(net=net, opt=opt):
            loss = F.cross_entropy(net(xs.contiguous(memory_format=CL)), ys)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss.item()

        first[name] = step()
        step()
        steps[name] = step
    base = first["cl"]
    for name, loss in first.items():
        if abs(loss - base) > 1e-4 * abs(base):
            sys.exit(f"{name} computes another loss ({loss} against {base})")
    times = {name: [] for name in VARIANTS}
    for r in range(args.rounds):
        for name in VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)]:
            for _ in range(2):
                start = time.perf_counter()
                steps[name]()
                times[name].append(time.perf_counter() - start)
    cl = statistics.median(times["cl"])
    print(f"{args.height}x{args.width}, batch {args.batch}, {args.threads} threads, "
          f"medians of {2 * args.rounds} steps")
    for name, t in times.items():
        print(f"  {name:16} {1e3 * statistics.median(t):6.0f} ms  {statistics.median(t) / cl:.3f}x cl")


if __name__ == "__main__":
    main()
