"""GitHub Actions: the step summary, one annotation per failed check, and no workflow command from student text.

The log is read here as the Actions runner reads it: ``runner_commands`` is the
runner's command parsing (actions/runner, ActionCommand.TryParseV2 and the
older TryParse, and ActionCommandManager's stop-commands), written again in
Python, applied to the raw lines webgrade printed.
"""

from __future__ import annotations

import base64
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, run_webgrade

from grader.reports import github, markdown
from grader.results import CheckResult, Report

#: Commands the runner knows; a line naming any other is only logged.
REGISTERED = {
    "add-mask",
    "add-matcher",
    "add-path",
    "debug",
    "echo",
    "endgroup",
    "error",
    "group",
    "notice",
    "remove-matcher",
    "save-state",
    "set-env",
    "set-output",
    "stop-commands",
    "warning",
}


def _unescape(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for escaped, char in pairs:
        text = text.replace(escaped, char)
    return text


DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
LEGACY = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


def parse_command(line: str, registered: set[str]) -> tuple[str, dict, str] | None:
    """One log line as the runner parses it.

    ``::name k=v,...::data`` after leading spaces, or ``##[name k=v;...]data`` anywhere.
    """
    known = {name.lower() for name in registered}
    message = line.lstrip()
    if message.startswith("::") and (end := message.find("::", 2)) >= 0:
        name, _, props = message[2:end].partition(" ")
        if name.lower() in known:
            pairs = [p.split("=", 1) for p in props.strip().split(",") if p]
            properties = {p[0]: _unescape(p[1], PROPERTY) for p in pairs if len(p) == 2 and p[0] and p[1]}
            return name, properties, _unescape(message[end + 2 :], DATA)
    if (start := line.find("##[")) >= 0 and (end := line.find("]", start)) >= 0:
        name, _, props = line[start + 3 : end].partition(" ")
        if name.lower() in known:
            pairs = [p.split("=", 1) for p in props.split(";") if p]
            properties = {p[0]: _unescape(p[1], LEGACY) for p in pairs if len(p) == 2 and p[0] and p[1]}
            return name, properties, _unescape(line[end + 1 :], LEGACY)
    return None


def runner_commands(text: str) -> list[tuple[str, dict, str]]:
    """The workflow commands the runner would carry out for this log, in order."""
    registered, stop_token, done = set(REGISTERED), None, []
    for line in text.splitlines():
        command = parse_command(line, registered)
        if command is None:
            continue
        name = command[0]
        if stop_token is not None:
            if name.lower() == stop_token.lower():
                registered.discard(stop_token)
                stop_token = None
                done.append(("resume", {}, ""))
            continue  # stopped: every other command is only logged
        if name == "stop-commands":
            stop_token = command[2]
            registered.add(stop_token)
        done.append(command)
    return done


def actions_run(folder: Path, tmp_path: Path, monkeypatch, *args: str, workspace: Path | None = None):
    summary = tmp_path / "step_summary.md"
    summary.write_text("")
    output = tmp_path / "github_output"
    output.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace or folder.parent))
    run = run_webgrade(str(folder), "--no-browser", *args, watch=folder)
    return run, summary.read_text(), output.read_text()


def fenced_then_annotations(commands: list) -> list[tuple[str, dict, str]]:
    """Check the log's commands are our fence around the scorecard, then our annotations; return those."""
    assert [c[0] for c in commands[:2]] == ["stop-commands", "resume"], commands[:3]
    assert len(commands[0][2]) == 32, "the stop token is random, 128 bits"
    annotations = commands[2:]
    assert {c[0] for c in annotations} <= {"error"}, annotations
    return annotations


# --- escaping, as the runner unescapes ---


def test_command_escaping_round_trips_through_the_runner_s_parser():
    message = "50% done\r\nnext line ::error::not a command, %0A stays"
    title = "a title: with, commas and 100%"
    line = github.command("error", message, file="api/main.py", line=18, title=title)
    assert "\n" not in line and "\r" not in line
    name, properties, data = parse_command(line, REGISTERED)
    assert (name, data) == ("error", message)
    assert properties == {"file": "api/main.py", "line": "18", "title": title}


def test_annotations_point_at_the_file_inside_the_workspace(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "main.py").write_text("")
    checks = [
        CheckResult(
            "api.status", "GET /api/data answers 200", "failed", 0, 2, "saw 404", "fix it", file="main.py", line=18
        ),
        CheckResult("home.html", "home", "failed", 0, 1, "no title", file="gone.py", line=3),
        CheckResult("home.status", "home", "not_graded", 0, 1, "not graded"),
    ]
    report = Report("s", "e", checks)
    inside = github.error_annotations(report, tmp_path / "sub", workspace=tmp_path)
    assert [parse_command(line, REGISTERED)[1] for line in inside] == [
        {"file": "sub/main.py", "line": "18", "title": "GET /api/data answers 200 (api.status)"},
        {"title": "home (home.html)"},  # no such file: no place
    ]
    outside = github.error_annotations(report, tmp_path / "sub", workspace=tmp_path / "elsewhere")
    assert "file" not in parse_command(outside[0], REGISTERED)[1]


