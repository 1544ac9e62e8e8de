"""grader.check.schema.load_schema: a schema file read every time, its metaschema check done once per text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.check import schema as schemas

SCHEMA = {"type": "array", "items": {"type": "object", "required": ["FirstName"]}}


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The schemas given to jsonschema's metaschema check, from a cache of this test's own."""
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    monkeypatch.setattr(schemas, "_checked", set())
    seen: list[object] = []
    check = Draft202012Validator.check_schema.__func__  # a classmethod

    def counted(cls: type, schema: object, *args: object, **kwargs: object) -> None:
        seen.append(schema)
        check(cls, schema, *args, **kwargs)

    monkeypatch.setattr(Draft202012Validator, "check_schema", classmethod(counted))
    return seen


def test_a_schema_is_checked_once_and_read_every_time(tmp_path: Path, checks: list[object]) -> None:
    file = tmp_path / "people.schema.json"
    file.write_text(json.dumps(SCHEMA), encoding="utf-8")
    first = schemas.load_schema(file, min_records=2)
    second = schemas.load_schema(file, min_records=3)
    assert len(checks) == 1
    assert (first["minItems"], second["minItems"]) == (2, 3)
    first["items"]["required"].append("changed")  # each call's schema is its own
    assert schemas.load_schema(file)["items"]["required"] == ["FirstName"]

    file.write_text(json.dumps({**SCHEMA, "type": "object"}), encoding="utf-8")  # edited: read, and checked anew
    assert schemas.load_schema(file)["type"] == "object"
    assert len(checks) == 2


def test_a_broken_schema_fails_every_time(tmp_path: Path, checks: list[object]) -> None:
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

    file = tmp_path / "broken.schema.json"
    file.write_text('{"type": "lists"}', encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SchemaError):
            schemas.load_schema(file)
    assert len(checks) == 2
    file.write_text(json.dumps(SCHEMA), encoding="utf-8")  # fixed
    assert schemas.load_schema(file)["type"] == "array"


def test_the_memory_of_checked_schemas_is_bounded(tmp_path: Path, checks: list[object]) -> None:
    file = tmp_path / "s.schema.json"
    for n in range(schemas.CHECKED_MAX + 5):
        file.write_text(json.dumps({**SCHEMA, "description": str(n)}), encoding="utf-8")
        schemas.load_schema(file)
    assert len(schemas._checked) <= schemas.CHECKED_MAX
