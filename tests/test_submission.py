"""How `webgrade check PATH` finds the file to grade, and how notebook cells become Python."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest

from grader.find.notebook import clean_cell, server_cell
from grader.find.submission import STRONG, WEAK, Submission, SubmissionError, find_submission, flask_strength

HERE = Path(__file__).parent / "submissions_finder"
#: The lesson's server cell, copied verbatim from lesson.md (cell 4 of lesson.ipynb).
LESSON_CELL = (HERE / "lesson_server_cell.txt").read_text(encoding="utf-8")

APP = "from flask import Flask\napp = Flask(__name__)\n\nif __name__ == '__main__':\n    app.run(port=5001)\n"
FACTORY = "from flask import request\nfrom api import create_app\napp = create_app()\napp.run(port=5001)\n"


def write(folder: Path, name: str, text: str = APP) -> Path:
    file = folder / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file


def notebook(folder: Path, *cells: str | list[str] | tuple[str, str], name: str = "lesson.ipynb") -> Path:
    """A notebook of code cells; a (type, source) pair makes a markdown or raw cell."""
    made = []
    for cell in cells:
        kind, source = cell if isinstance(cell, tuple) else ("code", cell)
        made.append({"cell_type": kind, "metadata": {}, "source": source, "outputs": [], "execution_count": None})
    return write(folder, name, json.dumps({"cells": made, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def error(path: Path, entry: str | None = None) -> SubmissionError:
    with pytest.raises(SubmissionError) as caught:
        find_submission(path, entry)
    return caught.value


# --- files named directly ---


def test_py_file(tmp_path):
    file = write(tmp_path, "server.py")
    found = find_submission(file)
    assert found == Submission(file, tmp_path, file, None, APP)
    assert found.display_name == "server.py"
    assert found.where(2) == "server.py, line 2"


def test_py_file_is_taken_even_without_flask(tmp_path):
    file = write(tmp_path, "hello.py", "print('hi')\n")
    assert find_submission(file).source == "print('hi')\n"


def test_py_source_drops_byte_order_mark_and_replaces_bad_bytes(tmp_path):
    file = tmp_path / "main.py"
    file.write_bytes(b"\xef\xbb\xbfx = '\xff'\r\n")
    source = find_submission(file).source
    assert source == "x = '\ufffd'\n"
    compile(source, "main.py", "exec")


def test_relative_path_is_resolved(tmp_path, monkeypatch):
    write(tmp_path, "main.py")
    monkeypatch.chdir(tmp_path)
    found = find_submission(Path("."))
    assert found.path == tmp_path.resolve() and found.entry == (tmp_path / "main.py").resolve()
    assert found.entry.is_absolute()


def test_missing_path(tmp_path):
    assert error(tmp_path / "nope").message == f"no such file or folder: {tmp_path / 'nope'}"


def test_other_file_type(tmp_path):
    problem = error(write(tmp_path, "notes.txt", "Flask(__name__)"))
    assert "notes.txt" in problem.message and ".py" in problem.message and problem.hint


# --- which file in a folder ---


@pytest.mark.parametrize("main", [APP, FACTORY], ids=["creates-app", "imports-flask"])
def test_main_py_preferred_over_app_py_and_others(tmp_path, main):
    write(tmp_path, "main.py", main)
    write(tmp_path, "app.py")
    write(tmp_path, "server.py")
    found = find_submission(tmp_path)
    assert found.entry == tmp_path / "main.py"
    assert found.folder == tmp_path and found.display_name == "main.py" and found.source == main


def test_app_py_preferred_over_others(tmp_path):
    write(tmp_path, "app.py", FACTORY)
    write(tmp_path, "server.py")
    assert find_submission(tmp_path).entry == tmp_path / "app.py"


def test_main_py_that_is_no_candidate_is_not_preferred(tmp_path):
    write(tmp_path, "main.py", "print('menu')\n")
    write(tmp_path, "server.py")
    assert find_submission(tmp_path).entry == tmp_path / "server.py"


def test_single_strong_candidate_over_weak(tmp_path):
    write(tmp_path, "helpers.py", "from flask import jsonify\n")
    write(tmp_path, "server.py")
    assert find_submission(tmp_path).entry == tmp_path / "server.py"


def test_single_weak_candidate(tmp_path):
    write(tmp_path, "run.py", FACTORY)
    write(tmp_path, "notes.py", "print('no web here')\n")
    assert find_submission(tmp_path).entry == tmp_path / "run.py"


def test_files_are_read_not_run(tmp_path):
    write(tmp_path, "server.py", "open('ran.txt', 'w').close()\n" + APP)
    assert find_submission(tmp_path).entry.name == "server.py"
    assert list(tmp_path.iterdir()) == [tmp_path / "server.py"]


def test_test_files_are_not_the_server(tmp_path):
    write(tmp_path, "test_app.py", APP)
    write(tmp_path, "conftest.py", APP)
    write(tmp_path, "server.py", FACTORY)
    assert find_submission(tmp_path).entry == tmp_path / "server.py"


def test_single_candidate_in_a_subfolder(tmp_path):
    write(tmp_path, "README.md", "# my server\n")
    write(tmp_path, "notes.py", "print('hi')\n")
    file = write(tmp_path, "backend/server.py")
    found = find_submission(tmp_path)
    assert (found.entry, found.folder) == (file, tmp_path / "backend")
    assert found.display_name == "backend/server.py"


def test_subfolder_main_py_preferred_over_package_that_creates_app(tmp_path):
    write(tmp_path, "backend/api/__init__.py")
    write(tmp_path, "backend/main.py", "from flask import render_template\nfrom api import app\napp.run()\n")
    assert find_submission(tmp_path).entry == tmp_path / "backend/main.py"


def test_top_level_candidate_wins_over_subfolders(tmp_path):
    write(tmp_path, "run.py", FACTORY)
    write(tmp_path, "api/server.py")
    assert find_submission(tmp_path).entry == tmp_path / "run.py"


@pytest.mark.parametrize(
    "folder", ["venv", ".venv", "env", "lib/site-packages", "node_modules", "__pycache__", "tests", ".hidden", "myenv"]
)
def test_skipped_folders(tmp_path, folder):
    write(tmp_path, f"{folder}/server.py")
    if folder == "myenv":  # any virtualenv, whatever its name
        write(tmp_path, "myenv/pyvenv.cfg", "home = /usr/bin\n")
    assert "no Flask app found" in error(tmp_path).message
    write(tmp_path, "src/server.py")
    assert find_submission(tmp_path).entry == tmp_path / "src/server.py"


def test_ambiguous_lists_both_and_says_how_to_choose(tmp_path):
    write(tmp_path, "one.py")
    write(tmp_path, "two.py")
    write(tmp_path, "helpers.py", "import flask\n")
    problem = error(tmp_path)
    assert "one.py" in problem.message and "two.py" in problem.message and "helpers.py" not in problem.message
    assert "webgrade check --entry FILE" in problem.hint


def test_ambiguous_in_subfolders_lists_relative_paths(tmp_path):
    write(tmp_path, "a/main.py")
    write(tmp_path, "b/main.py")
    assert "a/main.py, b/main.py" in error(tmp_path).message


def test_entry_picks(tmp_path):
    write(tmp_path, "one.py")
    two = write(tmp_path, "two.py")
    assert find_submission(tmp_path, "two.py").entry == two
    assert find_submission(tmp_path, str(two)).entry == two


def test_entry_picks_a_file_without_flask(tmp_path):
    write(tmp_path, "main.py")
    other = write(tmp_path, "sub/start.py", "import os\n")
    found = find_submission(tmp_path, "sub/start.py")
    assert (found.entry, found.folder, found.display_name) == (other, tmp_path / "sub", "sub/start.py")


def test_entry_picks_a_notebook(tmp_path):
    write(tmp_path, "main.py")
    notebook(tmp_path, "print(1)", APP)
    found = find_submission(tmp_path, "lesson.ipynb")
    assert (found.cell, found.source, found.display_name) == (2, APP, "lesson.ipynb, cell 2")


def test_entry_missing(tmp_path):
    write(tmp_path, "main.py")
    problem = error(tmp_path, "nope.py")
    assert "nope.py" in problem.message and problem.hint


def test_entry_with_a_file_path(tmp_path):
    assert "--entry" in error(write(tmp_path, "main.py"), "main.py").message


def test_entry_of_another_type(tmp_path):
    write(tmp_path, "data.json", "{}")
    assert "data.json" in error(tmp_path, "data.json").message


def test_syntax_error_main_py_still_found(tmp_path):
    broken = "from flask import Flask\napp = Flask(__name__\n\ndef index(:\n    return 'hi'\n"
    write(tmp_path, "main.py", broken)
    write(tmp_path, "helpers.py", "print('hi')\n")
    assert find_submission(tmp_path).source == broken


def test_syntax_error_file_is_a_strong_candidate_by_its_text(tmp_path):
    write(tmp_path, "server.py", "app = Flask (__name__)\nif True\n    app.run()\n")
    write(tmp_path, "helpers.py", "import flask\n")
    write(tmp_path, "broken.py", "def f(:\n")
    assert find_submission(tmp_path).entry == tmp_path / "server.py"


def test_no_flask_anywhere(tmp_path):
    write(tmp_path, "hello.py", "print('hello')  # not Flask(__name__) yet\n")
    notebook(tmp_path, "print(1)")
    problem = error(tmp_path)
    assert "no Flask app found" in problem.message and str(tmp_path) in problem.message
    assert "Flask(__name__)" in problem.message and "notebook" in problem.message and problem.hint


def test_empty_folder(tmp_path):
    assert "no Flask app found" in error(tmp_path).message


# --- what counts as a Flask app ---


@pytest.mark.parametrize(
    "source, strength",
    [
        (APP, STRONG),
        ("import flask\napp = flask.Flask(__name__)\n", STRONG),
        ("import flask as fl\napp = fl.Flask(__name__)\n", STRONG),
        ("from flask import Flask as F\napp = F(__name__)\n", STRONG),
        ("from flask import Flask\ndef create_app():\n    return Flask(__name__)\n", STRONG),
        (FACTORY, WEAK),
        ("import flask.views\n", WEAK),
        ("import flask\nclass MyApp(flask.Flask):\n    pass\n", WEAK),
        ("from flask_cors import CORS\nCORS(app)\n", 0),
        ("# app = Flask(__name__)\ntext = 'Flask(__name__)'\n", 0),
        ("import os\nos.Flask(1)\n", 0),
        ("from flask import Flask (\n", STRONG),  # syntax error: by its text
        ("import flask\ndef f(:\n", WEAK),
        ("def f(:\n", 0),
        ("x = 1\0\n", 0),  # null bytes: not parsable
    ],
)
def test_flask_strength(source, strength):
    assert flask_strength(source) == strength


def test_flask_strength_is_quiet_about_the_students_warnings():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        # The invalid escape "\d" warns when parsed; it is still a Flask app.
        assert flask_strength("from flask import Flask as F\npattern = '\\d+'\napp = F(__name__)\n") == STRONG
    assert seen == []


# --- notebooks ---


def test_lesson_notebook(tmp_path):
    file = tmp_path / "lesson.ipynb"
    shutil.copyfile(HERE / "lesson.ipynb", file)
    found = find_submission(tmp_path)
    assert (found.entry, found.folder, found.cell) == (file, tmp_path, 4)
    assert found.display_name == "lesson.ipynb, cell 4" and found.where(7) == "lesson.ipynb, cell 4, line 7"
    assert "%%python" not in found.source
    # The magic line is blanked, not removed: line n of the source is line n of the cell.
    assert found.source.split("\n") == [""] + LESSON_CELL.split("\n")[1:]
    compile(found.source, found.display_name, "exec")


def test_lesson_server_cell_is_the_lesson_text():
    assert LESSON_CELL.startswith("%%python --bg\n\nfrom flask import Flask, jsonify\n")
    assert "app = Flask(__name__)" in LESSON_CELL and LESSON_CELL.endswith("    app.run(port=5001)")


def test_notebook_named_directly(tmp_path):
    file = notebook(tmp_path, ("markdown", "# Flask(__name__)"), "", APP, ("raw", "x"), "print(2)")
    found = find_submission(file)
    assert (found.path, found.entry, found.cell, found.source) == (file, file, 3, APP)


def test_several_flask_cells_last_one_graded(tmp_path):
    file = notebook(tmp_path, APP, "print(1)", "%%python --bg\n" + APP.replace("5001", "5002"), "print(3)")
    number, source = server_cell(file)
    assert number == 3 and "port=5002" in source


def test_cell_that_only_imports_flask_is_not_the_server(tmp_path):
    assert server_cell(notebook(tmp_path, APP, "import flask\nprint(flask.__version__)")) == (1, APP)


def test_script_bash_cell_ignored(tmp_path):
    bash = "%%script bash\npython -c 'from flask import Flask; Flask(__name__).run()'\n"
    assert clean_cell(bash) is None
    assert server_cell(notebook(tmp_path, APP, bash)) == (1, APP)


@pytest.mark.parametrize(
    "magic", ["%%script bash", "%%bash", "%%sh", "%%html", "%%javascript", "%%js", "%%markdown", "%%writefile x.py"]
)
def test_other_cell_magics_are_not_python(magic):
    assert clean_cell(f"{magic}\n{APP}") is None


@pytest.mark.parametrize(
    "magic",
    ["%%python", "%%python --bg", "%%python3 --bg", "%%script python", "%%script python3", "%%script --bg python3"],
)
def test_python_cell_magics(magic):
    assert clean_cell(f"{magic}\n{APP}") == "\n" + APP


def test_trailing_spaces_after_magic():
    assert clean_cell("%%python --bg   \n" + APP) == "\n" + APP
    assert clean_cell("%%python  \t\n" + APP) == "\n" + APP


def test_blank_lines_before_the_magic():
    assert clean_cell("\n  \n%%python --bg\n" + APP) == "\n  \n\n" + APP
    assert clean_cell("\n%%html\n<p>") is None


def test_commented_out_or_removed_magic(tmp_path):
    commented = "# %%python --bg\n" + APP
    assert clean_cell(commented) == commented
    assert clean_cell(APP) == APP
    assert server_cell(notebook(tmp_path, commented)) == (1, commented)


def test_pip_install_replaced_and_source_compiles():
    cleaned = clean_cell("!pip install flask\n" + APP)
    assert cleaned == "pass\n" + APP
    compile(cleaned, "x", "exec")


def test_magics_inside_blocks_keep_indentation_and_lines():
    cell = (
        "%%python --bg\n%load_ext autoreload\nfiles = !ls\n"
        "if True:\n    !echo hi\n    x = %env HOME\nelse:\n    %time f()\n"
    )
    cleaned = clean_cell(cell)
    assert cleaned == "\npass\npass\nif True:\n    pass\n    pass\nelse:\n    pass\n"
    assert len(cleaned.split("\n")) == len(cell.split("\n"))
    compile(cleaned, "x", "exec")


def test_magic_characters_inside_python_are_kept():
    cell = (
        'html = """\n!important\n%(name)s\n"""\n'
        "text = ('%d items'\n        % 3)\n"
        "total = 1 + \\\n    2\n"
        "ok = 1 != 2  # !not a magic (an unclosed bracket in a comment\n"
        "y = {'a': '(['}\n"
        "!echo after\n"
    )
    expected = cell.replace("!echo after", "pass")
    assert clean_cell(cell) == expected
    compile(expected, "x", "exec")


def test_list_and_string_sources_are_the_same(tmp_path):
    as_string = notebook(tmp_path, "print(1)\n", LESSON_CELL, name="string.ipynb")
    as_list = notebook(tmp_path, ["print(1)\n"], LESSON_CELL.splitlines(keepends=True), name="list.ipynb")
    assert server_cell(as_string) == server_cell(as_list)
    assert server_cell(as_list)[0] == 2 and "app = Flask(__name__)" in server_cell(as_list)[1]


def test_windows_line_endings(tmp_path):
    number, source = server_cell(notebook(tmp_path, LESSON_CELL.replace("\n", "\r\n")))
    assert "\r" not in source and source.split("\n")[1:] == LESSON_CELL.split("\n")[1:]
    compile(source, "x", "exec")


def test_empty_and_odd_cells_are_tolerated(tmp_path):
    file = notebook(tmp_path, "", [], ("markdown", ["# hi\n", "there"]), ("raw", ""), LESSON_CELL, "%%html\n<p>")
    assert server_cell(file)[0] == 5


def test_notebook_without_server_cell(tmp_path):
    file = notebook(tmp_path, "!pip install flask", "import requests", ("markdown", "app = Flask(__name__)"))
    problem = error(file)
    assert "no Flask server cell in lesson.ipynb" == problem.message and problem.hint


@pytest.mark.parametrize("text", ["{not json", '["a list"]', '{"worksheets": []}'])
def test_notebook_that_cannot_be_read(tmp_path, text):
    problem = error(write(tmp_path, "lesson.ipynb", text))
    assert problem.message.startswith("could not read the notebook lesson.ipynb") and problem.hint


def test_folder_with_only_a_notebook(tmp_path):
    notebook(tmp_path, "print(1)", name="intro.ipynb")
    file = notebook(tmp_path, "!pip install flask", LESSON_CELL, name="flask.ipynb")
    write(tmp_path, "broken.ipynb", "{")
    write(tmp_path, "util.py", "print('hi')\n")
    found = find_submission(tmp_path)
    assert (found.entry, found.cell) == (file, 2)


def test_notebook_in_a_subfolder(tmp_path):
    file = notebook(tmp_path / "_notebooks", LESSON_CELL)
    notebook(tmp_path / ".ipynb_checkpoints", LESSON_CELL)
    found = find_submission(tmp_path)
    assert (found.entry, found.display_name) == (file, "_notebooks/lesson.ipynb, cell 1")


def test_py_file_preferred_over_notebook(tmp_path):
    notebook(tmp_path, LESSON_CELL)
    run = write(tmp_path, "run.py", FACTORY)
    assert find_submission(tmp_path).entry == run


def test_several_notebooks_are_ambiguous(tmp_path):
    notebook(tmp_path, LESSON_CELL, name="a.ipynb")
    notebook(tmp_path, LESSON_CELL, name="b.ipynb")
    problem = error(tmp_path)
    assert "a.ipynb, b.ipynb" in problem.message and "--entry" in problem.hint