# --- a real run in Actions ---


@pytest.mark.parametrize("name", ["reference_server", "route_renamed"])
def test_step_summary_and_annotations(name, tmp_path, monkeypatch):
    source = ROOT / "reference_server" if name == "reference_server" else ROOT / "tests" / "servers" / name
    folder = tmp_path / "repo" / name
    shutil.copytree(source, folder)
    run, summary, _ = actions_run(folder, tmp_path, monkeypatch, workspace=tmp_path / "repo")
    annotations = fenced_then_annotations(runner_commands(run.stdout))
    assert "score " in run.stdout and "✓" in run.stdout, "the scorecard is printed, inside the fence"
    assert summary.startswith("## webgrade: ")
    assert "| ✅ | the server starts and answers HTTP | `server.start` | 1/1 |" in summary
    if name == "reference_server":
        assert run.code == 0 and annotations == [] and "(passed)" in summary.splitlines()[0]
    else:
        assert run.code == 1 and "(failed)" in summary.splitlines()[0]
        (annotation,) = annotations
        assert annotation[1] == {
            "file": f"{name}/main.py",
            "line": "18",
            "title": "GET /api/data answers 200 (api.status)",
        }
        assert annotation[2] == (
            "expected GET /api/data to answer 200, saw 404 Not Found\n"
            "try: your server answers /api/shaurya, but the page fetches /api/data: "
            "change the route to @app.route('/api/data')"
        )
        assert "| ❌ | GET /api/data answers 200 | `api.status` | 0/2 |" in summary


def test_nothing_of_github_outside_actions(tmp_path, monkeypatch):
    folder = tmp_path / "route_renamed"
    shutil.copytree(ROOT / "tests" / "servers" / "route_renamed", folder)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    run = run_webgrade(str(folder), "--no-browser", watch=folder)
    assert "::" not in run.stdout and not (tmp_path / "summary.md").exists()


# --- student text cannot issue workflow commands ---

EVIL = [
    "##[set-output name=x;]legacy",  # first, so api.json's 60-character quote of the body holds it
    "::set-output name=x::y",
    "::add-mask::webgrade",
    "::stop-commands::foo",
    "::error::pwned",
    "   ::warning file=main.py::indented",
    "text before ##[add-mask]legacy-mask",
    "::foo::",
]

#: An instructor's check that quotes the student's answer whole, line breaks and all.
QUOTING_CHECK = textwrap.dedent('''
    import pytest
    from grader import Failure


    @pytest.mark.check("quote.body", points=1)
    def test_quote(http):
        """the API answers JSON"""
        raise Failure("expected JSON, saw:\\n" + http.get("/api/data").text, "return jsonify(records)")
''')

SERVING = textwrap.dedent("""
    import sys
    from flask import Flask
    from flask_cors import CORS

    EVIL = {evil!r}
    for line in EVIL:
        print(line, flush=True)
        print(line, file=sys.stderr, flush=True)

    app = Flask(__name__)
    CORS(app, supports_credentials=True, origins='*')


    @app.route('/api/data')
    def data():
        return "\\n".join(EVIL)  # HTML, not JSON: quoted in api.json's message, whole with -v


    @app.route('/')
    def home():
        return "<html><head><title>::error::title</title></head><body>" + "\\n".join(EVIL) + "</body></html>"


    if __name__ == '__main__':
        app.run(port=5001)
""").format(evil=EVIL)

CRASHING = textwrap.dedent("""
    from flask import Flask
    EVIL = {evil!r}
    for line in EVIL:
        print(line, flush=True)
    raise RuntimeError("\\n".join(EVIL))
""").format(evil=EVIL)


