"""Checks over the code and docs themselves: templates escape, settings are documented."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import Settings
from app.templating import TEMPLATE_DIR, environment

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"STEMLAB_{name.upper()}"
        for name in Settings.model_fields
        if f"STEMLAB_{name.upper()}" not in readme
    ]
    assert not missing, f"undocumented settings: {missing}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:25]
    text = "\n".join(head)
    assert text.index("make run") < text.index("make test")


def test_autoescape_is_on_for_html():
    env = environment()
    assert env.autoescape("page.html") is True  # type: ignore[operator]
    rendered = env.from_string("{{ x }}").render(x="<script>")
    assert "<script>" not in rendered


def test_templates_never_turn_off_escaping():
    offenders = []
    for path in TEMPLATE_DIR.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\|\s*safe\b", r"autoescape\s+false", r"Markup\(", r"\|\s*tojson"):
            if re.search(pattern, text):
                offenders.append(f"{path.name}: {pattern}")
        # Attribute values are always quoted, so user text cannot add attributes.
        for match in re.finditer(r"\s[\w:-]+=\{\{", text):
            offenders.append(f"{path.name}: unquoted attribute at {match.start()}")
        if re.search(r"<script(?![^>]*\bsrc=)", text):
            offenders.append(f"{path.name}: inline script")
        if re.search(r"\sstyle=", text) or re.search(r"\shx-on", text):
            offenders.append(f"{path.name}: inline style or hx-on")
    assert not offenders, offenders


def test_python_never_marks_markup_safe():
    for path in (ROOT / "app").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "Markup(" not in text, path
        assert "|safe" not in text, path


def test_join_codes_come_from_secrets():
    source = (ROOT / "app" / "services" / "presentations.py").read_text(encoding="utf-8")
    assert "secrets.choice" in source
    assert not re.search(r"\brandom\.", source)


def test_the_image_runs_the_command_the_tests_run():
    """The Dockerfile starts `stemlab serve`, the entry point the real-server tests start."""
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["python", "-m", "app.cli", "serve"]' in dockerfile
    for needed in ("alembic.ini", "migrations/", "app/"):
        assert needed in dockerfile
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["stemlab"] == "app.cli:main"
    server = (ROOT / "tests" / "server.py").read_text(encoding="utf-8")
    assert '"-m", "app.cli", "serve"' in server


def test_the_reliability_table_names_tests_that_exist():
    """docs/reliability.md says which test proves each scenario; a renamed test breaks it here."""
    table = (ROOT / "docs" / "reliability.md").read_text()
    named = 0
    for row in table.splitlines():
        if not row.startswith("| "):
            continue
        current = None
        for file, test in re.findall(r"`(?:([\w/]+\.py))?::(test_\w+)`", row):
            current = file or current
            assert current, f"{test} has no file before it: {row[:60]}"
            source = (ROOT / "tests" / current).read_text()
            assert re.search(rf"def {test}\(", source), f"{current}::{test} does not exist"
            named += 1
    assert named > 60
