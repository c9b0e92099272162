"""Errors a user of the vision layer can cause; each message names the problem."""


class QCError(Exception):
    """Base class for every error a user of `qc` can cause (bad input, files, settings); the CLI prints it as one line."""


class TaxonomyError(QCError):
    """The taxonomy file is missing, malformed or inconsistent."""


class ModelLoadError(QCError):
    """A model file is missing, corrupt, or does not match its model card."""


class InputError(QCError, ValueError):
    """An image or batch handed to the detector has the wrong shape, dtype or size."""
