"""Retraining data from reviews: `qc dataset from-reviews` writes every reviewed frame, with the reviewers'
corrections applied, as an ultralytics-format data set (edge must not import training; the format is shared)."""
