"""What the domain refuses, in words a person can read (translated where it is shown)."""

from __future__ import annotations

from typing import Any

from app import i18n


class Refused(ValueError):
    """Input someone must correct; `message` is a gettext msgid with %(name)s parameters."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    def text(self, language: str) -> str:
        """The message in `language`."""
        return i18n.translate(language, self.message, **self.params)
