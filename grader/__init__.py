"""webgrade: grade the 'Internet - Web Server' Flask lesson over real HTTP.

Kept import-light on purpose: the CLI starts the student's server before it
imports pytest, requests or jsonschema, so that the two overlap.
"""

from typing import TYPE_CHECKING

from grader.failures import Failure, NotGraded

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__all__ = ["Failure", "NotGraded"]
__version__ = "0.1.0"


def load_ipython_extension(ipython: "InteractiveShell") -> None:
    """``%load_ext grader``: the ``%webgrade`` magic, from grader.jupyter (imported only now, with IPython)."""
    from grader.jupyter import load_ipython_extension as load

    load(ipython)
