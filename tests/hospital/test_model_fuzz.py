"""Hostile model files: whatever the bytes, loading gives a model or a located ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.errors import ConfigError
from sentinelle.hospital import example_model_path, load_model

_EXAMPLE_LINES = example_model_path().read_text(encoding="utf-8").splitlines()


def _load_text(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.yml"
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        try:
            load_model(path)
        except ConfigError as exc:
            assert exc.location is not None and exc.location.source == str(path)
            for problem in getattr(exc, "problems", []):
                assert problem.location is not None
                assert problem.location.line is not None or "file" in problem.message


@settings(max_examples=80, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(_EXAMPLE_LINES) - 1),
            st.sampled_from(["delete", "duplicate", "replace", "indent"]),
            st.text(alphabet="abz019-_:[]{},&*!#@'\" \t", max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_example_loads_or_fails_cleanly(edits: list[tuple[int, str, str]]) -> None:
    lines = list(_EXAMPLE_LINES)
    for position, how, junk in edits:
        index = position % len(lines)
        if how == "delete":
            del lines[index]
        elif how == "duplicate":
            lines.insert(index, lines[index])
        elif how == "replace":
            line = lines[index]
            cut = len(line) // 2
            lines[index] = line[:cut] + junk + line[cut + len(junk) :]
        else:
            lines[index] = "  " + lines[index]
        if not lines:
            lines = [""]
    _load_text("\n".join(lines) + "\n")


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.text(max_size=8), st.floats(0, 10)
)
_trees = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "hospital",
                    "sites",
                    "zones",
                    "services",
                    "infrastructure",
                    "assets",
                    "id",
                    "name",
                    "site",
                    "sites",
                    "depends_on",
                    "carries",
                    "hosts",
                    "ip_ranges",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


@settings(max_examples=80, deadline=None)
@given(tree=_trees)
def test_random_yaml_documents_fail_cleanly(tree: Any) -> None:
    _load_text(yaml.safe_dump(tree))


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_fail_cleanly(data: bytes) -> None:
    _load_text(data)