@pytest.mark.parametrize("server", ["serving", "crashing"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_student_text_cannot_issue_workflow_commands(server, fmt, tmp_path, monkeypatch):
    folder = tmp_path / "repo" / "evil"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(SERVING if server == "serving" else CRASHING)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "test_quote.py").write_text(QUOTING_CHECK)
    run, summary, output = actions_run(
        folder, tmp_path, monkeypatch, "-v", "--format", fmt, "--classroom", "--checks", str(tmp_path / "checks")
    )
    assert run.code == 1
    # The student's text did reach the log: this test is not passing because it was dropped.
    assert "::add-mask::webgrade" in run.stdout and "##[set-output name=x;]" in run.stdout.replace("\\u0023", "#")
    if fmt == "text":
        annotations = fenced_then_annotations(runner_commands(run.stdout))
    else:
        assert runner_commands(run.stdout) == [], "JSON output holds no command"
        report = json.loads(run.stdout)  # still one JSON object
        assert any("::add-mask::webgrade" in json.dumps(c) for c in report["checks"])
        annotations = runner_commands(run.stderr)
        assert {c[0] for c in annotations} <= {"error"}
    failed = {"serving": {"api.json", "quote.body"}, "crashing": {"server.start"}}[server]
    assert {a[1]["title"].rsplit("(", 1)[1].rstrip(")") for a in annotations} == failed
    if fmt == "text":
        assert runner_commands(run.stderr) == []
    # Classroom's output is one line of base64, whatever the messages hold.
    (line,) = output.splitlines()
    result = json.loads(base64.b64decode(line.removeprefix("result="), validate=True))
    messages = "\n".join(test["message"] for test in result["tests"])
    assert "##[set-output" in messages.replace("\u200b", "") and runner_commands(messages) == []
    if server == "serving":
        assert "::add-mask::webgrade" in messages, "the quoted answer reaches Classroom, on one line"


def test_a_guessed_resume_token_does_not_end_the_fence():
    text = github.fenced("::foo::\n::stop-commands::bar\n::bar::\n::add-mask::x")
    assert [c[0] for c in runner_commands(text)] == ["stop-commands", "resume"]


# --- GitHub's limits: 10 error annotations per step, a step summary of at most 1 MiB ---


def _failed(count: int, message: str = "saw 404", log: str = "") -> list[CheckResult]:
    return [
        CheckResult(f"many.c{n:02}", f"check number {n}", "failed", 0, 1, f"check {n} {message}", "fix it", log=log)
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 14, 60])
def test_at_most_ten_error_annotations_and_the_last_says_what_is_left_out(count, tmp_path):
    passing = [CheckResult("server.start", "starts", "passed", 1, 1), CheckResult("a.b", "ab", "not_graded", 0, 1, "x")]
    report = Report("s", "e", [*passing, *_failed(count)])
    commands = [
        parse_command(line, REGISTERED) for line in github.error_annotations(report, tmp_path, workspace=tmp_path)
    ]
    assert {c[0] for c in commands} <= {"error"}, "webgrade emits no warning or notice annotation"
    assert len(commands) == min(count, 10)
    titles = [c[1]["title"] for c in commands]
    if count <= 10:
        assert titles == [f"check number {n} (many.c{n:02})" for n in range(1, count + 1)]
        return
    assert titles[:9] == [f"check number {n} (many.c{n:02})" for n in range(1, 10)]
    left = count - 9
    assert titles[9] == f"{left} more failed checks"
    message = commands[9][2]
    assert message.startswith(f"{left} more checks failed (many.c10, many.c11")
    assert f", {count} in all" in message and "Summary page" in message and "this step's log" in message
    assert ("many.c29, …)" in message and "many.c30" not in message) if count > 29 else f"many.c{count:02})" in message


def _scorecard_rows(report: Report) -> list[str]:
    """The line of each check in the summary's table, up to its message: these must never be cut."""
    marks = {"passed": "✅", "failed": "❌", "not_graded": "➖", "skipped": "⏭️"}
    return [f"| {marks[c.status]} | {c.name} | `{c.id}` | {c.score:g}/{c.max_score:g} | " for c in report.checks]


#: Every UTF-8 length, and characters that Markdown escaping makes longer (``&`` is ``&amp;``, ``*`` is ``\*``).
MIXED = "aé€😀 &<*|`_#" * 5


@pytest.mark.parametrize("budget", [6_000, 9_999, 20_000, 50_001, 262_144])
def test_summary_fits_its_budget_and_keeps_every_scorecard_line(budget):
    huge = MIXED * 4_000  # 200 KB, on one line
    flood = "\n".join(f"line {n} {MIXED}" for n in range(3_000)) + "\nthe last line"
    checks = [
        CheckResult("server.start", "starts", "passed", 1, 1, warnings=["w " + huge]),
        CheckResult("short.one", "a short one", "failed", 0, 2, "short message", "short hint"),
        *_failed(14, huge, flood),
    ]
    report = Report("s", "e", checks, notes=["a note"])
    full = markdown.render(report)
    assert len(full.encode()) > 2_000_000, "the page uncut is twice the runner's limit"
    page = markdown.render(report, max_bytes=budget)
    assert len(page.encode()) <= budget
    assert "\ufffd" not in page, "no character cut in two"
    assert page.startswith("## webgrade: 1/17 (failed)\n\n> a note\n")
    for row in _scorecard_rows(report):
        assert page.count("\n" + row) == 1, row
    assert "| a short one | `short.one` | 0/2 | short message<br>**Try:** short hint |" in page, (
        "short texts stay whole"
    )
    cut = page.count("✂ cut:")
    assert cut >= 14 * 2 + 1, "each long message, warning and log carries the marker"
    assert page.count("<details><summary>What the server printed (many.c") == 14
    if budget >= 50_000:  # room for some of each text: a message keeps its start, a log its end
        assert "| check 1 aé€😀 &amp;&lt;\\*\\|\\`\\_\\#" in page
        assert page.count("the last line\n```") == 14
    assert markdown.render(report, max_bytes=len(full.encode())) == full, "nothing is cut from a page that fits"


