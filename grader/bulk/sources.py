"""Finding the students in SOURCE: a folder of submissions, or a ``.zip`` of such a folder.

Every child of the folder that is a folder or a ``.zip`` is one student's submission; its name,
less ``.zip``, is the student id. What operating systems and tools leave behind (``.DS_Store``,
``__MACOSX``, ``.git``, ``._name``) and hidden files are passed over; any other file is listed as
ignored, so nobody's work disappears silently. A student id of any length and alphabet is kept
(the outputs make their file names safe), but one that starts with ``.`` (hidden, so probably not
meant as a submission) or holds control characters is refused at intake: that student gets a
row, status ``unreadable``, and the reason.

A class archive is unpacked into a folder of our own before anything is graded, with the same
checks ``grader.submission`` applies to one student's zip: an entry that climbs out of its
folder, an absolute path, a link or a device is never written. Such an entry inside a student's
folder makes that student's submission unreadable (nothing of it is unpacked); one that cannot
be told apart from the class folder itself is ignored, and so is one nested more than
``MAX_UNPACK_DEPTH`` folders deep (grading reads a student's root or one folder below it, and such
depth only serves to make unpacking and cleaning up fail). Past the size limits the whole archive
is refused, since nothing in it can then be trusted to fit.
"""
from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.bulk.cleanup import remove_tree
from grader.errors import UserError
from grader.render.safe import CONTROL
from grader.submission import (ARCHIVE_ERRORS, MAX_ARCHIVE_BYTES, WANTED, Submission, UnreadableSubmission,
                               safe_entry_name, student_id_of)

MAX_CLASS_BYTES = 4 * 1024 * 1024 * 1024
MAX_CLASS_ENTRIES = 200_000
MAX_UNPACK_DEPTH = 32
SKIP_NAMES = ("__MACOSX",)
JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", ".git", ".hg", ".svn", ".ipynb_checkpoints", ".Trashes",
                        ".Spotlight-V100", ".fseventsd", ".TemporaryItems", ".AppleDouble", ".idea", ".vscode"})


@dataclass(frozen=True)
class Student:
    """One submission to grade: its id, and where it is (or why it cannot be opened at all)."""

    id: str
    path: Path | None
    refused: str | None = None  # set when the class archive already showed it to be unreadable


@dataclass
class Class:
    students: list[Student] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "name: why", for the instructor

    def by_id(self) -> dict[str, Student]:
        return {s.id: s for s in self.students}


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in SKIP_NAMES


def _junk(name: str) -> bool:
    """Left by an operating system or a tool, never a submission: passed over without a word."""
    return name in JUNK_NAMES or name.startswith("._")


def id_problem(student_id: str) -> str | None:
    """Why ``student_id`` cannot be a student id (it is refused at intake), or None."""
    if student_id.startswith("."):
        return "its name starts with '.', which hides it; rename it to the student's id"
    if CONTROL.search(student_id):
        return "its name holds control characters (a line break, an escape); rename it to the student's id"
    return None


def find_students(source: Path, unpack_to: Path) -> Class:
    """The students in ``source`` (a folder, or a zip unpacked under ``unpack_to``), sorted by id."""
    if not source.exists():
        raise UserError(f"{source}: no such folder or zip")
    refused: dict[str, str] = {}
    found = Class()
    if source.is_dir():
        folder = source
    elif zipfile.is_zipfile(source):
        folder = unpack_class(source, unpack_to, refused, found.ignored)
    else:
        raise UserError(f"{source}: not a folder of submissions or a .zip of one")
    seen: dict[str, str] = {}
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        name = child.name
        if _junk(name):
            continue
        if child.is_dir():
            student_id = name
        elif child.is_file() and name.lower().endswith(".zip"):
            student_id = student_id_of(child)
        elif _hidden(name):
            continue
        else:
            found.ignored.append(f"{name}: not a folder or a .zip")
            continue
        if not student_id.strip():
            found.ignored.append(f"{name}: no student id in its name")
            continue
        if student_id in seen:
            raise UserError(f"{source}: two submissions for student {student_id!r}: {seen[student_id]} and {name}; "
                            "keep one")
        seen[student_id] = name
        why = id_problem(student_id)
        found.students.append(Student(student_id, None, why) if why else Student(student_id, child))
    for student_id, reason in refused.items():
        if student_id in seen:
            raise UserError(f"{source}: two submissions for student {student_id!r}; keep one")
        seen[student_id] = student_id
        found.students.append(Student(student_id, None, reason))
    found.students.sort(key=lambda s: s.id)
    return found


# -- the class archive -------------------------------------------------------------------------

