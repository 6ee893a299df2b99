"""Jinja2 environment: autoescaping, gettext in the current language, render whole or a block."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app import i18n

TEMPLATE_DIR = Path(__file__).parent / "templates"
CSS_PARTS = Path(__file__).parent / "static" / "css" / "parts"


def _format_code(code: str) -> str:
    """A join code in groups of four, easy to read aloud and type."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def _format_number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if i18n.current_language.get() == "nl" else text


def _format_time(value: datetime) -> str:
    return value.strftime("%d-%m-%Y %H:%M")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship with the code; no stat() per render
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: i18n.translations(i18n.current_language.get()).gettext(message),
        lambda s, p, n: i18n.translations(i18n.current_language.get()).ngettext(s, p, n),
        newstyle=True,
    )
    # Stylesheets of one area each (app/static/css/parts/*.css), after the main one.
    env.globals["css_parts"] = sorted(p.name for p in CSS_PARTS.glob("*.css"))
    env.filters["code"] = _format_code
    env.filters["number"] = _format_number
    env.filters["when"] = _format_time
    return env


def render(name: str, language: str, context: dict[str, Any]) -> str:
    """Render a whole template in a language."""
    token = i18n.current_language.set(language)
    try:
        return environment().get_template(name).render(language=language, **context)
    finally:
        i18n.current_language.reset(token)


def render_block(name: str, block: str, language: str, context: dict[str, Any]) -> str:
    """Render one block of a template (a fragment of the same page)."""
    token = i18n.current_language.set(language)
    try:
        template = environment().get_template(name)
        ctx = template.new_context({"language": language, **context})
        return "".join(template.blocks[block](ctx))
    finally:
        i18n.current_language.reset(token)
