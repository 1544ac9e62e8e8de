"""The one shape of an error that webgrade explains to a person: what went wrong, and what to try.

Every such error carries a ``message`` (what was expected, what was seen) and a
``hint`` (one next step, or ""), so whoever shows it needs no ``except`` per type:

- :class:`UsageError`: the input cannot be graded as given (a path, an entry, a
  rubric, a roster).  ``grader.cli.main`` prints it and exits 2, in one place.
- :class:`Unavailable`: something a check needs is missing on this computer (a
  browser, the page's origin); the check says so instead of failing the student.
- ``grader.failures``: how a check ends without passing (``Failure``, ``NotGraded``).

Standard library only: the find stage, the rubric reader, the batch and the
pytest plugin raise these, and none of them may pull the CLI's dependencies in.
"""

from __future__ import annotations


class Explained(Exception):
    """An error worded for a person: ``message`` says what happened, ``hint`` what to try ("" if nothing)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return str(self.message)  # str(): a check's author may pass any object, as to Exception


class UsageError(Explained):
    """The input cannot be graded as given; the CLI says why and exits with :attr:`exit_code`."""

    #: As click's ``UsageError``: the exit status README promises for a usage error.
    exit_code = 2


class SubmissionError(UsageError):
    """No file to grade in what the user named (none, several, unreadable); raised by ``grader.find``.

    Here rather than in ``grader.find.submission``: the notebook reader raises it
    too, and the submission finder imports the notebook reader.
    """


class Unavailable(Explained):
    """Something a check needs is missing on this computer; not the student's fault."""
