"""The PyTorch side of lossbench's parity tests (tests/parity.rs). Each subcommand prints
one JSON object on stdout.

  init   builds peer/unet.py's U-Net after torch.manual_seed(--seed) with --init and
         compares every parameter and buffer, bitwise, with the tensors lossbench wrote to
         --weights (a safetensors file of its VarStore)
  train  trains that U-Net with torch.optim.Adam (PyTorch's defaults, --lr) for --steps
         steps on the images and masks in --input (safetensors: images [N, C, H, W] f32,
         masks [N, H, W] i64, val_images and val_masks), drawing batches of --batch from
         DataLoader(shuffle=True) over a Dataset that flips an image and its mask together
         when --hflip and torch.rand(1) < 0.5 (RandomHorizontalFlip's draw); prints every
         step's loss, the items fetched (i + N for a flipped image i) and the validation
         loss after the last step (batch norm in evaluation mode); with --precision bf16
         or fp16 the forward pass runs under torch.autocast("cpu", dtype), the loss on its
         float32 logits, and fp16 scales the loss with torch.amp.GradScaler("cpu")
         (also printed: the steps it skipped and its last scale)
  optim  runs torch.optim's --optimizer (adam, adamw or sgd, with --lr, --weight-decay,
         --momentum) on the parameters param.<i> of --input for --steps steps, each with the
         gradients grad.<t>.<i> set by hand, and prints the parameters after the last step
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import losses  # noqa: E402
import tensors  # noqa: E402
from pairs import Pairs  # noqa: E402
from unet import build  # noqa: E402


def shape_args(p):
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--init", default="pytorch")
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--classes", type=int, default=7)
    p.add_argument("--base", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--no-batch-norm", action="store_true")
    p.add_argument("--channels-last", action="store_true",
                   help="weights and inputs in torch.channels_last, as lossbench's model.channels_last")


def network(args):
    net = build(
        args.seed,
        args.init,
        in_channels=args.in_channels,
        classes=args.classes,
        base=args.base,
        depth=args.depth,
        batch_norm=not args.no_batch_norm,
    )
    return net.to(memory_format=torch.channels_last) if args.channels_last else net


def layout(args, x):
    """`x` in the memory layout of --channels-last."""
    return x.contiguous(memory_format=torch.channels_last) if args.channels_last else x


def cmd_init(args):
    net = network(args)
    ours = net.state_dict()
    theirs = tensors.read(args.weights)
    report = {"missing": sorted(set(ours) - set(theirs) - {k for k in ours if k.endswith("num_batches_tracked")}),
              "extra": sorted(set(theirs) - set(ours)), "tensors": {}}
    for name, t in theirs.items():
        if name not in ours:
            continue
        mine = ours[name].contiguous()
        same_shape = list(mine.shape) == list(t.shape)
        equal = same_shape and torch.equal(mine, t)
        report["tensors"][name] = {
            "bitwise_equal": bool(equal),
            "max_abs_difference": float((mine.double() - t.double()).abs().max()) if same_shape and t.numel() else None,
            "shape": list(mine.shape),
        }
    print(json.dumps(report))


def cmd_train(args):
    data = tensors.read(args.input)
    net = network(args)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    loss_fn = losses.LOSSES[args.loss]
    ignore = args.ignore_index
    pairs = Pairs(data["images"], data["masks"], args.hflip)
    loader = DataLoader(pairs, batch_size=args.batch, shuffle=True, num_workers=0)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.precision]
    scaler = torch.amp.GradScaler("cpu") if args.precision == "fp16" else None
    steps, used, skipped = [], 0, 0
    while len(steps) < args.steps:
        for x, y in loader:
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                logits = net(layout(args, x))
            loss = loss_fn(logits.float(), y, ignore)
            opt.zero_grad()
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scale = scaler.get_scale()
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                skipped += scaler.get_scale() < scale
            steps.append(loss.item())
            used += x.shape[0]
            if len(steps) == args.steps:
                break
    net.eval()
    with torch.no_grad():
        val = loss_fn(net(layout(args, data["val_images"])), data["val_masks"], ignore).item()
    report = {"steps": steps, "fetched": pairs.fetched[:used], "val_loss": val}
    if scaler is not None:
        report.update(skipped=int(skipped), scale=scaler.get_scale())
    print(json.dumps(report))


def cmd_optim(args):
    given = tensors.read(args.input)
    count = len([n for n in given if n.startswith("param.")])
    params = [given[f"param.{i}"].clone().requires_grad_(True) for i in range(count)]
    if args.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    elif args.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    else:
        opt = torch.optim.SGD(
            params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
        )
    for t in range(args.steps):
        opt.zero_grad()
        for i, p in enumerate(params):
            p.grad = given[f"grad.{t}.{i}"].clone()
        opt.step()
    json.dump(
        {"params": [p.detach().flatten().tolist() for p in params]},
        sys.stdout,
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init")
    shape_args(init)
    init.add_argument("--weights", required=True)
    train = sub.add_parser("train")
    shape_args(train)
    train.add_argument("--input", required=True)
    train.add_argument("--loss", choices=sorted(losses.LOSSES), required=True)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch", type=int, required=True)
    train.add_argument("--steps", type=int, required=True)
    train.add_argument("--hflip", action="store_true")
    train.add_argument("--ignore-index", type=int, default=None)
    train.add_argument("--threads", type=int, default=1)
    train.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    optim = sub.add_parser("optim")
    optim.add_argument("--input", required=True)
    optim.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], required=True)
    optim.add_argument("--lr", type=float, required=True)
    optim.add_argument("--weight-decay", type=float, default=0.0)
    optim.add_argument("--momentum", type=float, default=0.0)
    optim.add_argument("--steps", type=int, required=True)
    args = p.parse_args()
    torch.set_num_threads(getattr(args, "threads", 1))
    {"init": cmd_init, "train": cmd_train, "optim": cmd_optim}[args.command](args)


if __name__ == "__main__":
    main()
