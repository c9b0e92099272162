"""`qc bench`: throughput and latency of the project against the limit and against the peer, in one run.

(a) the limit: ONNX Runtime alone on pre-processed batches; (b) our detector, JPEG bytes to `Detections`;
(c) the peer: ultralytics' own ``predict`` on the same ONNX model and frames (when ultralytics is installed);
(d) the whole service (`qc serve` in a subprocess) under N concurrent camera streams over the real protocol; with
``--attack``, the service alone under a sign-in flood and a multipart flood, one camera measured without and during
each.
Imports `vision` and `edge` only; frames are rendered by `qc synth clip` in a separate process.
"""
