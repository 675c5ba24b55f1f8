"""Unit tests of checkpoint loading (importer.load_state): what the weights-only
path reads, and that a pickle which would run code is refused in both torch file
formats without running it."""
import collections
import os
import tempfile
import unittest

import numpy as np
import torch

from actionstream_trainer import importer


class _MakesDir:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


class LoadStateTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def save(self, obj, legacy=False):
        p = os.path.join(self.dir, "ck.pt")
        torch.save(obj, p, _use_new_zipfile_serialization=not legacy)
        return p

    def test_plain_containers_and_numpy(self):
        for legacy in (False, True):
            ck = {"epoch": 3, "lr": 0.1, "cfg": "X3D:\n  WIDTH_FACTOR: 2.0\n", "meta": {"best": np.float64(0.7), "hist": np.zeros(3)},
                  "model_state": collections.OrderedDict([("module.a.weight", torch.ones(2)), ("a.bias", torch.zeros(2))])}
            got = importer.load_state(self.save(ck, legacy))
            self.assertEqual(list(got), ["a.weight", "a.bias"])
            self.assertTrue(torch.equal(got["a.weight"], torch.ones(2)))

    def test_code_running_pickle_refused(self):
        for legacy in (False, True):
            trap = os.path.join(self.dir, f"trap-{legacy}")
            p = self.save({"lr": 0.5, "model_state": {"w": torch.ones(1)}, "hook": _MakesDir(trap)}, legacy)
            with self.assertRaisesRegex(importer.ImportError_, r"refused to unpickle: global posix\.mkdir is not allowed"):
                importer.load_state(p)
            self.assertFalse(os.path.exists(trap))
            # Trusted, it is a plain torch.load: the code runs, which is why it is opt-in.
            importer.load_state(p, trust=True)
            self.assertTrue(os.path.isdir(trap))

    def test_not_a_checkpoint(self):
        p = os.path.join(self.dir, "x.pt")
        with open(p, "wb") as f:
            f.write(b"\x00\x01 nonsense")
        with self.assertRaisesRegex(importer.ImportError_, "not a PyTorch checkpoint"):
            importer.load_state(p)
        with self.assertRaisesRegex(importer.ImportError_, "no tensors"):
            importer.load_state(self.save({"model_state": {"step": 3}}))


if __name__ == "__main__":
    unittest.main()
