"""Instructor checks for a second endpoint: ``GET /api/<name>`` answers one person's record.

These are ordinary pytest tests.  The webgrade plugin gives them fixtures:

* ``http``: a requests session bound to the student's running server (``http.get("/api/Ada")``);
* ``routes``: the routes the student's app defines (``rule``, ``endpoint``, ``methods``, ``file``, ``line``);
* ``rubric``: the assignment's settings (``rubric.api_path``, ``rubric.origins``, ...);
* ``base_url``, ``server``, ``client`` and ``warn`` (attach a warning without failing).

The ``check`` marker gives each one a stable id, its points, the checks it
needs (``depends``: not graded, rather than failed, when those did not pass)
and whether it is hidden from the student.  A rubric (examples/webgrade.toml)
can change any of these.  Raise ``grader.Failure(message, hint)`` to fail with
words for the student: what was expected, what was seen, one next step.

Grade with the built-in checks::

    webgrade check examples/solution --rubric examples/webgrade.toml
    webgrade check examples/solution --checks examples/instructor_checks

or run them alone while writing them::

    pytest examples/instructor_checks --webgrade examples/solution
"""

import pytest

from grader import Failure, NotGraded


def _name_route(routes):
    """The route that takes a name, like /api/<name> (any converter, any variable name)."""
    return next((r for r in routes if r.rule.startswith("/api/<") and r.rule.count("/") == 2), None)


@pytest.fixture(scope="module")
def people(http, rubric):
    """The records the main API returns: the names to look up."""
    data = http.get(rubric.api_path).json()
    people = [p for p in data if isinstance(p, dict) and isinstance(p.get("FirstName"), str)]
    if not people:
        raise NotGraded(f"not graded: {rubric.api_path} has no record with a FirstName to look up")
    return people


@pytest.mark.check("names.route", points=1)
def test_name_route_exists(routes, rubric):
    """the app has a route /api/<name>"""
    if _name_route(routes) is None:
        rules = ", ".join(sorted(r.rule for r in routes if r.rule != "/static/<path:filename>")) or "none"
        raise Failure(
            f"expected a route like /api/<name>, saw the routes {rules}",
            "add @app.route('/api/<name>') above a function get_person(name) that returns one record",
        )


@pytest.mark.check("names.lookup", points=2, depends=("names.route", "api.schema"))
def test_lookup_returns_that_person(http, people, routes):
    """GET /api/<FirstName> answers that person's record"""
    route = _name_route(routes)
    for person in people:
        path = f"/api/{person['FirstName']}"
        answer = http.get(path)
        if answer.status_code != 200:
            raise Failure(
                f"expected GET {path} to answer 200, saw {answer.status_code}",
                "look the name up in your list of records and return jsonify(that_record)",
                file=route.file,
                line=route.line,
            )
        if answer.json() != person:
            raise Failure(
                f"expected GET {path} to answer {person['FirstName']}'s record, saw {answer.text[:80]!r}",
                "return the one record whose FirstName matches, as jsonify(record)",
                file=route.file,
                line=route.line,
            )


# Hidden: it counts, but the student sees only that one hidden check exists.
@pytest.mark.check("names.unknown", points=1, depends=("names.route",), hidden=True)
def test_unknown_name_is_404(http):
    """an unknown name answers 404 Not Found"""
    answer = http.get("/api/Nobody-By-This-Name")
    if answer.status_code != 404:
        raise Failure(
            f"expected GET /api/Nobody-By-This-Name to answer 404, saw {answer.status_code}",
            "when no record matches, call abort(404)",
        )
