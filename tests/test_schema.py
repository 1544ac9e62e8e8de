"""The API's JSON checked against a schema, worded for students.

grader.check.schema does the wording; the lesson's people.py adds its words
(which keys name a person, the InfoDb code its hints quote).
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from grader.check.schema import SchemaProblem, Words, find_problems, load_schema
from grader.lessons.web_server import LESSON as WEB_SERVER
from grader.lessons.web_server.people import check_people

# The two records the lesson's get_shaurya() returns.
LESSON = [
    {
        "FirstName": "Shaurya",
        "LastName": "Singh",
        "DOB": "November 18",
        "Residence": "San Diego",
        "Email": "shauryasinghus@gmail.com",
        "Owns_Cars": ["2015-Fusion", "2011-Ranger", "2003-Excursion", "1997-F350", "1969-Cadillac"],
    },
    {
        "FirstName": "John",
        "LastName": "Doe",
        "DOB": "January 1",
        "Residence": "Shanghai",
        "Email": "jdoe1@gmail.com",
        "Owns_Cars": ["2024-Accord"],
    },
]


@pytest.fixture(scope="module")
def schema() -> dict:
    return load_schema(WEB_SERVER.schema)


def people(**changes) -> list:
    """The lesson's records with record 1 changed; a value of ... deletes the key."""
    data = copy.deepcopy(LESSON)
    for key, value in changes.items():
        data[1].pop(key) if value is ... else data[1].__setitem__(key, value)
    return data


def renamed(index: int, old: str, new: str) -> list:
    data = copy.deepcopy(LESSON)
    data[index][new] = data[index].pop(old)
    return data


def test_lesson_records_pass(schema):
    assert check_people(LESSON, schema) == []


def test_extra_keys_are_allowed(schema):
    assert check_people([{**LESSON[0], "Age": 16, "Pets": None}], schema) == []


