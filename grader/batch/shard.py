"""Grading without any engine: stable slices of a class, and one gradebook from their outputs.

``webgrade batch SUBMISSIONS --shard I/N`` grades the I-th of N slices, so a
GitHub Actions matrix, a Kubernetes indexed job or a Slurm array can each
take one; ``webgrade merge OUT1 OUT2 ... --out DIR`` joins their outputs.

A slice is chosen by a hash of the entry's name alone, not by its place in
the folder: a submission added later lands in one slice and moves no other,
so each slice's ``--resume`` keeps its work.  Feedback file names are chosen
from the whole folder, so a slice names each file as the whole batch would.

Merging trusts nothing it cannot check: every output must have been graded
with the same settings (the same webgrade, rubric and options: the hash
``--resume`` uses), no entry may be in two outputs, and each row must carry
its output's settings (a row left from an interrupted run with other settings
is refused, not mixed in).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from grader.batch import MANIFEST
from grader.batch.entries import Entry
from grader.batch.gradebook import Gradebook, Graded


class ShardError(ValueError):
    """A --shard that is not I/N with 1 <= I <= N."""


class MergeError(Exception):
    """Outputs that cannot be joined into one gradebook, and why, for the instructor."""


def parse(spec: str) -> tuple[int, int]:
    """``"2/5"`` as ``(2, 5)``: the second of five slices, counted from 1 as matrix and array indices are."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not match:
        raise ShardError(f"expected I/N, like 1/4 (the first of four slices), saw {spec!r}")
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ShardError(f"expected 1 <= I <= N in I/N, saw {spec!r}")
    return index, count


def slice_of(name: str, count: int) -> int:
    """The slice (1..count) an entry belongs to: from its name only, the same on every machine."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def select(entries: list[Entry], index: int, count: int) -> list[Entry]:
    """The entries of slice ``index`` of ``count``."""
    return [e for e in entries if slice_of(e.name, count) == index]


@dataclass
class Merged:
    out: Path
    outputs: int
    results: list[Graded]
    counts: dict[str, int]
    #: Entries of the folder that no output graded (a slice that did not run, or did not finish).
    not_graded_anywhere: list[str] = field(default_factory=list)


def _manifest(output: Path) -> dict[str, Any]:
    try:
        data = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"{output} has no {MANIFEST}: expected the --out folder of a `webgrade batch` run") from None
    except (OSError, ValueError) as error:
        raise MergeError(f"{output}/{MANIFEST} cannot be read: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), str):
        raise MergeError(f"{output}/{MANIFEST} is not a webgrade batch manifest")
    return data


def merge(outputs: list[Path], out: Path) -> Merged:
    """Join the ``--out`` folders of several batches (slices of one class) into ``out``.

    Raises :class:`MergeError` when they were graded with different settings,
    share an entry, or hold a row graded otherwise than its output says.
    """
    from grader.batch import write_outputs

    if not outputs:
        raise MergeError("expected at least one output folder to merge")
    out = out.resolve()
    outputs = [o.resolve() for o in outputs]
    for output in outputs:
        if out == output or output.is_relative_to(out) or out.is_relative_to(output):
            raise MergeError(f"expected --out to be a folder apart from the outputs merged, saw {output}")
    if len(set(outputs)) != len(outputs):
        raise MergeError("the same output folder is named twice")
    manifests = [_manifest(o) for o in outputs]
    first = manifests[0]
    for output, manifest in zip(outputs[1:], manifests[1:], strict=True):
        if manifest["settings"] != first["settings"]:
            if manifest.get("webgrade") != first.get("webgrade"):
                why = f"different webgrade versions ({manifest.get('webgrade')} and {first.get('webgrade')})"
            else:
                why = "a different rubric, its files, or different options (--timeout, --time-limit, --sandbox, ...)"
            raise MergeError(
                f"{output} and {outputs[0]} were graded with different settings: {why}; "
                "grade every slice with the same webgrade and options"
            )
    results: dict[str, Graded] = {}
    where: dict[str, Path] = {}
    for output, manifest in zip(outputs, manifests, strict=True):
        graded_here = set(manifest.get("graded") or [])
        for name, graded in Gradebook(output, []).previous().items():
            if name not in graded_here:
                continue  # an earlier run's row for an entry this output no longer grades
            if graded.settings != manifest["settings"]:
                raise MergeError(
                    f"{name} in {output} was graded with other settings than the rest of that output "
                    "(an interrupted run?): finish it with `webgrade batch ... --resume`, then merge"
                )
            if name in results:
                raise MergeError(f"{name} is in both {where[name]} and {output}: slices of one batch never overlap")
            results[name], where[name] = graded, output
    entries = list(first.get("entries") or [])
    missing_rows = [name for name in entries if name not in results]
    out.mkdir(parents=True, exist_ok=True)
    book = Gradebook(out, list(first.get("check_order") or []))
    book.open(fresh=True)
    final = sorted(results.values(), key=lambda g: g.entry)
    try:
        book.write_grades(final)  # first: it settles the full marks of rows without a report
        for graded in final:
            book.append(graded)
    finally:
        book.close()
    manifest = {
        **first,
        "shard": None,
        "graded": [g.entry for g in final],
        "merged_from": [str(o) for o in outputs],
    }
    write_outputs(
        book,
        final,
        order=list(first.get("check_order") or []),
        source=str(first.get("source", "")),
        skipped=[(str(a), str(b)) for a, b in first.get("skipped") or []],
        missing=list(first.get("missing") or []),
        manifest=manifest,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )
    counts = {"passed": 0, "failed": 0, "not_graded": 0}
    for graded in final:
        counts[graded.status] += 1
    return Merged(out, len(outputs), final, counts, missing_rows)
