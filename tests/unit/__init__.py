"""Unit tests, one file per module of grader/ (the suite around them is end to end)."""
