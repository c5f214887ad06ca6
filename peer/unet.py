"""lossbench's U-Net (src/model/unet.rs) in plain PyTorch, with the same parameter names,
the same layer order and the same initialisation schemes, so that `torch.manual_seed(s)`
followed by `UNet(...)` gives bitwise the initial weights lossbench draws with seed `s`.

`depth` encoder stages `enc{s}` (two 3x3 conv + batch norm + ReLU, then a 2x2 max pool), a
`bottleneck`, then per stage from the deepest up a 2x2 stride-2 transposed convolution
`up{s}` and a decoder stage `dec{s}` on the skip concatenated with the upsampled map, and a
1x1 `head`. With batch norm the 3x3 convolutions carry no bias.

Initialisation (`init`), drawn layer by layer in construction order:
  pytorch  torch.nn's own defaults (Conv2d/ConvTranspose2d.reset_parameters: weights
           kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), biases U(+-1/sqrt(fan_in));
           batch norm weight 1, bias 0)
  keras    glorot_uniform kernels (xavier_uniform_), zero biases, batch norm weight 1
  kaiming  He normal, fan_out, ReLU gain (kaiming_normal_(mode="fan_out")), zero biases,
           batch norm weight 1
"""


import torch
import torch.nn as nn
import torch.nn.functional as F

INITS = ("pytorch", "keras", "kaiming")


def layer(cls, init, *args, **kwargs):
    """A `cls` layer built without drawing (skip_init) and then initialised by `init`."""
    m = nn.utils.skip_init(cls, *args, **kwargs)
    if init == "pytorch" or isinstance(m, nn.BatchNorm2d):
        m.reset_parameters()
        return m
    with torch.no_grad():
        if init == "keras":
            nn.init.xavier_uniform_(m.weight)
        elif init == "kaiming":
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        else:
            raise ValueError(f"unknown init {init!r}; one of {', '.join(INITS)}")
        if m.bias is not None:
            m.bias.zero_()
    return m


class DoubleConv(nn.Module):
    def __init__(self, inputs, outputs, batch_norm=True, init="pytorch"):
        super().__init__()
        self.batch_norm = batch_norm
        self.conv1 = layer(nn.Conv2d, init, inputs, outputs, 3, padding=1, bias=not batch_norm)
        self.conv2 = layer(nn.Conv2d, init, outputs, outputs, 3, padding=1, bias=not batch_norm)
        if batch_norm:
            self.bn1 = layer(nn.BatchNorm2d, init, outputs)
            self.bn2 = layer(nn.BatchNorm2d, init, outputs)

    def forward(self, x):
        x = self.conv1(x)
        if self.batch_norm:
            x = self.bn1(x)
        x = F.relu(x)
        x = self.conv2(x)
        if self.batch_norm:
            x = self.bn2(x)
        return F.relu(x)


class UNet(nn.Module):
    def __init__(self, in_channels=3, classes=7, base=16, depth=4, batch_norm=True, init="pytorch"):
        super().__init__()
        self.depth = depth
        width = [base << s for s in range(depth + 1)]
        inputs = in_channels
        for s in range(depth):
            setattr(self, f"enc{s}", DoubleConv(inputs, width[s], batch_norm, init))
            inputs = width[s]
        self.bottleneck = DoubleConv(inputs, width[depth], batch_norm, init)
        for s in reversed(range(depth)):
            setattr(self, f"up{s}", layer(nn.ConvTranspose2d, init, width[s + 1], width[s], 2, stride=2))
            setattr(self, f"dec{s}", DoubleConv(2 * width[s], width[s], batch_norm, init))
        self.head = layer(nn.Conv2d, init, base, classes, 1)

    def forward(self, x):
        skips = []
        for s in range(self.depth):
            y = getattr(self, f"enc{s}")(x)
            x = F.max_pool2d(y, 2)
            skips.append(y)
        x = self.bottleneck(x)
        for s in reversed(range(self.depth)):
            up = self.up(getattr(self, f"up{s}"), x)
            x = getattr(self, f"dec{s}")(self.join(skips[s], up))
        return self.head(x)

    def up(self, layer, x):
        """A decoder stage's upsampling (bench/variants.py tries another)."""
        return layer(x)

    def join(self, skip, x):
        """The skip connection: the encoder's map, then the upsampled one, along channels."""
        return torch.cat([skip, x], 1)


def build(seed, init="pytorch", **shape):
    """`torch.manual_seed(seed)`, then the U-Net: what lossbench does for a run's seed."""
    torch.manual_seed(seed)
    return UNet(init=init, **shape)


