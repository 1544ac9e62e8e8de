"""Well-known crashes explained from the student's own code: the table of names, and one rule per error.

``known_fix`` serves start-up (``grader.run.diagnose.exited``) and requests
(``grader.check.client``) alike: the same error reads the same way wherever
it happened.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.find.source import Source
    from grader.run.tracebacks import Trace

# Import names whose pip package is spelled differently.
PIP_NAMES = {"flask_cors": "flask-cors", "yaml": "pyyaml", "dotenv": "python-dotenv", "bs4": "beautifulsoup4"}
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")


@dataclass(frozen=True)
class Fix:
    """Why an error happened, in the student's terms, and the one change to make."""

    why: str
    hint: str
    #: The line to point at, when it is not the traceback's (the second of two functions, the function's ``def``).
    line: int | None = None
    #: A StartProblem kind, when it happens at start-up.
    kind: str = ""


#: Names students import from the lesson's libraries.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "flask": (
        "Flask",
        "jsonify",
        "request",
        "render_template",
        "render_template_string",
        "abort",
        "make_response",
        "redirect",
        "url_for",
        "Response",
        "Blueprint",
        "send_from_directory",
        "send_file",
        "session",
        "g",
        "current_app",
    ),
    "flask_cors": ("CORS", "cross_origin"),
}
#: Standard modules students use without importing them.
STDLIB = ("json", "os", "sys", "time", "datetime", "random", "math", "re", "csv", "sqlite3", "uuid", "pathlib")
#: Modules installed with pip: a missing one is installed, never committed.
INSTALLED = frozenset(
    {*KNOWN_NAMES, *PIP_NAMES, "requests", "werkzeug", "jinja2", "numpy", "pandas", "sqlalchemy", "flask_sqlalchemy"}
    | {"flask_login", "flask_restful", "jwt", "pymysql", "psycopg2", "matplotlib", "PIL", "IPython"}
)


def known_fix(trace: Trace, code: Source, files: list[str] | tuple[str, ...] = ()) -> Fix | None:
    """The explanation of a well-known error, from the student's own code; None if it is not one we know."""
    for rule in (
        _notebook_line,
        _import_name,
        _module_case,
        _not_committed,
        _duplicate_function,
        _missing_name,
        _returned_nothing,
        _template_missing,
    ):
        fix = rule(trace, code, files)
        if fix is not None:
            return fix
    return None


def _line_of(trace: Trace) -> int | None:
    return trace.student.line if trace.student else None


