"""Opening a submission: a folder or a zip, reduced to the four files the contract names.

Only those files are ever read or extracted (at the root, or inside one single top-level folder);
anything else in a submission is ignored. A zip is checked whole before anything is taken from it:
entries that climb out of their folder, absolute paths, links, device files, or an archive
past the size and count limits make it unreadable, and nothing is written.
"""
from __future__ import annotations

import lzma
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.paths import ANSWERS_FILE, EXERCISE_FILES

MAX_FILE_BYTES = 1024 * 1024
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 2000
WANTED = (*EXERCISE_FILES.values(), ANSWERS_FILE)
# What reading a hostile or damaged zip can raise: besides its own errors, zipfile lets through
# the RuntimeError of an encrypted entry and the decompressors' and struct's errors.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, OSError, RuntimeError,
                  ValueError, zlib.error, lzma.LZMAError, struct.error)


class UnreadableSubmission(Exception):
    """The submission as a whole cannot be opened (no such path, corrupt or hostile archive)."""


@dataclass
class Submission:
    """What was found: each exercise's source text, the answers file, and why anything is missing."""

    student_id: str
    sources: dict[str, bytes] = field(default_factory=dict)   # file name -> bytes, for present files
    problems: dict[str, str] = field(default_factory=dict)    # exercise -> why it cannot be graded
    skipped: list[str] = field(default_factory=list)          # archive entries passed over, and why

    @property
    def empty(self) -> bool:
        return not self.sources


def student_id_of(path: Path) -> str:
    return path.name[:-4] if path.suffix.lower() == ".zip" else path.name


def open_submission(path: Path) -> Submission:
    """Read a submission folder or zip; UnreadableSubmission if it cannot be read at all."""
    if not path.exists():
        raise UnreadableSubmission(f"{path}: no such file or folder")
    if path.is_dir():
        try:
            sources = _read_folder(path)
        except OSError as exc:  # e.g. a folder or file its owner made unreadable (chmod 000)
            raise UnreadableSubmission(f"{path}: cannot be read ({exc.strerror or exc})") from None
        submission = Submission(student_id_of(path), sources)
    elif zipfile.is_zipfile(path):
        submission = _read_zip(path)
    else:
        raise UnreadableSubmission(f"{path}: not a folder or a zip archive")
    _check_sources(submission)
    return submission


def wanted_names(path: Path) -> frozenset[str] | None:
    """Which of the contract's files a submission holds, found as ``open_submission`` would find
    them but without reading any: none in a file that is no zip archive or whose archive cannot
    be opened (it is refused whole, unread), None when that cannot be told (then assume any).
    Never raises: a class run asks it of every student before it starts (to know whether it
    needs RabbitMQ)."""
    try:
        if path.is_symlink():
            return None
        if path.is_dir():
            root = _folder_root(path)
            return frozenset(name for name in WANTED if os.path.lexists(root / name))
        if not zipfile.is_zipfile(path):
            return frozenset()
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            return frozenset()
        with archive:
            infos = archive.infolist()
            if len(infos) > MAX_ARCHIVE_ENTRIES:
                return None
            names = [i.filename.replace("\\", "/") for i in infos]
        prefix = _root_prefix(names)
        return frozenset(name for name in WANTED if prefix + name in names)
    except Exception:  # noqa: BLE001 - whatever the submission is, the answer is "cannot tell"
        return None


def _folder_root(folder: Path) -> Path:
    """Where a folder's files are: itself, or its one folder when it holds nothing else."""
    if not any((folder / name).exists() for name in WANTED):
        children = [c for c in folder.iterdir() if not c.name.startswith((".", "__MACOSX"))]
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            return children[0]
    return folder


def _read_folder(folder: Path) -> dict[str, bytes]:
    root = _folder_root(folder)
    sources: dict[str, bytes] = {}
    for name in WANTED:
        candidate = root / name
        if candidate.is_symlink():
            sources[name] = b"\0link"
        elif candidate.is_file():
            with open(candidate, "rb") as fh:
                sources[name] = fh.read(MAX_FILE_BYTES + 1)
    return sources


def _read_zip(path: Path) -> Submission:
    submission = Submission(student_id_of(path))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ARCHIVE_ENTRIES:
                raise UnreadableSubmission(f"{path.name}: more than {MAX_ARCHIVE_ENTRIES} entries")
            if sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
                raise UnreadableSubmission(f"{path.name}: unpacks to more than {MAX_ARCHIVE_BYTES // 2**20} MiB")
            names: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                name = safe_entry_name(path, info, submission)
                if name is not None:
                    names[name] = info
            prefix = _root_prefix(list(names))
            for wanted in WANTED:
                info = names.get(prefix + wanted)
                if info is None or info.is_dir():
                    continue
                with archive.open(info) as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
                submission.sources[wanted] = data
    except ARCHIVE_ERRORS as exc:
        raise UnreadableSubmission(f"{path.name}: unreadable archive ({exc})") from exc
    return submission


def safe_entry_name(path: Path, info: zipfile.ZipInfo, submission: Submission) -> str | None:
    """The entry's name if it is a plain file or folder inside the archive; refuse hostile ones."""
    raw = info.filename
    if not info.flag_bits & 0x800:  # not flagged UTF-8: zipfile decoded it as cp437
        try:
            raw.encode("cp437").decode("utf-8")
        except UnicodeError:
            submission.skipped.append(f"{raw!r}: name is not valid UTF-8")
            return None
        except UnicodeEncodeError:
            pass
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        raise UnreadableSubmission(f"{path.name}: entry {raw!r} climbs out of its folder")
    mode = info.external_attr >> 16
    if mode and (stat.S_ISLNK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                 or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        raise UnreadableSubmission(f"{path.name}: entry {raw!r} is a link or device, not a file")
    return name


def _root_prefix(names: list[str]) -> str:
    """'' if the wanted files sit at the root, else 'folder/' when everything is in one folder."""
    files = [n for n in names if not n.endswith("/") and not n.startswith("__MACOSX/")]
    if any(n in WANTED for n in files):
        return ""
    tops = {n.split("/", 1)[0] for n in files if "/" in n}
    if len(tops) == 1 and all("/" in n for n in files):
        return tops.pop() + "/"
    return ""


def _check_sources(submission: Submission) -> None:
    """Say, for each exercise, why its file cannot be graded; None of these stops the others."""
    for exercise, name in EXERCISE_FILES.items():
        data = submission.sources.get(name)
        if data is None:
            submission.problems[exercise] = f"{name} is missing from the submission"
        elif data == b"\0link":
            submission.problems[exercise] = f"{name} is a link, not a file"
            del submission.sources[name]
        elif len(data) > MAX_FILE_BYTES:
            submission.problems[exercise] = f"{name} is larger than {MAX_FILE_BYTES // 1024} KiB"
        elif not data.strip():
            submission.problems[exercise] = f"{name} is empty"
        else:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                submission.problems[exercise] = f"{name} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
            else:
                if b"\0" in data:
                    submission.problems[exercise] = f"{name} holds binary data, not Python source"
