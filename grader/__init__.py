"""webgrade: grade the 'Internet - Web Server' Flask lesson over real HTTP.

Kept import-light on purpose: the CLI starts the student's server before it
imports pytest, requests or jsonschema, so that the two overlap.
"""

from grader.failures import Failure, NotGraded

__all__ = ["Failure", "NotGraded"]
__version__ = "0.1.0"
