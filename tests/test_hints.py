"""Every failure explained from the student's own code, no full marks for a program that never serves, and a
bounded search for the submission.

End to end, each server of ``tests/servers/`` written for a hint is graded by the real CLI (``--no-browser``:
the hints are the server checks'); the rest drives the pieces in-process on sources written here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SERVERS, run_webgrade

from grader.check import hints
from grader.check.cors import CorsProblem, plain_words
from grader.find import source as source_facts
from grader.find import submission as finder
from grader.find.submission import Submission, SubmissionError, find_submission
from grader.reports import terminal
from grader.results import CheckResult, Report
from grader.run import diagnose

ORIGIN = "http://127.0.0.1:4100"

# --- end to end: (check, status, words of its message, words of its hint, file, the line's words) ---
HINTS: dict[str, tuple[str, str, list[str], list[str], str | None, str | None]] = {
    "guard_typo": (
        "server.start",
        "failed",
        [
            "expected `python main.py` to start a web server",
            "Python skips `if __name__ == '__main___':`",
            "'__main___' is not '__main__'",
        ],
        ["spell it `if __name__ == '__main__':`", "two underscores before main and two after"],
        "main.py",
        "__main___",
    ),
    "guard_main": (
        "server.start",
        "failed",
        ['Python skips `if __name__ == "main":`', "'main' is not '__main__'"],
        ["`if __name__ == '__main__':`"],
        "main.py",
        '"main"',
    ),
    "main_no_run": (
        "server.start",
        "failed",
        ['runs `print("Server ready on http://127.0.0.1:5001")`', "never calls app.run()"],
        ["add `app.run(port=5001)` as the last line of that block"],
        "main.py",
        "__name__",
    ),
    "api_trailing_slash": (
        "api.status",
        "failed",
        ["saw 308 Permanent Redirect", "@app.route('/api/data/')", "ends with a slash"],
        ["remove the last slash: @app.route('/api/data')"],
        "main.py",
        "/api/data/",
    ),
    "api_post_only": (
        "api.status",
        "failed",
        ["saw 405 Method Not Allowed", "methods=['POST']", "accepts only POST", "the page sends GET"],
        ["write @app.route('/api/data')", "GET is the default"],
        "main.py",
        "methods=['POST']",
    ),
    "api_201": (
        "api.status",
        "failed",
        ["saw 201 Created", "get_data", "returns status 201", "draws rows only from a 200 answer"],
        ["leave the 201 out of the return"],
        "main.py",
        "201",
    ),
    "template_missing": (
        "home.status",
        "failed",
        ["500 Internal Server Error", "TemplateNotFound: index.html", "a folder named templates next to main.py"],
        ["move index.html to templates/index.html"],
        "main.py",
        "render_template",
    ),
    "run_before_routes": (
        "api.status",
        "failed",
        ["404 Not Found", "`app.run(port=5001)` on line 14", "@app.route('/api/data') (main.py, line 17)"],
        ["move `app.run(port=5001)` to the very end of main.py, under `if __name__ == '__main__':`"],
        "main.py",
        "app.run(port=5001)",
    ),
    "second_app": (
        "api.status",
        "failed",
        ["404 Not Found", "the app made on line 5", "line 31 makes a new `app = Flask(__name__)`"],
        ["delete line 31"],
        "main.py",
        "app = Flask(__name__)",
    ),
    "no_return": (
        "api.status",
        "failed",
        [
            "500 Internal Server Error",
            "the function get_data (main.py, line 10) never returns its answer",
            "`jsonify(InfoDb)`",
        ],
        ["write `return jsonify(InfoDb)` on line 28"],
        "main.py",
        "jsonify(InfoDb)",
    ),
    "notebook_magic": (
        "server.start",
        "failed",
        ["SyntaxError in main.py, line 2", "`%%python --bg` on line 2 is a command for Jupyter notebooks"],
        ["delete line 2"],
        "main.py",
        "%%python --bg",
    ),
    "pip_line": (
        "server.start",
        "failed",
        ["`!pip install flask flask-cors` on line 2 is a command for Jupyter notebooks"],
        ["delete line 2 and run `pip install flask flask-cors` once in a terminal"],
        "main.py",
        "!pip",
    ),
    "import_lowercase": (
        "server.start",
        "failed",
        ["ImportError: cannot import name 'flask' from 'flask' (flask/__init__.py)", "it is 'Flask'"],
        ["write `from flask import Flask, jsonify` on line 2"],
        "main.py",
        "from flask import flask",
    ),
    "duplicate_function": (
        "server.start",
        "failed",
        ["AssertionError", "two functions are named get_data (main.py, lines 10 and 32)"],
        ["rename the second one, `def get_data` on line 32"],
        "main.py",
        "def get_data",
    ),
    "missing_import": (
        "api.status",
        "failed",
        ["NameError: name 'jsonify' is not defined", "jsonify comes from flask"],
        ["add it to the import on line 2: `from flask import Flask, jsonify`"],
        "main.py",
        "from flask import Flask",
    ),
    "not_committed": (
        "server.start",
        "failed",
        ["No module named 'api'", "api looks like your own code", "no api/ folder or api.py next to main.py"],
        ["`git add api`, then commit and push"],
        "main.py",
        "from api.people",
    ),
    "cors_localhost": (
        "cors.preflight",
        "failed",
        [
            "origins=['http://localhost:4100']",
            "leaves out the page's origin, http://127.0.0.1:4100",
            "localhost and 127.0.0.1 are different origins",
        ],
        [f"add '{ORIGIN}' to origins on line 6"],
        "main.py",
        "CORS(",
    ),
    "cors_resources": (
        "cors.preflight",
        "failed",
        ["resources={r'/api/v1/*': {'origins': '*'}}", "does not match /api/data"],
        ["resources={r'/api/*': {}}", "or leave resources out"],
        "main.py",
        "resources=",
    ),
    "cors_methods_post": (
        "cors.preflight",
        "failed",
        ["methods=['POST']", "leaves out GET"],
        ["add 'GET' to methods on line 6, or leave methods out"],
        "main.py",
        "methods=['POST']",
    ),
    "cors_credential_typo": (
        "cors.preflight",
        "failed",
        ["spells an option supports_credential", "(the option is supports_credentials)"],
        ["write supports_credentials=True on line 6"],
        "main.py",
        "supports_credential=True",
    ),
    "cors_no_credentials": (
        "cors.preflight",
        "failed",
        ["`CORS(app)` (main.py, line 10) leaves out supports_credentials=True"],
        ["`CORS(app, supports_credentials=True)`"],
        "main.py",
        "CORS(app)",
    ),
    "cross_origin_above": (
        "cors.preflight",
        "failed",
        ["@cross_origin(supports_credentials=True) (main.py, line 8) is above @app.route('/api/data') (line 9)"],
        ["move @cross_origin(supports_credentials=True) below @app.route('/api/data')"],
        "main.py",
        "@cross_origin",
    ),
    "cors_get_only": (
        "cors.preflight",
        "failed",
        ["adds Access-Control-Allow-Origin only `if request.method == 'GET'` (line 9)", "an OPTIONS request"],
        ["move them out of `if request.method == 'GET'` (line 9)"],
        "main.py",
        "request.method == 'GET'",
    ),
}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_the_hint_names_the_students_line_and_the_change(grade, name):
    check_id, status, said, hinted, file, line_words = HINTS[name]
    run = grade(name, "--no-browser")
    check = run.check(check_id)
    assert check["status"] == status, check
    for words in said:
        assert words in check["message"], (words, check["message"])
    for words in hinted:
        assert words in check["hint"], (words, check["hint"])
    assert "site-packages" not in check["message"] + check["hint"] + check.get("log", "")
    assert check.get("file") == file
    if line_words:
        lines = (SERVERS / name / "main.py").read_text(encoding="utf-8").splitlines()
        assert line_words in lines[check["line"] - 1], (check["line"], lines[check["line"] - 1])


@pytest.mark.parametrize("name", ["guard_typo", "guard_main", "main_no_run"])
def test_a_program_that_never_serves_gets_no_marks(grade, name):
    """It used to be served as an app object: 15/15 for a program that `python main.py` never starts."""
    report = grade(name, "--no-browser").report
    assert report["status"] == "not_graded"
    assert report["score"] == 0


def test_a_module_for_flask_run_is_still_served_with_a_note(grade):
    run = grade("no_run_call", "--no-browser")
    assert run.report["status"] == "passed"
    start = run.check("server.start")
    assert start["warnings"] == [
        "main.py has no `if __name__ == '__main__':` block that calls app.run(), so `python main.py` starts no "
        "server; webgrade served its Flask app (`app`) as `flask --app main run` would. To start it with python, "
        "end the file with `if __name__ == '__main__': app.run(port=5001)`"
    ]


def test_a_program_with_its_block_is_served_without_a_note(grade):
    assert "warnings" not in grade("host_all", "--no-browser").check("server.start")


def test_the_servers_log_has_no_colour_codes(grade):
    """werkzeug colours its request lines on POSIX; the log must read as plain text."""
    report = grade("debug_true", "--no-browser", "-v").report
    log = report["server_log"]
    assert '"GET /api/data HTTP/1.1" 200' in log
    assert "\x1b" not in log and "\\u001b" not in log and "[33m" not in log


def test_the_same_cause_is_explained_once(grade):
    run = grade("no_cors", "--no-browser")
    preflight, response = run.check("cors.preflight"), run.check("cors.response")
    assert response["status"] == "failed"
    assert response["hint"] == "because of cors.preflight: the change that fixes it fixes this too"
    # CORS words the lesson never taught are explained once, where they first appear.
    assert 'a "preflight" is the OPTIONS request a browser sends first' in preflight["message"]
    assert "Access-Control-Allow-Origin is the header that names the page" in preflight["message"]
    assert "is the header that names" not in response["message"]


def test_a_student_who_calls_cors_is_not_told_to_add_it(grade):
    for name in ("cors_localhost", "cors_resources", "cors_credential_typo", "cors_no_credentials"):
        run = grade(name, "--no-browser")
        for check in run.report["checks"]:
            assert "add `from flask_cors import CORS`" not in check["hint"], (name, check)


def test_a_list_that_grows_on_every_request_is_named(grade):
    schema = grade("growing_list", "--no-browser").check("api.schema")
    assert schema["status"] == "passed"
    assert schema["warnings"] == [
        "the list grows on every request (GET /api/data answered 2 records, then 4 when asked again): InfoDb is "
        "made outside get_data (main.py, line 8), so every request adds its records (line 13) to the same list "
        "again; make the list inside the function: move `InfoDb = []` into get_data, so each request starts "
        "from an empty list"
    ]
    assert "warnings" not in grade("host_all", "--no-browser").check("api.schema")


def test_the_summary_counts_only_the_failures_to_fix(copy_server):
    folder = copy_server("route_renamed")
    run = run_webgrade(str(folder), "--no-browser", watch=folder)
    # api.status failed; the four checks that need it are not graded, and are not counted.
    assert "— 1 check to fix" in run.stdout, run.stdout


# --- the launcher's fallback, and why a program ended: in-process ---


def submission(source: str, folder: Path = Path("/s"), name: str = "main.py") -> Submission:
    return Submission(folder, folder, folder / name, None, source)


ENDED = (
    "webgrade: main.py finished without starting a server: its `if __name__` block (line 9) never called app.run().\n"
)
APP = "from flask import Flask\napp = Flask(__name__)\n"


@pytest.mark.parametrize(
    ("guard", "words", "hint"),
    [
        ("if __name__ == '__main':", "'__main' is not '__main__'", "two underscores before main and two after"),
        ("if __name__ == 'Main':", "'Main' is not '__main__'", "`if __name__ == '__main__':`"),
        ("if __name__ == 'app':", "never 'app'", "`if __name__ == '__main__':`"),
        ("if __name__ != '__main__':", "only when another file imports yours", "`if __name__ == '__main__':`"),
    ],
)
def test_a_guard_that_never_runs_is_quoted_with_its_spelling(guard, words, hint):
    problem = diagnose.exited(3, ENDED, submission(f"{APP}\n{guard}\n    app.run()\n"))
    assert problem.kind == "no-server" and (problem.file, problem.line) == ("main.py", 4)
    assert f"Python skips `{guard}` (main.py, line 4)" in problem.message and words in problem.message
    assert hint in problem.hint


def test_a_run_named_without_brackets():
    problem = diagnose.exited(3, ENDED, submission(f"{APP}\nif __name__ == '__main__':\n    app.run\n"))
    assert "`app.run` (main.py, line 5) names the function without calling it" in problem.message
    assert problem.hint == "add the brackets on line 5: `app.run(port=5001)`"


def test_a_file_that_defines_no_app_and_never_serves():
    problem = diagnose.exited(3, "webgrade: main.py finished without starting a server\n", submission("x = 1\n"))
    assert problem.kind == "no-server" and "it creates no Flask app" in problem.message


def test_the_launcher_finds_the_main_block():
    from grader.run import launcher

    assert launcher._main_block(f"{APP}\nif __name__ == '__main___':\n    app.run()\n") == 4
    assert launcher._main_block(f"{APP}\nif '__main__' == __name__:\n    pass\n") == 4
    assert launcher._main_block(APP) is None
    assert launcher._main_block("def f(:\n") is None


# --- well-known crashes, from the student's code ---


def trace(kind_and_text: str, *frames: tuple[str, int]) -> diagnose.Trace:
    log = ["Traceback (most recent call last):"]
    for file, line in frames:
        log += [f'  File "{file}", line {line}, in <module>', "    code()"]
    found = diagnose.parse_trace("\n".join([*log, kind_and_text]))
    assert found is not None
    return found


def code(text: str, name: str = "main.py") -> source_facts.Source:
    return source_facts.read(text, name)


def test_a_missing_name_from_flask_is_added_to_the_students_import():
    fix = diagnose.known_fix(
        trace("NameError: name 'request' is not defined", ("main.py", 6)),
        code("from flask import Flask, jsonify\napp = Flask(__name__)\n"),
    )
    assert fix is not None
    assert fix.hint == "add it to the import on line 1: `from flask import Flask, jsonify, request`"


def test_a_missing_module_import_and_a_misspelt_name():
    stdlib = diagnose.known_fix(trace("NameError: name 'json' is not defined", ("main.py", 3)), code("x = 1\n"))
    assert stdlib is not None and stdlib.hint == "add `import json` at the top of main.py"
    typo = diagnose.known_fix(trace("NameError: name 'App' is not defined", ("main.py", 3)), code(APP))
    assert typo is not None and "but app is" in typo.why and typo.hint == "write app on line 3"


def test_an_upper_case_module_name():
    fix = diagnose.known_fix(
        trace("ModuleNotFoundError: No module named 'Flask'", ("main.py", 1)), code("from Flask import Flask\n")
    )
    assert fix is not None and fix.hint == "write `from flask import Flask` on line 1"


def test_a_file_named_like_the_library():
    fix = diagnose.known_fix(
        trace(
            "ImportError: cannot import name 'Flask' from partially initialized module 'flask' "
            "(most likely due to a circular import) (/s/flask.py)",
            ("main.py", 1),
        ),
        code("from flask import Flask\n"),
        ["flask.py", "main.py"],
    )
    assert fix is not None and "rename flask.py" in fix.hint


def test_a_folder_named_in_another_case():
    fix = diagnose.known_fix(
        trace("ModuleNotFoundError: No module named 'helpers'", ("main.py", 1)),
        code("from helpers import people\n"),
        ["Helpers/", "Helpers/__init__.py", "main.py"],
    )
    assert fix is not None and "there is Helpers/" in fix.why


def test_a_misspelt_package_keeps_the_pip_hint():
    problem = diagnose.exited(
        1,
        "Traceback (most recent call last):\n"
        '  File "main.py", line 3, in <module>\n'
        "ModuleNotFoundError: No module named 'flask_corss'\n",
        submission("from flask_corss import CORS\n"),
    )
    assert problem.kind == "missing-module" and "pip install" in problem.hint and "commit" not in problem.hint


@pytest.mark.parametrize(
    ("body", "why", "hint"),
    [
        ("    return\n", "returned None", "`return jsonify(...)`"),
        ("    x = 1\n", "has no return statement", "end get_data with a return"),
        ("    if x:\n        return 'a'\n", "can reach its end without a return (its return on line 6", "every way"),
    ],
)
def test_a_function_that_returns_nothing_is_pointed_at(body, why, hint):
    source = f"{APP}@app.route('/')\ndef get_data():\n{body}"
    fix = diagnose.known_fix(
        trace(
            "TypeError: The view function for 'get_data' did not return a valid response. The function either "
            "returned None or ended without a return statement.",
            ("/x/lib/python3.11/site-packages/flask/app.py", 1212),
        ),
        code(source),
    )
    assert fix is not None and why in fix.why and hint in fix.hint and fix.line == 4


def test_a_template_in_a_folder_of_another_name():
    fix = diagnose.known_fix(
        trace("jinja2.exceptions.TemplateNotFound: index.html", ("main.py", 5)),
        code(APP),
        ["Template/", "Template/index.html", "main.py"],
    )
    assert fix is not None and fix.hint == "move Template/index.html to templates/index.html"
    none = diagnose.known_fix(trace("jinja2.exceptions.TemplateNotFound: home.html", ("main.py", 5)), code(APP))
    assert none is not None and none.hint.startswith("create templates/home.html")


def test_tracebacks_show_library_files_by_package_and_never_the_graders():
    log = (
        "Traceback (most recent call last):\n"
        '  File "/tmp/webgrade-abc/launcher.py", line 600, in run_script\n'
        "    exec(code)\n"
        '  File "/home/me/.venv/lib/python3.12/site-packages/flask/app.py", line 1511, in wsgi_app\n'
        "    response = self.full_dispatch_request()\n"
        '  File "main.py", line 9, in get_data\n'
        "    return json.dumps(x)\n"
        '  File "/usr/lib/python3.12/json/__init__.py", line 231, in dumps\n'
        "    return _default_encoder.encode(obj)\n"
        "TypeError: Object of type set is not JSON serializable\n"
    )
    cut = diagnose.student_traceback(log)
    assert cut.splitlines() == [
        "Traceback (most recent call last):",
        '  File "main.py", line 9, in get_data',
        "    return json.dumps(x)",
        '  File "json/__init__.py", line 231, in dumps',
        "TypeError: Object of type set is not JSON serializable",
    ]
    found = diagnose.parse_trace(log)
    assert found is not None and found.student is not None and found.student.line == 9
    assert found.library is not None and found.library.file == "json/__init__.py"


def test_an_error_inside_a_library_never_points_at_the_library():
    log = (
        "Traceback (most recent call last):\n"
        '  File "/v/lib/python3.11/site-packages/flask/app.py", line 1212, in make_response\n'
        "    raise TypeError(\n"
        "TypeError: bad\n"
    )
    assert diagnose.last_exception(log) == ("TypeError", "bad", None, None)


# --- routes and statuses, in-process ---


def test_a_route_on_a_blueprint_that_is_not_the_app():
    from grader.run.server import Route

    source = code(f"{APP}api = object()\n\n@api.route('/api/data')\ndef get_data():\n    return 'x'\n")
    advice = hints.unserved(source, [Route("/", "home", ("GET",), "main.py", 1)], "/api/data")
    assert advice is not None and "adds the route to api, not to app" in advice.why
    assert advice.hint == "write @app.route('/api/data') on line 5"


def test_a_status_from_abort_is_pointed_at():
    from grader.run.server import Route

    source = code(f"{APP}@app.route('/api/data')\ndef get_data():\n    abort(403)\n")
    advice = hints.other_status(source, [Route("/api/data", "get_data", ("GET",), "main.py", 3)], "/api/data", 403)
    assert advice is not None and advice.line == 5 and "abort(403)" in advice.why


# --- CORS configured but wrong: the part that does not allow the page's request ---


def problem(code_: str, stage: str = "preflight") -> CorsProblem:
    return CorsProblem(stage, code_, "expected ..., saw ...", "the judge's own hint")


def advise(setup: str, found: str, stage: str = "preflight", origin: str = ORIGIN) -> hints.Advice:
    source = code(f"from flask import Flask\nfrom flask_cors import CORS, cross_origin\napp = Flask(__name__)\n{setup}")
    advice = hints.cors_advice(problem(found, stage), origin, source, "/api/data")
    assert advice is not None
    return advice


@pytest.mark.parametrize(
    ("origins", "reason"),
    [
        ("['http://127.0.0.1:4100/']", "an origin has no path, not even a final /"),
        ("'https://127.0.0.1:4100'", "https and http are different origins"),
        ("['http://127.0.0.1:5001']", "the ports differ (5001 is not 4100)"),
        ("'http://localhost:4100'", "localhost and 127.0.0.1 are different origins"),
    ],
)
def test_origins_that_leave_out_the_page_say_why(origins, reason):
    advice = advise(f"CORS(app, supports_credentials=True, origins={origins})\n", "allow-origin-missing")
    assert f"origins={origins}" in advice.why and reason in advice.why and advice.line == 4


def test_origins_that_allow_the_page_are_not_blamed():
    source = code(f"{APP}from flask_cors import CORS\nCORS(app, origins=r'http://127\\.0\\.0\\.1:\\d+')\n")
    advice = hints.cors_advice(problem("allow-credentials-missing"), ORIGIN, source, "/api/data")
    assert advice is not None and "leaves out supports_credentials=True" in advice.why


def test_other_cors_options_that_do_not_allow_the_request():
    assert (
        "leave allow_headers out"
        in advise("CORS(app, supports_credentials=True, allow_headers=['Authorization'])\n", "header-not-allowed").hint
    )
    assert "delete send_wildcard=True" in advise("CORS(app, send_wildcard=True)\n", "allow-origin-wildcard").hint
    off = advise("CORS(app, supports_credentials=False)\n", "allow-credentials-missing")
    assert off.hint == "write supports_credentials=True on line 4"
    decorated = advise(
        "@app.route('/api/data')\n@cross_origin(origins=['http://localhost:4100'])\ndef get_data():\n    return 'x'\n",
        "allow-origin-missing",
    )
    assert "your @cross_origin(...)" in decorated.why and "localhost and 127.0.0.1" in decorated.why


def test_cors_on_an_app_that_a_second_one_replaces():
    advice = advise("CORS(app, supports_credentials=True)\napp = Flask(__name__)\n", "allow-origin-missing")
    assert advice.hint.startswith("delete line 5") and advice.line == 5


@pytest.mark.parametrize(
    ("headers", "found", "words"),
    [
        ("r.headers['Access-Control-Allow-Origin'] = '*'", "allow-origin-wildcard", "instead of *"),
        (
            "r.headers['Access-Control-Allow-Origin'] = 'http://localhost:4100'",
            "allow-origin-mismatch",
            f"write '{ORIGIN}' on line 7",
        ),
        (
            "r.headers['Access-Control-Allow-Credentials'] = str(True)",
            "allow-credentials-not-true",
            "write 'true' (a string, lower case) on line 7",
        ),
        (
            "r.headers.add('Access-Control-Allow-Origin', '*')\n    r.headers.add('Access-Control-Allow-Origin', '*')",
            "allow-origin-multiple",
            "delete line 8",
        ),
        (
            "r.headers['Access-Control-Allow-Origin'] = 'x'",
            "allow-credentials-missing",
            "Access-Control-Allow-Credentials with the value 'true'",
        ),
        ("r.headers['Access-Control-Allow-Origin'] = 'x'", "header-not-allowed", "Access-Control-Allow-Headers"),
    ],
)
def test_hand_written_headers_name_their_line(headers, found, words):
    advice = advise(f"\n@app.after_request\ndef add(r):\n    {headers}\n    return r\n", found)
    assert words in advice.hint, advice


def test_headers_set_in_the_route_only_miss_the_preflight():
    advice = advise(
        "\n@app.route('/api/data')\ndef get_data():\n    r = jsonify([])\n"
        "    r.headers['Access-Control-Allow-Origin'] = '*'\n    return r\n",
        "allow-origin-missing",
    )
    assert "Flask answers the preflight (OPTIONS) by itself" in advice.why


def test_no_cors_setup_keeps_the_judges_hint():
    assert hints.cors_advice(problem("allow-origin-missing"), ORIGIN, code(APP), "/api/data") is None


def test_each_cors_word_is_explained_once():
    explained: set[str] = set()
    first = plain_words("the preflight lacks Access-Control-Allow-Origin", explained)
    assert first.count("(") == 1 and 'a "preflight" is' in first and "names the page allowed" in first
    assert plain_words("the preflight again", explained) == "the preflight again"


# --- the summary ---


def test_not_graded_checks_are_not_counted_as_ones_to_fix():
    checks = [
        CheckResult("api.status", "n", "failed", 0, 2, "m"),
        CheckResult("api.json", "n", "not_graded", 0, 1, "not graded"),
        CheckResult("cors.preflight", "n", "failed", 0, 2, "m"),
    ]
    assert "— 2 checks to fix" in terminal.render(Report("s", "main.py", checks))


# --- bounded before the clock starts ---


def test_a_huge_linked_main_py_is_refused_without_reading_it(tmp_path):
    """A symlinked 1 GB .py took 39 s and 2.1 GB to read; 3 GB crashed webgrade with MemoryError."""
    outside = tmp_path / "huge.py"
    with open(outside, "wb") as f:
        f.truncate(3 * 2**30)  # sparse: costs no disk
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "main.py").symlink_to(outside)
    run = run_webgrade(str(folder), "--no-browser", watch=folder)
    assert run.code == 2
    assert f"cannot grade main.py: it is a symbolic link to {outside}, outside the folder" in run.stderr
    with pytest.raises(SubmissionError) as caught:
        find_submission(outside)
    assert caught.value.message == "huge.py is 3.0 GB; expected a server's source of at most 1.0 MB, so it was not read"


def test_a_huge_file_in_the_folder_is_passed_over_and_named(tmp_path):
    with open(tmp_path / "data.py", "wb") as f:
        f.truncate(2 * 2**30)
    (tmp_path / "notes.py").write_text("x = 1\n")
    with pytest.raises(SubmissionError) as caught:
        find_submission(tmp_path)
    assert "(not read: data.py: 2.0 GB)" in caught.value.message
    (tmp_path / "main.py").write_text(APP)
    assert find_submission(tmp_path).entry.name == "main.py"


def test_a_link_inside_the_folder_is_followed(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "server.py").write_text(APP)
    (tmp_path / "main.py").symlink_to(tmp_path / "src" / "server.py")
    assert find_submission(tmp_path).source == APP


def test_a_named_pipe_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "main.py")  # opening it would wait for a writer for ever
    with pytest.raises(SubmissionError) as caught:
        find_submission(tmp_path / "main.py")
    assert "not a regular file" in caught.value.message


def test_a_folder_of_too_many_files_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(finder, "MAX_ENTRIES", 50)
    for n in range(60):
        (tmp_path / f"f{n}.txt").touch()
    with pytest.raises(SubmissionError) as caught:
        find_submission(tmp_path)
    assert (
        caught.value.message == f"{tmp_path} holds more than 50 files and folders; expected a project folder, "
        "so the search stopped there"
    )
    deep = tmp_path / "deep"
    for n in range(60):
        (tmp_path / f"f{n}.txt").unlink()
        (deep / f"d{n}").mkdir(parents=True)
    with pytest.raises(SubmissionError):
        find_submission(tmp_path)


def test_the_search_is_part_of_the_reported_time():
    from grader.grade import Options, grade

    entry = SERVERS / "syntax_error" / "main.py"
    found = find_submission(entry)
    assert found.found_in_s > 0
    slow = Submission(found.path, found.folder, found.entry, None, found.source, found_in_s=1000.0)
    report = grade(slow, options=Options(browser_check=False, sandbox="none"))
    assert report.duration_s >= 1000.0


# --- the grading machine's problems are not the student's ---


def test_a_browser_that_does_not_start_leaves_the_check_not_graded(copy_server, tmp_path, monkeypatch):
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("WEBGRADE_CHROMIUM", str(broken))
    folder = copy_server("host_all")
    run = run_webgrade(str(folder), "--format", "json", "-v", "--browser", watch=folder)
    table = run.check("browser.table")
    assert table["status"] == "not_graded"
    assert table["max_score"] == 2  # the class's maximum stays
    assert table["message"] == ("not graded: the grading machine's browser did not start (not a problem of your code)")
    assert str(broken) in table["detail"]  # the details, for the instructor (-v)
