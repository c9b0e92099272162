"""Real produce photos in training: a held-out split, cut-outs of single fruit, weak boxes, clutter negatives.

The synthetic renderer gives exact labels but flat appearance; real photos give appearance but few labels.
This package turns the shared real photos (see ``qc dataset real-split --help``) into training inputs:

- `training.real.split`: which photo is held out for validation, decided by its content hash, so no model of
  this project ever trains on a validation photo, whatever folder or name it arrives under;
- `training.real.sources`: the photo collections as typed values (single fruit with produce and condition,
  boxed web photos, non-produce clutter from scikit-image's bundled sample images);
- `training.real.cutout`: a fruit's mask from a plain-background photo, with a check that rejects bad masks;
- `training.real.assemble`: the detector's mixed data set and the grader's crop data set.
"""
