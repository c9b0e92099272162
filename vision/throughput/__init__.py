"""The speed paths `qc bench` and `qc eval` run around a `vision.detector.Detector`: JPEG decode and pre-processing
overlapped with the model (`pipelined`), in worker processes (`decode_processes`) or on the model's device
(`device_decode`), recycled batch tensors (`buffer_pool`) and a stream spread over CPU replicas (`on_replicas`).

Nothing is imported here: the package imports `vision.detector`, never the other way round, and the device decode
needs torch, which only a caller that asks for it loads.
"""
