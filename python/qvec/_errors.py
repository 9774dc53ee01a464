"""Exceptions raised by qvec (all subclasses of ValueError, so one except clause catches them)."""


class NotTrainedError(ValueError):
    """A quantizer or index was used before ``fit``/``train`` or before codebooks were set."""


class FormatError(ValueError):
    """A saved index or vector file is truncated, corrupt, of an unknown version or not a qvec
    file at all. The message says what was wrong and where."""
