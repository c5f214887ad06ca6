"""The training Dataset of the peer's scripts: image i and mask i of two tensors, flipped
left-right together when flips are on and torch.rand(1) < 0.5, drawn on the global generator
as torchvision's RandomHorizontalFlip draws inside a Dataset's __getitem__ (with
num_workers = 0 that is the generator torch.manual_seed seeded). Iterated by
DataLoader(shuffle=True), it draws what lossbench's default batch order replays
(src/data/order.rs)."""

import torch
from torch.utils.data import Dataset


class Pairs(Dataset):
    """Image i and mask i, flipped together when `hflip` and torch.rand(1) < 0.5; each
    fetch is recorded in `fetched` (i + N for image i flipped)."""

    def __init__(self, images, masks, hflip=False):
        self.images, self.masks, self.hflip, self.fetched = images, masks, hflip, []

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        x, y = self.images[i], self.masks[i]
        flip = self.hflip and bool(torch.rand(1) < 0.5)
        if flip:
            x, y = x.flip(-1), y.flip(-1)
        self.fetched.append(i + len(self) * flip)
        return x, y
