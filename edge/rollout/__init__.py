"""Model rollout on the edge service: follow the registry's production, canary and shadow versions, hot-swap a
changed one after it loaded, verified and warmed up (refusing one that does not), and score a shadow model against
production on the same frames.

Modules: `stages` (what the registry wants), `candidate` (load + verify + warm-up, or refuse), `follower` (the
periodic watch and the swap), `shadow` (shadow scoring and storage), `agreement` (one frame's agreement),
`metrics` (the Prometheus series). Nothing is imported here, so `edge.service` modules can import the parts they
need without cycles.
"""
