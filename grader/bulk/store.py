"""``results.jsonl``: every student's full result, one JSON line each, and the resumable store.

A line is written, flushed and fsync'ed as soon as a student is graded, so a run killed midway
keeps everything it finished. On start the store is read back: the last line of a student wins,
a line that cannot be read (the torn end of a killed run) is dropped, and the torn end is cut
off before anything is appended after it. Each line is the object ``brokerlab grade --format
json`` prints, with the student's id and a fingerprint of what was graded (the submission's
files and the grader's suites and quizzes) first, so a submission that changed is graded again.
At the end of a run the file is rewritten once, one line per student, sorted by id.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from grader.results import Status, SubmissionResult

FILE_NAME = "results.jsonl"
GRADER_ERROR = "grader error"


def has_grader_error(result: SubmissionResult) -> bool:
    """Whether the grader failed anywhere in ``result``: the whole submission or any one test.

    Such a result says nothing about the student's work, so a resumed run grades it again
    rather than keep it.
    """
    return result.status == GRADER_ERROR or any(
        test.status is Status.GRADER_ERROR for exercise in result.exercises.values() for test in exercise.tests)


@dataclass
class Record:
    student_id: str
    fingerprint: str
    result: SubmissionResult

    def to_line(self) -> str:
        data = {"student_id": self.student_id, "fingerprint": self.fingerprint, **self.result.to_json_dict()}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> "Record":
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("student_id"), str):
            raise ValueError("not a result line")
        student_id = data.pop("student_id")
        fingerprint = str(data.pop("fingerprint", ""))
        return cls(student_id, fingerprint, SubmissionResult.from_json_dict(data))


class Store:
    """The append-only ``results.jsonl`` of one output folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dropped = 0  # lines that could not be read back

    def load(self) -> dict[str, Record]:
        records: dict[str, Record] = {}
        self.dropped = 0
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return records
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                record = Record.from_line(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, TypeError, RecursionError):
                self.dropped += 1
                continue
            records[record.student_id] = record
        return records

    def repair(self) -> None:
        """Cut a torn last line (no newline: the run was killed while writing it)."""
        try:
            with open(self.path, "rb+") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size == 0:
                    return
                fh.seek(size - 1)
                if fh.read(1) == b"\n":
                    return
                keep = 0
                position = size
                while position > 0:  # find the last newline, reading backwards
                    step = min(65536, position)
                    position -= step
                    fh.seek(position)
                    chunk = fh.read(step)
                    index = chunk.rfind(b"\n")
                    if index >= 0:
                        keep = position + index + 1
                        break
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
        except FileNotFoundError:
            return

    def append(self, record: Record) -> None:
        with open(self.path, "ab") as fh:
            fh.write(record.to_line().encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def rewrite(self, records: Iterable[Record]) -> None:
        """Replace the file by one line per student, sorted by id (atomically)."""
        lines = sorted(records, key=lambda r: r.student_id)
        write_atomic(self.path, "".join(r.to_line() for r in lines).encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees either the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:32]


# -- what a result was graded from -----------------------------------------------------------------

def grader_digest(seed: int | None = None) -> str:
    """A fingerprint of what decides the verdicts: the hidden suites, their harness, the quizzes
    and the course seed (another seed is another term's data: everyone is graded again)."""
    from grader.paths import QUIZZES, SUITES

    harness = SUITES.parent / "harness"
    quiz = SUITES.parent / "quiz"
    files: list[Path] = []
    for folder, pattern in ((SUITES, "*.py"), (SUITES, "*.ini"), (harness, "*.py"), (quiz, "*.py"),
                            (QUIZZES, "*.yaml")):
        files += sorted(folder.glob(pattern))
    parts: list[bytes] = []
    for path in files:
        try:
            parts += [path.name.encode(), path.read_bytes()]
        except OSError:
            continue
    if seed is not None:
        parts.append(f"seed {seed}".encode())
    return digest(*parts)


def submission_digest(path: Path | None, refused: str | None, grader: str) -> str:
    """A fingerprint of one submission as the grader reads it (its four files, or why it cannot be read)."""
    from grader.submission import UnreadableSubmission, open_submission

    if path is None:
        return digest(grader.encode(), b"refused", (refused or "").encode())
    try:
        submission = open_submission(path)
    except UnreadableSubmission as exc:
        return digest(grader.encode(), b"unreadable", str(exc).replace(str(path), path.name).encode())
    except Exception as exc:  # noqa: BLE001 - what one submission holds never stops the class run
        return digest(grader.encode(), b"unopened", type(exc).__name__.encode())
    parts = [grader.encode()]
    for name in sorted(submission.sources):
        parts += [name.encode(), submission.sources[name]]
    return digest(*parts)
