"""The question types are all known before the first request asks for one."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.server import ROOT


def test_every_type_is_registered_when_the_package_is_imported():
    # A registry filled on first use was seen half full by render threads when 200 phones
    # joined a fresh process at once (KeyError: 'scale'); a fresh interpreter proves it is not.
    probe = "import app.questions as q; print(sorted(q._REGISTRY))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    modules = sorted(
        path.stem
        for path in (ROOT / "app" / "questions").glob("*.py")
        if not path.stem.startswith("_") and path.stem not in {"base", "text"}
    )
    registered = ast.literal_eval(out.strip())
    assert len(registered) == len(modules) >= 4
    assert {"choice", "open", "scale", "wordcloud"} <= set(registered)
