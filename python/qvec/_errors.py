"""Exceptions raised by qvec (all subclasses of ValueError, so one except clause catches them)."""


class NotTrainedError(ValueError):
    """A quantizer or index was used before ``fit``/``train`` or before codebooks were set."""
