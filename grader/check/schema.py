"""Check an API's JSON answer against a JSON Schema, in the student's terms.

jsonschema reports ``None is not of type 'string'`` at ``$[1].FirstName``; a
student needs ``"FirstName" in record 1 (Doe): expected a string like "John",
saw null (Python None)``.  The rules live in a schema file (the lesson's, or
an instructor's own); this module only does the wording.  What a lesson adds
is its :class:`Words`: which keys name a record, and the code its hints quote
(``grader.lessons.web_server.people``).  Records are numbered with the Python
index (from 0), as students index lists.

jsonschema is imported only inside the functions that use it: importing this
module costs the CLI's start-up nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

#: A schema, or a part of one (the rule for one place).
Rule = dict[str, Any]
#: A place in the JSON, e.g. ``(1, "Owns_Cars", 0)``: indexes and keys from the top.
JsonPath = tuple[str | int, ...]

#: Longest quoted value, so one huge wrong answer cannot flood the report.
WIDTH = 60
#: Errors collected before sorting; enough for any report, cheap on a huge answer.
MAX_ERRORS = 500
TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true/false",
    "null": "null",
    "array": "a list",
    "object": "a dictionary (JSON object)",
}
PLURALS = {
    "string": "strings",
    "number": "numbers",
    "integer": "whole numbers",
    "boolean": "true/false values",
    "null": "nulls",
    "array": "lists",
    "object": "dictionaries (JSON objects)",
}
#: Within one place, say the most basic problem first: a wrong type makes the rest moot.
RANK = {"type": 0, "required": 1, "minItems": 2}
#: Keywords whose own message says little ("not valid under any of the given schemas").
WEAK = ("anyOf", "oneOf")
BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
}


@dataclass(frozen=True)
class Words:
    """How a lesson talks about its records, so that messages and hints use the student's own code."""

    #: Keys that name a record in messages ("record 1 (John Doe)"), matched ignoring case.
    name_keys: tuple[str, ...]
    #: The statement that returns the whole list, e.g. ``return jsonify(InfoDb)``.
    return_list: str
    #: The call that adds one record to it, e.g. ``InfoDb.append``.
    add_record: str
    #: What one record stands for, e.g. "person".
    record: str


@dataclass(frozen=True)
class SchemaProblem:
    """One thing wrong with the JSON, worded for the student."""

    message: str  #: one line: where, what was expected, what was seen
    hint: str  #: one next step
    path: JsonPath  #: where in the JSON, e.g. ``(1, "Owns_Cars", 0)``


#: The texts of the schema files that passed the metaschema check in this process (at most :data:`CHECKED_MAX`).
_checked: set[str] = set()
CHECKED_MAX = 16


def load_schema(path: Path | str, min_records: int = 1) -> dict[str, Any]:
    """Read a schema file, check it, and set its minItems.

    Checking here makes a broken instructor file fail loudly at start-up
    (:class:`jsonschema.SchemaError`) rather than as a puzzling student failure.
    The file is read and parsed every time (a fresh dict, the file as it is
    now), but a text already checked in this process is not checked again:
    the metaschema check costs milliseconds, and a grading loads the schema
    twice (``grader.grade`` and the schema check), ``webgrade watch`` and a
    batch's workers on every grading.
    """
    text = Path(path).read_text(encoding="utf-8")
    schema = json.loads(text)
    if text not in _checked:
        from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
        from jsonschema.validators import validator_for  # type: ignore[import-untyped]

        validator_for(schema, default=Draft202012Validator).check_schema(schema)  # raises: never remembered
        if len(_checked) >= CHECKED_MAX:
            _checked.clear()
        _checked.add(text)
    return {**schema, "minItems": min_records}