def test_shipped_schema_is_2020_12_and_enforces_email_by_pattern():
    raw = json.loads(WEB_SERVER.schema.read_text())
    assert raw["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    email = raw["items"]["properties"]["Email"]
    assert "pattern" in email and "format" not in email
    assert all(prop.get("description") for prop in raw["items"]["properties"].values())


# (data, path, fragments in message, fragments in hint)
CASES = {
    "root is a dict wrapping the list": (
        {"people": LESSON},
        (),
        [
            "the response:",
            "expected a list of records like [{...}, {...}]",
            'saw a dictionary (JSON object) with keys "people"',
        ],
        ['under "people"', "return jsonify(InfoDb)"],
    ),
    "root is a single record": (
        LESSON[0],
        (),
        ["expected a list of records", 'saw a dictionary (JSON object) with keys "FirstName", "LastName"'],
        ["one record", "jsonify(InfoDb)"],
    ),
    "root is a string": (
        "hello",
        (),
        ["the response:", "expected a list", 'saw a string "hello"'],
        ["jsonify(InfoDb)"],
    ),
    "empty list": ([], (), ["the response:", "expected at least 1 record,", "saw an empty list"], ["InfoDb.append"]),
    "missing key": (
        people(Email=...),
        (1,),
        ["record 1 (John Doe):", 'missing key "Email"', 'saw keys "FirstName"'],
        ['add "Email": "jdoe1@gmail.com"'],
    ),
    "key in the wrong case": (
        renamed(0, "FirstName", "firstname"),
        (0,),
        ["record 0 (Shaurya Singh):", 'missing key "FirstName"', '"firstname"'],
        ["case-sensitive", 'you have "firstname"', '"FirstName"'],
    ),
    "key misspelt": (
        renamed(1, "Owns_Cars", "Owns_Car"),
        (1,),
        ["record 1 (John Doe):", 'missing key "Owns_Cars"'],
        ["spelled exactly", 'you have "Owns_Car"', 'need "Owns_Cars"'],
    ),
    "Owns_Cars is a string": (
        people(Owns_Cars="2024-Accord"),
        (1, "Owns_Cars"),
        [
            '"Owns_Cars" in record 1 (John Doe):',
            'expected a list of strings like ["2024-Accord"]',
            'saw a string "2024-Accord"',
        ],
        ['"Owns_Cars": ["2024-Accord"]'],
    ),
    "a car is a number": (
        people(Owns_Cars=["2024-Accord", 2024]),
        (1, "Owns_Cars", 1),
        ['"Owns_Cars"[1] in record 1 (John Doe):', "expected a string", "saw the number 2024"],
        ['put it in quotes: "2024"'],
    ),
    "bad Email": (
        people(Email="jdoe1 at gmail.com"),
        (1, "Email"),
        ['"Email" in record 1 (John Doe):', "expected an e-mail address", 'saw a string "jdoe1 at gmail.com"'],
        ['"jdoe1@gmail.com"'],
    ),
    "record is not a dict": (
        [LESSON[0], "John Doe"],
        (1,),
        ["record 1:", 'expected a dictionary (JSON object) like {"FirstName"', 'saw a string "John Doe"'],
        ["InfoDb.append({"],
    ),
    "FirstName is a number": (
        people(FirstName=42),
        (1, "FirstName"),
        ['"FirstName" in record 1 (Doe):', 'expected a string like "John"', "saw the number 42"],
        ['"FirstName": "42"'],
    ),
    "FirstName is null": (
        people(FirstName=None),
        (1, "FirstName"),
        ['"FirstName" in record 1 (Doe):', "expected a string", "saw null"],
        ['"FirstName": "John"'],
    ),
    "DOB is true/false": (
        people(DOB=True),
        (1, "DOB"),
        ['"DOB" in record 1 (John Doe):', "expected a string", "saw true (a true/false value)"],
        [],
    ),
    "Owns_Cars is a dict": (
        people(Owns_Cars={"car": "2024-Accord"}),
        (1, "Owns_Cars"),
        ["expected a list of strings", 'saw a dictionary (JSON object) with keys "car"'],
        [],
    ),
}


@pytest.mark.parametrize(("data", "path", "said", "hinted"), CASES.values(), ids=CASES.keys())
def test_problem_wording(schema, data, path, said, hinted):
    [problem] = check_people(data, schema)
    assert isinstance(problem, SchemaProblem)
    assert problem.path == path
    assert "\n" not in problem.message and problem.hint
    for fragment in said:
        assert fragment in problem.message
    for fragment in hinted:
        assert fragment in problem.hint


@pytest.mark.parametrize(
    "email",
    [
        "jdoe1gmail.com",
        "jdoe1@gmail",
        "j doe@gmail.com",
        "a@b@c.com",
        "jdoe1@.com",
        "jdoe1@gmail.com.",
        "",
        "@gmail.com",
    ],
)
def test_bad_emails_are_caught(schema, email):
    [problem] = check_people(people(Email=email), schema)
    assert problem.path == (1, "Email")


@pytest.mark.parametrize("email", ["jdoe1@gmail.com", "first.last@mail.school.edu", "a+b@x.io"])
def test_good_emails_pass(schema, email):
    assert check_people(people(Email=email), schema) == []


def test_long_values_are_cut(schema):
    [problem] = check_people(people(Owns_Cars="x" * 500), schema)
    assert "x" * 60 not in problem.message and "..." in problem.message
    assert len(problem.message) < 200


def test_min_records(schema):
    assert check_people(LESSON, load_schema(WEB_SERVER.schema, min_records=2)) == []
    [problem] = check_people(LESSON, load_schema(WEB_SERVER.schema, min_records=3))
    assert "expected at least 3 records, saw only 2 records" in problem.message


@pytest.mark.parametrize(("limit", "count"), [(1, 1), (2, 2), (3, 3), (0, 5)])
def test_limit_caps_problems_in_record_order(schema, limit, count):
    data = [{**LESSON[1], "FirstName": f"P{i}", "Email": None} for i in range(5)]
    problems = check_people(data, schema, limit=limit)
    assert [p.path for p in problems] == [(i, "Email") for i in range(count)]
    assert problems[0].message.startswith('"Email" in record 0 (P0 Doe):')


def test_problems_follow_document_order(schema):
    data = people(Owns_Cars=[1, 2])
    data[0].pop("DOB")
    assert [p.path for p in check_people(data, schema)] == [(0,), (1, "Owns_Cars", 0), (1, "Owns_Cars", 1)]


def test_duplicates_are_dropped():
    schema = {"allOf": [{"type": "array"}, {"type": "array"}]}
    assert len(check_people({}, schema)) == 1


CUSTOM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["FirstName", "Grade"],
        "additionalProperties": False,
        "properties": {
            "FirstName": {"type": "string", "minLength": 2},
            "Grade": {"enum": ["9", "10", "11", "12"]},
            "Nick": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
            "Tags": {"type": "array", "uniqueItems": True},
            "Code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    },
}
CUSTOM_CASES = {
    "enum": ({"Grade": "8"}, (0, "Grade"), ['"Grade" in record 0 (Jo):', 'expected "9" or "10"', 'saw a string "8"']),
    "minLength": ({"FirstName": "J"}, (0, "FirstName"), ["record 0 (J):", "at least 2 characters", 'saw a string "J"']),
    "anyOf": ({"Nick": "Johnny-boy"}, (0, "Nick"), ['"Nick" in record 0 (Jo):', "at most 5 characters"]),
    "additionalProperties": ({"Extra": 1}, (0,), ["record 0 (Jo):", 'unexpected key "Extra"']),
    "fallback (uniqueItems)": (
        {"Tags": ["a", "a"]},
        (0, "Tags"),
        ['"Tags" in record 0 (Jo):', '["a", "a"] has non-unique'],
    ),
    "pattern without description": (
        {"Code": "abc"},
        (0, "Code"),
        ["matching the pattern ^[A-Z]{3}$", 'saw a string "abc"'],
    ),
    "missing required": ({"Grade": ...}, (0,), ["record 0 (Jo):", 'missing key "Grade"']),
}


@pytest.mark.parametrize(("change", "path", "said"), CUSTOM_CASES.values(), ids=CUSTOM_CASES.keys())
def test_custom_schema_file(tmp_path, change, path, said):
    (file := tmp_path / "custom.schema.json").write_text(json.dumps(CUSTOM))
    schema = load_schema(file)
    record = {"FirstName": "Jo", "Grade": "10"}
    for key, value in change.items():
        record.pop(key) if value is ... else record.__setitem__(key, value)
    [problem] = check_people([record], schema)
    assert problem.path == path and problem.hint
    for fragment in said:
        assert fragment in problem.message
    assert check_people([{"FirstName": "Jo", "Grade": "10"}], schema) == []


def test_custom_schema_min_records_override(tmp_path):
    (file := tmp_path / "custom.schema.json").write_text(json.dumps(CUSTOM))
    [problem] = check_people([], load_schema(file))
    assert "expected at least 1 record, saw an empty list" in problem.message
    assert load_schema(file, min_records=4)["minItems"] == 4


def test_broken_schema_file_fails_loudly(tmp_path):
    from jsonschema.exceptions import SchemaError

    (file := tmp_path / "broken.schema.json").write_text('{"type": "lists"}')
    with pytest.raises(SchemaError):
        load_schema(file)


OTHER_WORDS = Words(name_keys=("Title",), return_list="return jsonify(books)", add_record="books.append", record="book")


@pytest.mark.parametrize(
    ("data", "said", "hinted"),
    [
        (
            "hello",
            "the response:",
            "return the list itself: return jsonify(books), with one books.append({...}) per book",
        ),
        ({"shelf": []}, "the response:", 'under "shelf"; return jsonify(books) itself'),
        ({"Title": "Dune"}, "the response:", "you returned one record; return a list of them: return jsonify(books)"),
        ([], "the response:", "add records with books.append({...})"),
        ([{"Title": "Dune"}, 3], "record 1:", "each record should be one dictionary: books.append({"),
        ([{"Title": "Dune", "Year": "1965"}], '"Year" in record 0 (Dune):', "change it to a whole number"),
    ],
)
def test_a_lesson_brings_its_own_words(data, said, hinted):
    """Only the lesson's Words name records and write the code in hints: none of this lesson's shows."""
    schema = {
        "type": "array",
        "minItems": 1,
        "items": {"type": "object", "required": ["Title"], "properties": {"Year": {"type": "integer"}}},
    }
    [problem] = find_problems(data, schema, OTHER_WORDS)
    assert problem.message.startswith(said) and hinted in problem.hint, problem
    assert not {"InfoDb", "person", "FirstName"} & set(re.findall(r"\w+", problem.message + problem.hint))


def test_type_and_missing_keys_come_before_other_rules_at_one_place(tmp_path):
    (file := tmp_path / "custom.schema.json").write_text(json.dumps(CUSTOM))
    problems = check_people([{"FirstName": "Jo", "grade": "10"}], load_schema(file))
    assert [p.message.split(": ")[1][:12] for p in problems] == ["missing key ", "unexpected k"]
    assert 'you have "grade"' in problems[0].hint
    [first, _] = check_people(12.5, {"minimum": 13, "type": "integer"})
    assert "expected a whole number, saw the number 12.5" in first.message
