"""The built-in checks: ordinary pytest tests, one per graded behaviour of the lesson."""
