"""A randomly initialised YOLO11n that answers like a model: input-dependent boxes and scores, well conditioned.

The plain untrained checkpoint is useless for parity checks: its activations shrink ~4x per layer, so every
frame gives the same near-zero scores (max ~1e-3) and fp16 underflows. Recalibrating batch norm to unit variance
alone makes it chaotic (a 1e-4 input change moves boxes by 15 px), which no trained model is. Here batch norm is
recalibrated on drawn frames with a positive shift (beta = 3: most SiLUs work in their linear part, the ordered
regime), then the head's last convs are rescaled so class logits are ~N(-5, 1) and box logits ~N(0, 1): about
10-30 boxes per frame at conf 0.25, and fp16 input rounding moves boxes by ~0.1 px.
Imported by sibling test modules (pytest puts this folder on sys.path).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vision.taxonomy import Taxonomy


def drawn_frames(n: int, seed: int, h: int = 240, w: int = 320) -> list[np.ndarray]:
    """Grey belt-like frames with coloured discs, BGR uint8."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        img = np.full((h, w, 3), 60, np.uint8)
        for _ in range(6):
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            centre = (int(rng.integers(20, w - 20)), int(rng.integers(20, h - 20)))
            cv2.circle(img, centre, int(rng.integers(10, 40)), colour, -1)
        frames.append(img)
    return frames


def build_conditioned_checkpoint(path: Path, taxonomy: Taxonomy, seed: int = 0) -> Path:
    """`build_untrained_checkpoint` with batch norm and head calibrated as described above; saved at ``path``."""
    import torch
    from ultralytics import YOLO

    from tests.training.testing_models import build_untrained_checkpoint

    build_untrained_checkpoint(path, taxonomy, seed=seed)
    yolo = YOLO(str(path))
    model = yolo.model.float()
    head = model.model[-1]
    gen = torch.Generator().manual_seed(1000 + seed)
    calib = np.stack(drawn_frames(8, seed=99, h=320, w=320))[..., ::-1].copy()
    x = torch.from_numpy(calib).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_running_stats()
                mod.momentum = None  # cumulative average over the calibration pass
                mod.weight.fill_(1.0)
                mod.bias.fill_(3.0)
        model.train()
        model(x)
        model.eval()
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.momentum = 0.03
        lasts = [(seq[-1], "cls") for seq in head.cv3] + [(seq[-1], "box") for seq in head.cv2]
        outputs: dict[int, torch.Tensor] = {}
        hooks = []
        for i, (conv, _) in enumerate(lasts):
            torch.nn.init.normal_(conv.weight, 0.0, 1.0, generator=gen)
            conv.bias.zero_()
            hooks.append(conv.register_forward_hook(lambda _m, _i, out, i=i: outputs.__setitem__(i, out)))
        model(x)
        for h in hooks:
            h.remove()
        for i, (conv, kind) in enumerate(lasts):
            mean, std = (-5.0, 1.0) if kind == "cls" else (0.0, 1.0)
            mu, sd = outputs[i].mean(dim=(0, 2, 3)), outputs[i].std(dim=(0, 2, 3))
            scale = std / sd
            conv.weight.mul_(scale[:, None, None, None])
            conv.bias.copy_(mean - mu * scale)
    yolo.save(str(path))
    return path
