"""Starting a grader from the detector's backbone instead of random weights.

The shared real photos hold a few hundred fruit, too few to learn a classifier's features from scratch, and nothing
pretrained can be downloaded. The project's own detector has seen thousands of renders and every real training photo,
and YOLO11's classification and detection models of one scale share their first nine layers (convolutions and C3k2
blocks, identical shapes), so those layers can start from the detector's. Only whole layers of the same kind are
copied: layer 9 is SPPF in the detector and C2PSA in the classifier, and tensors that merely happen to share a name
and a shape there would be noise, not features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.train import TrainError


@dataclass(frozen=True)
class BackboneTransfer:
    """What an init checkpoint took from the detector: the layers (indices), tensors and parameters copied."""

    layers: tuple[int, ...]
    tensors: int
    parameters: int


def _detector_module(weights: Path) -> object:
    """The detector's torch module from an ultralytics checkpoint (EMA weights when present, as ultralytics loads)."""
    import torch

    if not weights.is_file():
        raise TrainError(f"--init-from {weights} is not a file; give a detector's weights (.pt), "
                         "e.g. vision/default_model/weights.pt")
    try:
        ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    except Exception as exc:  # a torch pickle of anything else fails in many ways; name the file either way
        raise TrainError(f"--init-from {weights} is not a torch checkpoint: {exc}") from exc
    module = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if module is None or not hasattr(module, "model"):
        raise TrainError(f"--init-from {weights} holds no ultralytics model ('ema' or 'model')")
    return module.float()


def build_init_checkpoint(detector_weights: Path, scale: str, out: Path) -> BackboneTransfer:
    """Write ``out``: an ultralytics checkpoint of YOLO11<scale>-cls whose leading layers are the detector's, for
    ``model.train(pretrained=out)``; raise TrainError when the detector shares no layer with it (another scale)."""
    import torch
    from ultralytics.nn.tasks import ClassificationModel

    detector = _detector_module(detector_weights)
    classifier = ClassificationModel(f"yolo11{scale}-cls.yaml", verbose=False)
    copied: list[int] = []
    tensors = parameters = 0
    for index, (src, dst) in enumerate(zip(detector.model, classifier.model, strict=False)):  # type: ignore[attr-defined]
        src_state, dst_state = src.state_dict(), dst.state_dict()
        same_kind = type(src) is type(dst) and src_state.keys() == dst_state.keys()
        if not same_kind or any(src_state[k].shape != v.shape for k, v in dst_state.items()):
            break  # the shared trunk ends at the first layer that differs
        dst.load_state_dict(src_state)
        copied.append(index)
        tensors += len(dst_state)
        parameters += sum(p.numel() for p in dst.parameters())
    if not copied:
        raise TrainError(f"--init-from {detector_weights}: its first layer does not match YOLO11{scale}-cls "
                         "(a detector of another scale?); give weights of the same scale as --scale")
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": classifier, "train_args": {}}, out)
    return BackboneTransfer(layers=tuple(copied), tensors=tensors, parameters=parameters)
