class LabError(Exception):
    """A lab operation that cannot go on; the message says what to do."""
