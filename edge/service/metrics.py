"""The service's Prometheus metrics, on a registry of their own (one per app, so two apps never share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from edge.models.metrics import RolloutMetrics
from edge.monitoring.metrics import AlertMetrics

# Batch sizes are small integers; latencies span a CPU (hundreds of ms) and a GPU (a few ms) edge node.
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128, 256)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    """Every series the service exports; ``exposition()`` renders them in the Prometheus text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.frames_received = Counter(
            "qc_frames_received", "Frame messages received (authenticated), per camera.", ["camera"], registry=r
        )
        self.frames_processed = Counter(
            "qc_frames_processed", "Frames whose results were committed, per camera.", ["camera"], registry=r
        )
        self.frames_dropped = Counter(
            "qc_frames_dropped",
            "Frames finished with without processing (answered 'error' or 'dropped'), per camera and reason.",
            ["camera", "reason"],
            registry=r,
        )
        self.frames_retry = Counter(
            "qc_frames_retry",
            "Frames answered 'retry' (overload, blocked behind a retried frame, shutting down ...), per camera and "
            "reason; the daemon resends them.",
            ["camera", "reason"],
            registry=r,
        )
        self.frames_duplicate = Counter(
            "qc_frames_duplicate", "Resent frames that were already finished with, per camera.", ["camera"], registry=r
        )
        self.batch_size = Histogram(
            "qc_batch_size", "Frames per detector call.", buckets=BATCH_SIZE_BUCKETS, registry=r
        )
        self.batch_latency = Histogram(
            "qc_batch_latency_seconds", "Decode + detector time per batch.", buckets=LATENCY_BUCKETS, registry=r
        )
        self.frame_latency = Histogram(
            "qc_frame_latency_seconds",
            "From a frame's arrival to its ack (queueing, detection, tracking, commit).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("qc_queue_depth", "Frames waiting for the detector.", registry=r)
        self.queue_limit = Gauge("qc_queue_limit", "The queue's capacity (batcher.queue_limit).", registry=r)
        self.multipart_uploads = Gauge(
            "qc_multipart_uploads", "POST /frames multipart bodies being read and split now (bounded: "
            "limits.max_multipart_uploads).", registry=r
        )
        self.items_counted = Counter(
            "qc_items_counted", "Items counted (crossed the line), per camera and produce.", ["camera", "produce"],
            registry=r,
        )
        self.items_vetoed = Counter(
            "qc_items_vetoed", "Items that crossed the line but the grader called no produce (clutter the detector "
            "boxed: a hand, a label, a tool); not counted, not stored.", ["camera"], registry=r,
        )
        self.items_flagged = Counter(
            "qc_items_flagged", "Counted items flagged as spoiled, per camera and produce.", ["camera", "produce"],
            registry=r,
        )
        self.idle_flushes = Counter(
            "qc_idle_flushes",
            "Idle flushes done, per camera: the camera went quiet (counting.idle_flush_s), its tracks were ended and "
            "the counted items still in view stored (qc_items_counted counts them).",
            ["camera"],
            registry=r,
        )
        self.idle_checks = Counter(
            "qc_idle_checks", "Passes of the idle flush over the cameras that are over (one every "
            "min(1 s, counting.idle_flush_s / 4)), whether or not one was flushed.", registry=r,
        )
        self.model = Info("qc_model", "The model being served.", registry=r)
        self.model_loaded = Gauge("qc_model_loaded", "1 when a model is loaded and serving.", registry=r)
        self.provider = Gauge(
            "qc_execution_provider",
            "1 for the ONNX Runtime execution provider in use (label requested = the one asked for).",
            ["provider", "requested"],
            registry=r,
        )
        self.provider_fell_back = Gauge(
            "qc_execution_provider_fell_back", "1 when ONNX Runtime runs on another provider than requested.",
            registry=r,
        )
        self.connections = Gauge("qc_ws_connections", "Open WebSocket connections, per camera.", ["camera"], registry=r)
        self.rollout = RolloutMetrics(r)  # hot-swaps, refusals, shadow agreement (edge.models)
        self.alerts = AlertMetrics(r)  # model monitoring alerts (edge.monitoring)

    def init_camera(self, camera: str) -> None:
        """Create a camera's zero-valued series so they show before its first frame."""
        self.frames_received.labels(camera)
        self.frames_processed.labels(camera)
        self.frames_duplicate.labels(camera)
        self.idle_flushes.labels(camera)
        self.connections.labels(camera)

    def model_loaded_as(self, version: str, sha256: str, provider: str, requested: str, fell_back: bool) -> None:
        """Record the loaded model and the provider it really runs on."""
        self.model.info({"version": version, "sha256": sha256, "provider": provider})
        self.provider.clear()
        self.provider.labels(provider, requested).set(1)
        self.provider_fell_back.set(1 if fell_back else 0)
        self.model_loaded.set(1)

    def exposition(self) -> bytes:
        """The text exposition of every series."""
        return generate_latest(self.registry)