def _notebook_line(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    line = _line_of(trace)
    if trace.kind not in SYNTAX_ERRORS or line is None:
        return None
    text = code.line_text(line)
    if not text.startswith(("%", "!")):
        return None
    others = [n for n, t in enumerate(code.lines, start=1) if n != line and t.lstrip().startswith(("%", "!"))]
    also = f" (so {'are lines' if len(others) > 1 else 'is line'} {_numbers(others)})" if others else ""
    why = f"`{text}` on line {line} is a command for Jupyter notebooks, not Python{also}"
    command = text.lstrip("!").strip()
    if text.startswith("!") and command.split()[:2] == ["pip", "install"]:
        hint = f"delete line {line} and run `{command}` once in a terminal instead"
    elif text.startswith("!"):
        hint = f"delete line {line}: run `{command}` in a terminal if you need it"
    else:
        hint = f"delete line {line}{' and the other lines starting with % or !' if others else ''}: " + (
            f"a .py file runs without it (`python {code.file}`)"
        )
    return Fix(why, hint, line, "notebook-line")


def _numbers(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines[:-1]) + (" and " if len(lines) > 1 else "") + str(lines[-1])


def _closest(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The choice that ``name`` most likely meant: the same but for case, else a near spelling."""
    same = [c for c in choices if c.lower() == name.lower() and c != name]
    if same:
        return same[0]
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.8)
    return near[0] if near and near[0] != name else None


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"\b{re.escape(old)}\b", new, text, count=1)


def _import_name(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"cannot import name '([^']+)' from (?:partially initialized module )?'([^']+)'", trace.text)
    if trace.short_kind != "ImportError" or match is None:
        return None
    name, module = match[1], match[2]
    line = _line_of(trace)
    if "partially initialized module" in trace.text and f"{module.split('.')[0]}.py" in files:
        return Fix(
            f"your own file {module}.py has the library's name, so `import {module}` finds your file instead",
            f"rename {module}.py (for example to main.py): a file must not share its name with a library",
            line,
            "wrong-name",
        )
    right = _closest(name, KNOWN_NAMES.get(module, ()))
    if right is None:
        return Fix(
            f"{module} has nothing named {name!r}",
            f"check how {name} is spelled on line {line}: Python names are case-sensitive",
            line,
            "wrong-name",
        )
    why = f"{module} has no {name!r}: it is {right!r}" + (
        " (Python names are case-sensitive)" if right.lower() == name.lower() else ""
    )
    written = code.line_text(line) if line else ""
    head, imports, names = written.partition(" import ")
    fixed = f"{head}{imports}{_replace_word(names, name, right)}" if imports else f"from {module} import {right}"
    return Fix(why, f"write `{fixed}` on line {line}", line, "wrong-name")


def _missing_module(trace: Trace) -> str | None:
    match = re.search(r"No module named '([^']+)'", trace.text)
    return match[1] if trace.short_kind == "ModuleNotFoundError" and match else None


def _module_case(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    module = _missing_module(trace)
    if module is None:
        return None
    top = module.split(".")[0]
    if top == top.lower() or top.lower() not in INSTALLED:
        return None
    line = _line_of(trace)
    written = code.line_text(line) if line else ""
    fixed = _replace_word(written, top, top.lower()) if written else f"import {top.lower()}"
    return Fix(
        f"there is no module {top!r}: module names are lower case, it is {top.lower()!r}",
        f"write `{fixed}` on line {line}",
        line,
        "wrong-name",
    )


def _not_committed(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    """An import of the student's own module or folder that is not in the submission."""
    module = _missing_module(trace)
    if module is None:
        return None
    top = module.split(".")[0]
    if top in INSTALLED or top.lower() in INSTALLED or difflib.get_close_matches(top, sorted(INSTALLED), cutoff=0.85):
        return None  # a package, perhaps misspelled: the pip hint says both
    line = _line_of(trace)
    here = code.file.rsplit("/", 1)[0] + "/" if "/" in code.file else ""
    names = {f.rstrip("/").removesuffix(".py"): f for f in files if f.count("/") <= here.count("/") + 1}
    other_case = next(
        (f for n, f in names.items() if n.lower() == f"{here}{top}".lower() and n != f"{here}{top}"), None
    )
    if other_case is not None:
        return Fix(
            f"there is no {top!r}, but there is {other_case}: names of files and folders are case-sensitive",
            f"on line {line}, write the name exactly as {other_case.rstrip('/')} is written, or rename it",
            line,
            "not-committed",
        )
    # `from api.people import ...`: a folder of the student's own modules, not a package from PyPI.
    own = "." in module or any(i.module.startswith(f"{top}.") for i in code.imports)
    where = f"next to {code.file}"
    if own:
        return Fix(
            f"{top} looks like your own code, but the submission has no {top}/ folder or {top}.py {where}",
            f"add it to your repository: `git add {top}`, then commit and push (git keeps a folder with its files)",
            line,
            "not-committed",
        )
    return Fix(
        f"the submission has no {top}/ folder or {top}.py {where}, and no installed package is named {top}",
        f"if {top} is your own code, commit it (`git add {top}`, commit, push); "
        f"if it is a package, `pip install {PIP_NAMES.get(top, top)}` and list it in requirements.txt",
        line,
        "not-committed",
    )


def _duplicate_function(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"overwriting an existing endpoint function: (\S+)", trace.text)
    if trace.short_kind != "AssertionError" or match is None:
        return None
    name = match[1]
    defs = sorted({f.line for f in code.functions if f.name == name})
    if len(defs) < 2:
        return Fix(
            f"two routes are named {name}, and Flask names each route after its function",
            f"give the second route's function a name of its own (line {_line_of(trace)})",
            _line_of(trace),
            "duplicate-function",
        )
    return Fix(
        f"two functions are named {name} ({code.file}, lines {_numbers(defs)}), "
        "and Flask names each route after its function, so the second cannot be added",
        f"rename the second one, `def {name}` on line {defs[-1]}, to a name of its own",
        defs[-1],
        "duplicate-function",
    )


def _missing_name(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"name '([^']+)' is not defined", trace.text)
    if trace.short_kind != "NameError" or match is None:
        return None
    name, line = match[1], _line_of(trace)
    module = next((m for m, names in KNOWN_NAMES.items() if name in names), None)
    if module is not None:
        why = f"{name} comes from {module}, and {code.file} does not import it"
        existing = [i for i in code.imported(module) if i.original]
        if existing:
            first = existing[0]
            names = ", ".join(dict.fromkeys(i.original for i in existing if i.line == first.line))
            return Fix(
                why,
                f"add it to the import on line {first.line}: `from {module} import {names}, {name}`",
                first.line,
                "missing-name",
            )
        return Fix(why, f"add `from {module} import {name}` at the top of {code.file}", line, "missing-name")
    if name in STDLIB:
        return Fix(
            f"{name} is a module of Python's, and {code.file} does not import it",
            f"add `import {name}` at the top of {code.file}",
            line,
            "missing-name",
        )
    known = [i.name for i in code.imports] + [f.name for f in code.functions] + [a.name for a in code.apps]
    right = _closest(name, known)
    if right is not None:
        return Fix(
            f"nothing is named {name}, but {right} is: Python names are case-sensitive",
            f"write {right} on line {line}",
            line,
            "missing-name",
        )
    return None


def _returned_nothing(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    match = re.search(r"view function for '([^']+)' did not return a valid response", trace.text)
    if trace.short_kind != "TypeError" or match is None:
        return None
    name = match[1].rsplit(".", 1)[-1]
    function = code.function(name)
    if function is None:
        return Fix(f"the function {name} returned no answer", f"end {name} with a return, like `return jsonify(...)`")
    where = code.where(function.line)
    other = re.search(r"but it was an? (\w+)", trace.text)
    if other and other[1] != "NoneType":
        return Fix(
            f"the function {name} ({where}) returned a value of type {other[1]}, which Flask cannot send",
            f"return a string of HTML, or jsonify(...) of your data, from {name}",
            function.line,
        )
    if function.last is not None and function.last_is_expression and function.falls_off_end:
        text, line = function.last
        return Fix(
            f"the function {name} ({where}) never returns its answer: line {line} makes `{text}` and drops it",
            f"return it: write `return {text}` on line {line}",
            line,
        )
    if function.falls_off_end and not function.returns:
        return Fix(
            f"the function {name} ({where}) has no return statement, so it answers None",
            f"end {name} with a return, like `return jsonify(...)`",
            function.line,
        )
    if function.falls_off_end:
        return Fix(
            f"the function {name} ({where}) can reach its end without a return "
            f"(its return{'s' if len(function.returns) > 1 else ''} on line "
            f"{_numbers([r.line for r in function.returns])} did not run), so it answered None",
            f"make every way through {name} end with a return",
            function.line,
        )
    return Fix(
        f"the function {name} ({where}) returned None",
        f"return the answer itself from {name}, like `return jsonify(...)`",
        function.line,
    )


def _template_missing(trace: Trace, code: Source, files: list[str] | tuple[str, ...]) -> Fix | None:
    if trace.short_kind != "TemplateNotFound":
        return None
    template = trace.text.strip()
    here = code.file.rsplit("/", 1)[0] + "/" if "/" in code.file else ""
    wanted = f"{here}templates/{template}"
    why = (
        f"Flask found no template {template!r}: render_template looks for it only in a folder named "
        f"templates next to {code.file} ({wanted})"
    )
    elsewhere = [f for f in files if (f == template or f.endswith("/" + template)) and f != wanted]
    line = _line_of(trace)
    if elsewhere:
        return Fix(why, f"move {elsewhere[0]} to {wanted}", line)
    folder = next((f for f in files if f.rstrip("/").lower() in (f"{here}template", f"{here}templates")), None)
    if folder is not None and folder.rstrip("/") != f"{here}templates":
        return Fix(why, f"rename the folder {folder.rstrip('/')} to {here}templates (all lower case, with an s)", line)
    return Fix(why, f"create {wanted}, or return the page's HTML as a string from the function", line)
