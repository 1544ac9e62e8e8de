"""The two ways a check ends without passing.

A check raises :class:`Failure` when the student's server answered wrongly and
:class:`NotGraded` when it could not be judged at all (the server never started,
or a check it depends on failed).  Both carry text written for the student, in
check50's style: what was expected, what was seen, and one next step
(:class:`grader.errors.Explained`'s ``message`` and ``hint``).
"""

from __future__ import annotations

from grader.errors import Explained


class Failure(Explained):
    """The server answered, but not as the lesson asks."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        detail: str | None = None,
        *,
        log: str = "",
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, hint)
        #: The full value seen (a whole body, a whole header list), shown with -v.
        self.detail = detail
        #: The last lines of the server's output that explain the failure.
        self.log = log
        #: Where in the student's file the failure points, when known.
        self.file = file
        self.line = line


class NotGraded(Explained):
    """The check could not be run; ``message`` says why."""

    def __init__(self, message: str, hint: str = "", detail: str | None = None) -> None:
        super().__init__(message, hint)
        self.detail = detail
