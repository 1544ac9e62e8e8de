"""Stage 3, check: the pytest plugin that runs checks and the lesson-independent tools checks use.

The HTTP client, the Fetch standard's CORS rules, JSON Schema errors in the
student's terms, the page reader and the browser.  What a lesson checks lives
in ``grader.lessons``.
"""
