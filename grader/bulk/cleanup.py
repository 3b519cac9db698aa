"""Removing a folder a student's code may have filled, without ever failing the run.

``shutil.rmtree`` recurses once per level and keeps a file descriptor open per level, so a tree
thousands of folders deep (easy to make with relative ``mkdir`` and ``chdir``) raises
``RecursionError``, which ``ignore_errors`` does not catch; and a folder made unreadable
(``chmod 000``) is silently left behind when the grader is not root. ``remove_tree`` walks
iteratively instead: each subfolder's children are moved up into the top folder, so depth costs
nothing and at most two descriptors are open; permissions are restored before reading a folder;
links are never followed. It never raises. ``remove_stale`` uses it on what killed processes
left in a temporary folder (the class run's, the unpacked archives, the graders' scratch roots).
"""
from __future__ import annotations

import errno
import itertools
import os
import stat
from collections import deque
from pathlib import Path
from typing import Iterator

_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR, errno.EINVAL)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_dir(name: str, dir_fd: int | None) -> int:
    """Open a folder (never through a link), giving its owner back the rights to empty it."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=dir_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        if os.fstat(fd).st_mode & 0o700 != 0o700:
            os.fchmod(fd, 0o700)
    except OSError:
        pass  # not ours: removing what is inside may still work
    return fd


def _hoist(name: str, sub: int, top: int, names: Iterator[int]) -> str:
    """Move folder ``name`` of ``sub`` up into ``top``, under a name not taken there; that name."""
    for n in names:
        new = f".brokerlab-rm-{n}"
        try:
            os.rename(name, new, src_dir_fd=sub, dst_dir_fd=top)
            return new
        except PermissionError:  # moving a folder needs write access to it: give it back
            os.chmod(name, 0o700, dir_fd=sub)
            os.rename(name, new, src_dir_fd=sub, dst_dir_fd=top)
            return new
        except OSError as exc:
            if exc.errno not in _TAKEN:
                raise
    raise AssertionError("unreachable: names is endless")


def _empty(top: int, names: Iterator[int]) -> bool:
    """One pass over ``top``: files unlinked, each folder emptied by moving its folders up into
    ``top`` (and onto this pass's queue) before it is removed. True if anything was removed."""
    progress = False
    queue = deque(entry.name for entry in os.scandir(top))
    while queue:
        name = queue.popleft()
        try:
            if not stat.S_ISDIR(os.stat(name, dir_fd=top, follow_symlinks=False).st_mode):
                os.unlink(name, dir_fd=top)
                progress = True
                continue
            sub = _open_dir(name, top)
            try:
                for child in list(os.scandir(sub)):
                    if child.is_dir(follow_symlinks=False):
                        queue.append(_hoist(child.name, sub, top, names))
                    else:
                        os.unlink(child.name, dir_fd=sub)
            finally:
                os.close(sub)
            os.rmdir(name, dir_fd=top)
            progress = True
        except OSError:
            continue  # a mount point, or an entry that changed under us: the next pass tries again
    return progress


def remove_tree(path: Path | str) -> bool:
    """Remove ``path`` and everything under it, whatever its depth or modes; True when it is gone."""
    path = os.fspath(path)
    try:
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(mode):
            os.unlink(path)
            return True
        top = _open_dir(path, None)
        names = itertools.count()
        try:
            while _empty(top, names):
                pass
        finally:
            os.close(top)
        os.rmdir(path)
        return True
    except Exception:  # noqa: BLE001 - cleanup must never stop a class run; what is left is reported by the caller
        return not os.path.lexists(path)


def remove_stale(folder: Path, prefix: str) -> None:
    """Remove what killed processes left in ``folder``: entries named ``<prefix><pid>-...``
    whose process is gone, only folders of this user, never through a link. It never raises."""
    try:
        entries = list(folder.glob(f"{prefix}*"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(prefix):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            info = os.lstat(entry)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # still running (or a pid we may not signal: leave it)
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        remove_tree(entry)
