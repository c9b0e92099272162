"""Conveyor QC training: synthetic and imported data sets, training, evaluation, export, parity checks.

Imports `vision`, never `edge`. Heavy dependencies (torch, ultralytics) are imported inside the
functions that need them, so `qc --help` stays fast and an edge node without them still runs.
"""
