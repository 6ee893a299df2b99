"""Topic and channel names: the only place they are built (and read back)."""

_PHONES_PREFIX = "presentation:"
_PHONES_SUFFIX = ":phones"


def presenter(presentation_id: int) -> str:
    """Projector screens (and remotes) of a presentation."""
    return f"presentation:{presentation_id}:presenter"


def phones(presentation_id: int) -> str:
    """Participants' phones of a presentation."""
    return f"{_PHONES_PREFIX}{presentation_id}{_PHONES_SUFFIX}"


def presentation_of(topic: str) -> int | None:
    """The presentation a topic belongs to (None for anything else)."""
    parts = topic.split(":")
    if len(parts) == 3 and parts[0] == "presentation" and parts[1].isdigit():
        return int(parts[1])
    return None


def phones_presentation(topic: str) -> int | None:
    """The presentation of a phones topic (None for any other topic)."""
    return presentation_of(topic) if topic.endswith(_PHONES_SUFFIX) else None


def hints(prefix: str) -> str:
    """The Redis pub/sub channel on which workers of one deployment exchange hints."""
    return f"{prefix}:hints"
