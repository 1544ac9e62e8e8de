"""The API's people, checked against the lesson's schema (people.schema.json) in the lesson's words.

The wording is ``grader.check.schema``'s; what is this lesson's is which keys
name a person in a message, and the code the hints quote: the lesson's server
keeps its records in a list ``InfoDb`` and returns ``jsonify(InfoDb)``.
"""

from __future__ import annotations

from typing import Any

from grader.check.schema import SchemaProblem, Words, find_problems

#: How the lesson's code builds and returns its records.
WORDS = Words(
    name_keys=("FirstName", "LastName"),
    return_list="return jsonify(InfoDb)",
    add_record="InfoDb.append",
    record="person",
)


def check_people(data: Any, schema: dict[str, Any], limit: int = 3) -> list[SchemaProblem]:
    """Up to ``limit`` problems with the API's answer (``limit < 1``: all), in record order; ``[]`` if valid."""
    return find_problems(data, schema, WORDS, limit)
