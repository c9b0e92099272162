"""Conveyor QC edge: what runs next to the belt (capture, ingest, tracking and counting, store, review, rollout).

Imports `vision` only; never `training` (an edge node has neither torch nor ultralytics). Where it needs a
training tool (rendering a demo clip), it runs `qc` as a separate process.
"""
