"""Conveyor QC vision core: frames, detections, taxonomy, pre-processing and the ONNX Runtime detector.

Depends on numpy, OpenCV and ONNX Runtime only, so an edge node needs neither torch nor ultralytics.
"""

from vision.detections import Detections
from vision.frame import Frame
from vision.taxonomy import Condition, Taxonomy

__all__ = ["Condition", "Detections", "Frame", "Taxonomy"]