def test_a_cut_text_ends_on_a_whole_character_at_every_length():
    for width in range(1, 5):
        char = {1: "a", 2: "é", 3: "€", 4: "😀"}[width]
        report = Report("s", "e", _failed(1, char * 3_000, log=char * 3_000))
        for budget in range(600, 2_600, 7):
            page = markdown.render(report, max_bytes=budget)
            assert len(page.encode()) <= budget and "✂ cut:" in page
            assert "\ufffd" not in page, "no character cut in two"


def test_the_summary_fits_in_what_the_step_left_of_the_limit(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = Report("s", "e", _failed(14, MIXED * 4_000, log=MIXED * 2_000))
    for before in (0, 600_000, 1_000_000):
        summary.write_bytes(b"x" * before)
        assert github.write_step_summary(report)
        written = summary.read_bytes()
        assert written[:before] == b"x" * before, "appended, never rewritten"
        ours = written[before:].decode("utf-8")
        assert len(ours.encode()) <= 256 * 1024, "webgrade's part keeps a margin under the limit"
        assert len(written) <= 1_048_576
        for row in _scorecard_rows(report):
            assert "\n" + row in ours


#: An instructor's checks that all fail, each with a 200 KB message and the server's output (64 KB) as its log.
MANY_FAILING_CHECKS = "import pytest\nfrom grader import Failure\n\nBIG = {big!r} * 4_000\n" + "".join(
    textwrap.dedent(f'''

    @pytest.mark.check("many.c{n:02}", points=1)
    def test_c{n:02}(server):
        """check number {n}"""
        raise Failure("check {n} saw " + BIG, "hint " + BIG[:10_000], log=server.log_text() + "\\nend of log {n}")
    ''')
    for n in range(1, 15)
)

#: Before it serves, the server prints a flood: about 400 KB of lines with multibyte characters (and a command).
FLOOD = "for n in range(3_000):\n    print('flood', n, {text!r}, flush=n % 500 == 0)\n"


def test_many_failed_checks_with_huge_messages_and_a_flooding_server(tmp_path, monkeypatch):
    folder = tmp_path / "repo" / "flood"
    shutil.copytree(ROOT / "reference_server", folder)
    source = (folder / "main.py").read_text()
    (folder / "main.py").write_text(FLOOD.format(text=MIXED + " ::add-mask::x ##[set-output name=x;]y") + source)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "test_many.py").write_text(MANY_FAILING_CHECKS.format(big=MIXED))
    run, _, _ = actions_run(
        folder, tmp_path, monkeypatch, "--checks", str(tmp_path / "checks"), workspace=tmp_path / "repo"
    )
    assert run.code == 1
    annotations = fenced_then_annotations(runner_commands(run.stdout))
    assert len(annotations) == 10
    assert run.stdout.count("check 14 saw ") == 1 and len(run.stdout.encode()) > 3_000_000, "the log has it all"
    assert [a[1]["title"] for a in annotations[:9]] == [f"check number {n} (many.c{n:02})" for n in range(1, 10)]
    assert annotations[9][1] == {"title": "5 more failed checks"}
    assert annotations[9][2].startswith("5 more checks failed (many.c10, many.c11, many.c12, many.c13, many.c14)")
    page = (tmp_path / "step_summary.md").read_bytes()
    assert len(page) <= 256 * 1024, "well under the runner's 1 MiB"
    summary = page.decode("utf-8")  # strict: no character cut in two
    assert summary.startswith("## webgrade: 13/27 (failed)")
    for n in range(1, 15):
        assert f"\n| ❌ | check number {n} | `many.c{n:02}` | 0/1 | check {n} saw aé€😀" in summary
        assert f"<details><summary>What the server printed (many.c{n:02})</summary>" in summary
        assert f"end of log {n}\n```" in summary, "a log keeps its last lines"
    assert "| ✅ | the server starts and answers HTTP | `server.start` | 1/1 |" in summary
    assert summary.count("✂ cut:") >= 28
    assert "::add-mask::x ##[set-output name=x;]y" in summary, "the server's own words, in a code block"