def find_problems(data: Any, schema: dict[str, Any], words: Words, limit: int = 3) -> list[SchemaProblem]:
    """Return up to ``limit`` problems (``limit < 1``: all), in record order; ``[]`` if valid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
    from jsonschema.validators import validator_for

    validator = validator_for(schema, default=Draft202012Validator)(schema)
    # anyOf/oneOf only say "not valid under any"; best_match digs out the useful branch.
    errors = [best_match([e]) if e.context else e for e in islice(validator.iter_errors(data), MAX_ERRORS)]
    errors.sort(key=lambda e: (_path_key(e.absolute_path), RANK.get(e.validator, 3), e.validator in WEAK))
    problems: list[SchemaProblem] = []
    for error in errors:
        problem = _explain(error, data, words)
        if problem.message not in {p.message for p in problems}:
            problems.append(problem)
        if len(problems) == limit:
            break
    return problems


def _explain(error: Any, data: Any, words: Words) -> SchemaProblem:
    """Word one jsonschema error as expected/seen, plus a next step."""
    path, kw, value, want = tuple(error.absolute_path), error.validator, error.instance, error.validator_value
    rule = error.schema if isinstance(error.schema, dict) else {}
    example, seen = _example(rule), _seen(value)
    if kw == "type":
        msg, hint = f"expected {_expected(rule)}, saw {seen}", _type_hint(path, value, rule, data, words)
    elif kw == "required":
        missing, props = [k for k in want if k not in value], rule.get("properties", {})
        msg = f"missing {_count(len(missing), 'key', bare=True)} {_keys(missing)}; saw "
        msg += f"keys {_keys(value)}" if value else "an empty dictionary"
        add = _join([f'"{k}": {_example(props.get(k, {})) or "..."}' for k in missing], 3)
        hint = _near_miss_hint(missing, value, rule) or f"add {add}"
    elif kw in ("minItems", "maxItems"):
        unit = "record" if _items_type(rule) == "object" else "item"
        more = kw == "minItems"
        seen = ("only " if more else "") + _count(len(value), unit) if value else "an empty list"
        msg = f"expected {'at least' if more else 'at most'} {_count(want, unit)}, saw {seen}"
        if not more:
            hint = f"remove {unit}s until there are {want} or fewer"
        else:
            hint = f"add more {unit}s to the list" if path else f"add records with {words.add_record}({{...}})"
    elif kw == "pattern":
        msg = f"expected {rule.get('description') or f'a string matching the pattern {want}'}, saw {seen}"
        hint = f"make it look like {example}" if example else f"make it match the pattern {want}"
    elif kw in ("enum", "const"):
        options = want if kw == "enum" else [want]
        shown = _join([_short(o) for o in options], 5, " or ")
        msg, hint = f"expected {shown}, saw {seen}", f"use {'one of' if len(options) > 1 else 'exactly'} {shown}"
    elif kw in ("minLength", "maxLength"):
        more = kw == "minLength"
        msg = f"expected a string of {'at least' if more else 'at most'} {_count(want, 'character')}, saw {seen}"
        hint = f"make it {'longer' if more else 'shorter'}" + (f", like {example}" if example else "")
    elif kw in BOUNDS:
        msg, hint = f"expected a number {BOUNDS[kw]} {want}, saw {seen}", f"use a number {BOUNDS[kw]} {want}"
    elif kw == "additionalProperties" and want is False and "patternProperties" not in rule:
        props = rule.get("properties", {})
        extra = [k for k in value if k not in props]
        msg = f"unexpected {_count(len(extra), 'key', bare=True)} {_keys(extra)}; allowed keys are {_keys(props)}"
        hint = "remove the extra keys, or fix their spelling to match an allowed key"
    else:  # any other keyword an instructor's schema uses: jsonschema's words, tidied
        msg = error.message
        if msg.startswith(repr(value)):
            msg = _short(value) + msg[len(repr(value)) :]
        msg = _truncate(msg, 3 * WIDTH)
        hint = f"it should be {rule['description']}" if rule.get("description") else f'follow the "{kw}" rule'
    return SchemaProblem(f"{_where(path, data, words)}: {msg}".replace("\n", " "), hint.replace("\n", " "), path)


def _type_hint(path: JsonPath, value: Any, rule: Rule, data: Any, words: Words) -> str:
    """One next step for a value of the wrong type, aimed at the usual slip."""
    types = _types(rule)
    key = f'"{path[-1]}": ' if path and isinstance(path[-1], str) else ""
    if "array" in types and not path:  # the whole response
        items = rule["items"] if isinstance(rule.get("items"), dict) else {}
        if isinstance(value, dict) and set(value) & set(items.get("required", [])):
            return f"you returned one record; return a list of them: {words.return_list}"
        lists = [k for k, v in value.items() if isinstance(v, list)] if isinstance(value, dict) else []
        if len(lists) == 1:
            return f'you wrapped the list in a dictionary under "{lists[0]}"; {words.return_list} itself'
        return f"return the list itself: {words.return_list}, with one {words.add_record}({{...}}) per {words.record}"
    if "object" in types and len(path) == 1 and isinstance(data, list):
        return f"each record should be one dictionary: {words.add_record}({_record_like(rule, 2)})"
    if "array" in types and not isinstance(value, (list, dict)):
        return f"wrap it in square brackets: {key}[{_short(value)}]"
    if "string" in types and isinstance(value, (int, float)):
        return f"put it in quotes: {key}{_short(_short(value))}"
    if value is None:
        example = _example(rule)
        return "replace null (Python None) with " + (
            f"a real value, e.g. {key}{example}" if example else _expected(rule)
        )
    return f"change it to {_expected(rule)}"


def _near_miss_hint(missing: list[str], value: dict[str, Any], rule: Rule) -> str:
    """Spot 'firstname' or 'Owns_Car' standing in for a missing key."""
    import difflib

    known = set(rule.get("properties", {})) | set(rule.get("required", []))
    spare = {k.lower(): k for k in value if isinstance(k, str) and k not in known}
    found: dict[str, str] = {}
    for k in missing:  # an exact match ignoring case scores 1.0, so it always wins
        for match in difflib.get_close_matches(k.lower(), spare, n=1, cutoff=0.75):
            found[k] = spare[match]
    if not found:
        return ""
    case_only = any(k.lower() == v.lower() for k, v in found.items())
    why = "keys are case-sensitive" if case_only else "keys must be spelled exactly"
    return f"{why}: you have {_keys(found.values(), 3)} but need {_keys(found, 3)}"


def _where(path: JsonPath, data: Any, words: Words) -> str:
    """Name a place in student terms: '"Owns_Cars"[0] in record 1 (John Doe)'."""
    head, rest = "the response", path
    if path and isinstance(path[0], int) and isinstance(data, list):
        head, rest = f"record {path[0]}", path[1:]
        record = data[path[0]]
        if isinstance(record, dict):
            lower = {k.lower(): v for k, v in record.items() if isinstance(k, str)}
            name = " ".join(v for k in words.name_keys if isinstance(v := lower.get(k.lower()), str) and v.strip())
            head += f" ({_truncate(name, 30)})" if name else ""
    if not rest:
        return head
    first, *more = rest
    place = f'"{first}"' if isinstance(first, str) else f"[{first}]"
    place += "".join(f"[{json.dumps(p)}]" for p in more)
    return f"{place} in {head}"


def _expected(rule: Rule) -> str:
    """What the schema wants, e.g. 'a list of strings like ["2024-Accord"]'."""
    phrases: list[str] = []
    for t in _types(rule):
        if t == "array":
            items = _items_type(rule)
            if items == "object":
                phrases.append("a list of records like [{...}, {...}]")
            else:
                phrases.append(f"a list of {PLURALS[items]}" if items in PLURALS else "a list")
        elif t == "object" and rule.get("required"):
            phrases.append(f"a dictionary (JSON object) like {_record_like(rule, 3)}")
        else:
            phrases.append(TYPE_WORDS.get(t, t))
    text = " or ".join(phrases) or "a different value"
    example = _example(rule)
    return f"{text} like {example}" if example and " like " not in text else text


def _seen(value: Any) -> str:
    """A value and its JSON type in a student's words."""
    if value is None:
        return "null (Python None)"
    if isinstance(value, bool):
        return f"{_short(value)} (a true/false value)"
    if isinstance(value, (int, float)):
        return f"the number {_short(value)}"
    if isinstance(value, str):
        return f"a string {_short(value)}" if value else "an empty string"
    if isinstance(value, list):
        return f"a list {_short(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return f"a dictionary (JSON object) with keys {_keys(value)}" if value else "an empty dictionary"
    return _short(value)


