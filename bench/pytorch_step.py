"""The PyTorch side of `make bench`: lossbench's U-Net, losses and training step in plain
PyTorch eager, on the venv's own torch (the libtorch lossbench links).

Subcommands (each prints JSON lines on stdout):

  step    time training steps: forward, loss, zero_grad, backward, Adam step, on --device
          (cpu or cuda, synchronised before each time is taken) in --precision (bf16 and
          fp16 under torch.autocast, the loss on float32 logits, fp16 with GradScaler)
  flops   count one training step's FLOPs with torch.utils.flop_counter
  matmul  the fp32 matmul rate (2048 x 2048 by default) with the same threads
  sweep   train runs (losses x seeds) one after another, each epoch a training pass and
          an evaluation pass (validation loss and confusion matrix), like lossbench's runs
  check   the network's parameter count, and each loss of the logits and targets in the
          JSON file --input ({"shape": [N, C, H, W], "logits": [...], "targets": [...]});
          tests/bench.rs compares both with lossbench's own

The network and the losses are peer/'s: the U-Net of src/model/unet.rs with PyTorch's
initialisation (peer/unet.py), `cce` and the soft multi-class `dice` of src/losses.rs
(peer/losses.py).
"""

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "peer"))
import losses  # noqa: E402
from unet import UNet  # noqa: E402

LOSSES = {"cce": losses.cce, "dice": losses.dice}


def model(args, seed=0):
    torch.manual_seed(seed)
    net = UNet(3, args.classes, args.base, args.depth).to(args.device)
    if args.layout == "channels_last":
        net = net.to(memory_format=torch.channels_last)
    return net


def data(args, images, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs = torch.rand(images, 3, args.height, args.width, generator=g)
    ys = torch.randint(args.classes, (images, args.height, args.width), generator=g)
    return xs, ys


def layout(args, xs):
    if args.layout == "channels_last":
        return xs.contiguous(memory_format=torch.channels_last)
    return xs


DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def make_step(args, net, opt):
    loss_fn = LOSSES[args.loss]
    dtype = DTYPES[args.precision]
    device_type = torch.device(args.device).type
    scaler = torch.amp.GradScaler(device_type) if args.precision == "fp16" else None

    def step(xs, ys):
        with torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits = net(layout(args, xs))
        loss = loss_fn(logits.float(), ys)
        opt.zero_grad()
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        return loss.detach()

    return step


def cmd_step(args):
    net = model(args)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = make_step(args, net, opt)
    images, masks = data(args, 4 * args.batch)
    images, masks = images.to(args.device), masks.to(args.device)
    order = torch.randperm(images.shape[0]).to(args.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=args.device)
    cuda = torch.device(args.device).type == "cuda"
    for i in range(args.warmup + args.steps):
        start = (i * args.batch) % images.shape[0]
        idx = order[start : start + args.batch]
        t0 = time.perf_counter()
        loss_sum += step(images.index_select(0, idx), masks.index_select(0, idx))
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if i >= args.warmup:
            print(json.dumps({"step_seconds": seconds}), flush=True)
    if not torch.isfinite(loss_sum):
        sys.exit("the loss is not finite")


def cmd_flops(args):
    from torch.utils.flop_counter import FlopCounterMode

    net = model(args)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    step = make_step(args, net, opt)
    xs, ys = data(args, args.batch)
    step(xs, ys)
    counter = FlopCounterMode(display=False)
    with counter:
        step(xs, ys)
    print(json.dumps({"flops": counter.get_total_flops()}))


def cmd_matmul(args):
    n = args.n
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    print(json.dumps({"matmul_gflops": 2 * n**3 / seconds / 1e9, "seconds": seconds}))


def evaluate(args, net, xs, ys):
    """Validation loss (mean over images) and the confusion matrix by bincount."""
    loss_fn = LOSSES[args.loss]
    c = args.classes
    confusion = torch.zeros(c * c, dtype=torch.int64, device=xs.device)
    loss_sum = 0.0
    net.eval()
    with torch.inference_mode():
        for start in range(0, xs.shape[0], args.batch):
            x = layout(args, xs[start : start + args.batch])
            y = ys[start : start + args.batch]
            logits = net(x)
            loss_sum += loss_fn(logits, y).item() * x.shape[0]
            pred = logits.argmax(1)
            confusion += torch.bincount((y * c + pred).reshape(-1), minlength=c * c)
    net.train()
    confusion = confusion.reshape(c, c).double()
    tp = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = tp[union > 0] / union[union > 0]
    return loss_sum / xs.shape[0], iou.mean().item()


def cmd_sweep(args):
    start = time.perf_counter()
    train_x, train_y = (t.to(args.device) for t in data(args, args.train_images, seed=0))
    val_x, val_y = (t.to(args.device) for t in data(args, args.val_images, seed=1))
    runs = 0
    for loss in args.losses.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            args.loss = loss
            run_start = time.perf_counter()
            net = model(args, seed)
            net.train()
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            step = make_step(args, net, opt)
            steps = args.train_images // args.batch
            g = torch.Generator().manual_seed(seed)
            for epoch in range(args.epochs):
                order = torch.randperm(args.train_images, generator=g).to(args.device)
                loss_sum = torch.zeros((), dtype=torch.float64, device=args.device)
                for s in range(steps):
                    idx = order[s * args.batch : (s + 1) * args.batch]
                    loss_sum += step(train_x.index_select(0, idx), train_y.index_select(0, idx))
                val_loss, miou = evaluate(args, net, val_x, val_y)
            runs += 1
            print(
                json.dumps(
                    {
                        "run": f"{loss},seed={seed}",
                        "seconds": time.perf_counter() - run_start,
                        "train_loss": loss_sum.item() / steps,
                        "val_loss": val_loss,
                        "val_miou": miou,
                    }
                ),
                flush=True,
            )
    print(json.dumps({"runs": runs, "sweep_seconds": time.perf_counter() - start}))


def cmd_check(args):
    case = json.loads(Path(args.input).read_text())
    n, c, h, w = case["shape"]
    logits = torch.tensor(case["logits"], dtype=torch.float32).reshape(n, c, h, w)
    targets = torch.tensor(case["targets"], dtype=torch.int64).reshape(n, h, w)
    net = UNet(3, args.classes, args.base, args.depth)
    parameters = sum(p.numel() for p in net.parameters())
    losses = {name: fn(logits, targets).item() for name, fn in LOSSES.items()}
    print(json.dumps({"parameters": parameters, "losses": losses}))


def add_step_args(p):
    """The options that shape a step: image size, batch, network, threads (shared with
    bench/variants.py)."""
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--base", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--classes", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=sorted(DTYPES), default="fp32")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["step", "flops", "matmul", "sweep", "check"])
    add_step_args(p)
    p.add_argument("--loss", choices=sorted(LOSSES), default="cce")
    p.add_argument("--layout", choices=["default", "channels_last"], default="default")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--n", type=int, default=2048, help="matmul side")
    p.add_argument("--reps", type=int, default=10, help="matmul repetitions")
    p.add_argument("--losses", default="cce,dice", help="sweep: losses")
    p.add_argument("--seeds", default="1,2,3", help="sweep: seeds")
    p.add_argument("--train-images", type=int, default=128)
    p.add_argument("--val-images", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--input", help="check: the JSON file of logits and targets")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    commands = {"step": cmd_step, "flops": cmd_flops, "matmul": cmd_matmul, "sweep": cmd_sweep, "check": cmd_check}
    commands[args.command](args)


if __name__ == "__main__":
    main()
