"""No test or benchmark waits with Playwright's ``wait_for_function``: on our pages, whose
Content-Security-Policy refuses ``unsafe-eval``, it fails now and then (``tests/browsing.py``
says why and what to use instead)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFUSED = {"wait_for_function"}


def test_no_browser_wait_compiles_code_in_the_page() -> None:
    found = []
    for folder in ("tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in REFUSED:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.attr}")
    assert found == [], "use expect(locator) or tests.browsing.until:\n" + "\n".join(found)
