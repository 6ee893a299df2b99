"""The question types are all known before the first request asks for one."""

from __future__ import annotations

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
    assert out.strip() == "['choice', 'open', 'scale', 'wordcloud']"
