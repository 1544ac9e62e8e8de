"""Commands that live outside ``grader.cli`` (which registers them), and what more than one command shares."""
