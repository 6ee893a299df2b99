"""Use cases with an explicit session; no HTTP, no websockets."""


class NotFound(LookupError):
    """The thing does not exist, or does not belong to the one asking."""