def _record_like(rule: Rule, most: int) -> str:
    """'{"FirstName": ..., "LastName": ..., ...}': the shape of a record, from its required keys."""
    return "{" + _join([f'"{k}": ...' for k in rule.get("required", [])], most) + "}"


def _types(rule: Rule) -> list[str]:
    types = rule.get("type", [])
    return [types] if isinstance(types, str) else list(types)


def _items_type(rule: Rule) -> str | None:
    items = rule.get("items")
    return items["type"] if isinstance(items, dict) and isinstance(items.get("type"), str) else None


def _example(rule: Rule) -> str:
    examples = rule.get("examples")
    return _short(examples[0]) if isinstance(examples, list) and examples else ""


def _keys(keys: Any, most: int = 6) -> str:
    return _join([_short(str(k)) for k in keys], most)


def _count(n: int, unit: str, bare: bool = False) -> str:
    """'1 record', '2 records'; ``bare`` drops the number: 'key', 'keys'."""
    word = unit if n == 1 else unit + "s"
    return word if bare else f"{n} {word}"


def _join(parts: list[str], most: int, sep: str = ", ") -> str:
    return sep.join(parts[:most]) + (f"{sep}..." if len(parts) > most else "")


def _short(value: Any) -> str:
    """JSON text of a value, cut to :data:`WIDTH` characters."""
    return _truncate(json.dumps(value, ensure_ascii=False, default=str), WIDTH)


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _path_key(path: Any) -> tuple[tuple[int, int, str], ...]:
    """Sort key for a path: document order, with indexes and keys never compared."""
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path)
