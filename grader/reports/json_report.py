"""``--format json``: exactly one JSON object, with the stable field names of Report.to_dict."""

from __future__ import annotations

import json

from grader.results import Report


def render(report: Report, verbose: bool = False) -> str:
    return json.dumps(report.to_dict(verbose=verbose), indent=2, ensure_ascii=False)