def _entry_name(archive: Path, info: zipfile.ZipInfo) -> tuple[str | None, str | None]:
    """(name, None) for a plain entry, (None, why) for a hostile one, (None, None) to pass over."""
    try:
        name = safe_entry_name(archive, info, Submission(""))
    except UnreadableSubmission as exc:
        return None, str(exc).split(": ", 1)[-1]
    return name, None


def _wrapper(names: list[str]) -> str:
    """'top/' when the whole archive is one folder of submissions (a zip of the class folder)."""
    visible = [n for n in names if n.strip("/") and not _hidden(n.split("/", 1)[0])]
    tops = {n.split("/", 1)[0] for n in visible}
    if len(tops) != 1 or not all("/" in n for n in visible):
        return ""
    top = tops.pop()
    if any(n == f"{top}/{w}" for n in visible for w in WANTED):
        return ""  # the one folder is itself a submission (a class of one)
    return top + "/"


def unpack_class(archive: Path, into: Path, refused: dict[str, str], ignored: list[str]) -> Path:
    """Unpack a class archive into ``into``/class; hostile students go to ``refused`` instead."""
    target = into / "class"
    target.mkdir(parents=True, exist_ok=False)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_CLASS_ENTRIES:
                raise UserError(f"{archive}: more than {MAX_CLASS_ENTRIES} entries; unpack it yourself and "
                                "give the folder")
            if sum(i.file_size for i in infos) > MAX_CLASS_BYTES:
                raise UserError(f"{archive}: unpacks to more than {MAX_CLASS_BYTES // 2**30} GiB")
            checked: list[tuple[zipfile.ZipInfo, str | None, str | None]] = []
            for info in infos:
                name, why = _entry_name(archive, info)
                checked.append((info, name, why))
            wrapper = _wrapper([n for _, n, _ in checked if n])
            groups: dict[str, list[tuple[zipfile.ZipInfo, str]]] = {}
            sizes: dict[str, int] = {}
            for info, name, why in checked:
                raw = info.filename.replace("\\", "/")
                if name is None and why is None:
                    ignored.append(f"{raw!r}: name is not valid UTF-8")
                    continue
                rel = (name or raw).lstrip("/") if why else name
                assert rel is not None
                if wrapper and rel.startswith(wrapper):
                    rel = rel[len(wrapper):]
                elif wrapper and not why:
                    continue  # e.g. the wrapper folder's own entry
                top = rel.split("/", 1)[0]
                if not rel.strip("/") or _junk(top):
                    continue
                is_member = "/" in rel.rstrip("/") or info.is_dir()
                group = top if is_member else (top[:-4] if top.lower().endswith(".zip") else None)
                if group is None and _hidden(top):
                    continue
                if group and not why and id_problem(group):
                    refused.setdefault(group, f"{id_problem(group)} (in the class archive)")
                    continue
                if why:
                    if group and top not in ("..", ".") and ":" not in top and not raw.startswith("/"):
                        refused.setdefault(group, f"{why} (in the class archive)")
                    else:
                        ignored.append(f"{raw!r}: {why}; not unpacked")
                    continue
                if group is None:
                    ignored.append(f"{rel}: not a folder or a .zip")
                    continue
                if len(PurePosixPath(rel).parts) > MAX_UNPACK_DEPTH:
                    ignored.append(f"{rel[:120]!r}...: nested more than {MAX_UNPACK_DEPTH} folders deep; not unpacked")
                    continue
                groups.setdefault(group, []).append((info, rel))
                sizes[group] = sizes.get(group, 0) + info.file_size
            for group, size in sizes.items():
                if size > MAX_ARCHIVE_BYTES and group not in refused:
                    refused[group] = f"unpacks to more than {MAX_ARCHIVE_BYTES // 2**20} MiB (in the class archive)"
            for group, members in sorted(groups.items()):
                if group in refused:
                    continue
                try:
                    for info, rel in members:
                        _extract(zf, info, target, rel)
                except ARCHIVE_ERRORS as exc:
                    refused[group] = f"cannot be unpacked from the class archive ({exc})"
                    for leftover in (target / group, target / f"{group}.zip"):
                        remove_tree(leftover)
    except OSError as exc:
        remove_tree(target)
        raise UserError(f"{archive}: cannot unpack it ({exc.strerror or exc})") from None
    except ARCHIVE_ERRORS as exc:
        remove_tree(target)
        raise UserError(f"{archive}: unreadable archive ({exc})") from None
    return target


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, rel: str) -> None:
    """Write one checked entry under ``target``: never through a link, never outside."""
    parts = PurePosixPath(rel).parts
    assert parts and ".." not in parts and not rel.startswith("/")
    dest = target.joinpath(*parts)
    if info.is_dir() or rel.endswith("/"):
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(dest, flags, 0o644)  # a name given twice: the last wins, as for a student's zip
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        shutil.copyfileobj(src, out, 1 << 20)
