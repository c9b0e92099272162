"""Conveyor QC edge: what runs next to the belt, one folder per part.

`protocol` (the wire format both processes share), `capture` (the capture daemon, its own process), `service` (ingest,
batcher, worker, app, health, metrics), `models` (model lifecycle: load, verify, follow the registry, shadow, canary),
`tracking` (tracker, counting line, per-item votes), `store` (schema, migrations, repository functions), `ops` (review
page, waste feed, reviewed-frames export), `monitoring` (model monitoring rules, `qc monitor`), `tools` (offline:
demo, inspect, count-table, bench); `config` and `review_settings` are the service's settings tree, `cli` registers
the commands. ARCHITECTURE.md draws which imports which.

Imports `vision` only; never `training` (an edge node has neither torch nor ultralytics). Where it needs a
training tool (rendering a demo clip), it runs `qc` as a separate process.
"""
