"""The inference service: frames in (WebSocket, POST), dynamic batching, detection, counting, store, metrics.

The app factory is `edge.service.app.create_app`; `qc serve` is `edge.service.command.serve`.
"""
