"""Topic names: the only place they are built."""


def presenter(presentation_id: int) -> str:
    """Projector screens (and remotes) of a presentation."""
    return f"presentation:{presentation_id}:presenter"


def phones(presentation_id: int) -> str:
    """Participants' phones of a presentation."""
    return f"presentation:{presentation_id}:phones"
