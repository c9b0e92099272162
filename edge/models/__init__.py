"""The model lifecycle on the edge service: load a registry version (detector and grader) and verify it, follow the
registry's production, canary and shadow versions, hot-swap a changed one after it loaded, verified and warmed up
(refusing one that does not), and score a shadow model against production on the same frames.

Modules: `serving` (`LoadedModel`, the immutable `ServingSet` and the `ModelSlot` that holds it, loading a version),
`stages` (what the registry wants), `candidate` (load + verify + warm-up, or refuse), `follower` (the periodic watch
and the swap), `shadow` (shadow scoring and storage), `agreement` (one frame's agreement), `metrics` (the Prometheus
series, and the protocol the follower reports to).

`edge.service` uses this package one way: the service imports models, models never imports the service (what a
model part needs from the service, such as metrics, it names as a protocol). Nothing is imported here, so a service
module imports only the parts it needs.
"""
