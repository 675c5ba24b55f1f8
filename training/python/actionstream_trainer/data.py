"""Reader of a prepared clip dataset (written by the Go package training/dataset).

Layout of a dataset directory:
  dataset.json   the index: labels, clip geometry, normalisation, splits
  lut.f32        3x256 little-endian float32: the value the serving decoder gives each
                 byte of each RGB channel, (v/255 - mean)/std computed in float32 by Go
  <split>.u8     the split's clips, uint8 [N][3][T][Q][Q], C order

Clips are stored as the bytes the decoder's scaler produced; the float conversion
is a table look-up in the decoder's own table, so a stored clip converts to the very
float32 values the server feeds the model (the Go test checks this bit for bit).
A clip is a Q x Q square of the frame resized to short side R; its S x S window at
(crop_offset, crop_offset) is exactly the server's centre crop.
"""
import json
import os

import numpy as np

FORMAT = "actionstream-clips"
SCHEMA_VERSION = 1


class DatasetError(ValueError):
    pass


class Split:
    def __init__(self, name, clips, labels, items):
        self.name = name
        self.clips = clips      # uint8 memmap [N,3,T,Q,Q]
        self.labels = labels    # int64 [N]
        self.items = items      # per-clip provenance dicts

    def __len__(self):
        return len(self.labels)


class Dataset:
    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "dataset.json"), encoding="utf-8") as f:
            idx = json.load(f)
        if idx.get("format") != FORMAT or idx.get("schema_version") != SCHEMA_VERSION:
            raise DatasetError(f"{root}: not an {FORMAT} v{SCHEMA_VERSION} dataset")
        self.index = idx
        self.labels = list(idx["labels"])
        self.frames = int(idx["frames"])
        self.size = int(idx["size"])
        self.store_size = int(idx["store_size"])
        self.crop_offset = int(idx["crop_offset"])
        if self.crop_offset < 0 or self.crop_offset + self.size > self.store_size:
            raise DatasetError(f"crop_offset {self.crop_offset} outside the stored square")
        lut = np.fromfile(os.path.join(root, idx.get("lut", "lut.f32")), dtype="<f4")
        if lut.size != 3 * 256:
            raise DatasetError(f"lut has {lut.size} values, want 768")
        self.lut = lut.reshape(3, 256).astype(np.float32)
        self.splits = {}
        shape = (3, self.frames, self.store_size, self.store_size)
        for name, sp in idx["splits"].items():
            n = int(sp["clips"])
            labels = np.asarray(sp["labels"], dtype=np.int64)
            if labels.shape != (n,):
                raise DatasetError(f"split {name}: {labels.size} labels for {n} clips")
            if n and (labels.min() < 0 or labels.max() >= len(self.labels)):
                raise DatasetError(f"split {name}: label index out of range")
            path = os.path.join(root, sp["file"])
            want = n * int(np.prod(shape))
            have = os.path.getsize(path) if os.path.exists(path) else -1
            if have != want:
                raise DatasetError(f"{path}: {have} bytes, want {want}")
            clips = np.memmap(path, dtype=np.uint8, mode="r", shape=(n,) + shape) if n else \
                np.zeros((0,) + shape, dtype=np.uint8)
            self.splits[name] = Split(name, clips, labels, sp.get("items", []))

    def split(self, name):
        if name not in self.splits:
            raise DatasetError(f"no split {name!r} (have {sorted(self.splits)})")
        return self.splits[name]


def to_float(u8, lut):
    """uint8 clips [N,3,T,H,W] -> float32 via the decoder's per-channel table (torch
    tensors on one device). Pure indexing, so the values are the decoder's exactly."""
    import torch
    n, c = u8.shape[0], u8.shape[1]
    out = torch.empty(u8.shape, dtype=torch.float32, device=u8.device)
    idx = u8.long()
    for ch in range(c):
        out[:, ch] = lut[ch][idx[:, ch]]
    del n
    return out


def centre(x, offset, size):
    return x[..., offset:offset + size, offset:offset + size]
