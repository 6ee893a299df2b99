"""docs/security.md names the tests that prove each defence; a renamed or removed test fails here.

A reference is `file.py::test_name`, or `::test_name` for the file named last before it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`([\w/]+\.py)?::(test_\w+)`")


def test_every_test_the_security_doc_names_exists():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    current = None
    missing = []
    named = 0
    for file, test in REFERENCE.findall(text):
        current = file or current
        assert current, f"{test} has no file before it"
        source = (ROOT / "tests" / current).read_text(encoding="utf-8")
        if not re.search(rf"def {test}\(", source):
            missing.append(f"{current}::{test}")
        named += 1
    assert not missing, missing
    assert named > 80
