"""Where a submission's code may write, as the grading process sees it.

The grading process never opens, writes, chowns or walks a path the student's uid could have
made. So, as root, it works in a mount namespace of its own, and each exercise's scratch space is a
size-limited tmpfs mounted there (the box joins that namespace and binds it): filling it fills
nothing of the host's or of another student's, and ending the grading unmounts it whole, whatever
tree or file modes the student left in it. The exercise folder itself is root's (mode 0711): the
student cannot add, rename or replace its entries. Each test gets a folder in it that the grader
makes, fills (the payment database) while only root can write there, and then hands over by file
descriptor. What the grader reads back (the committed database) is opened relative to folder
descriptors it holds, never following a link or blocking on a FIFO, and only a regular file is
read, at most ``READ_LIMIT`` bytes of it.

Without root (the weak mode) there is no namespace and no tmpfs: plain folders, removed by
``remove_tree``, which never raises.
"""
from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from grader.bulk.cleanup import remove_tree
from grader.sandbox import isolation

PREFIX = "brokerlab-scratch-"
EXERCISE_TMPFS = "size=64m,nr_inodes=8192,mode=0711"
PRIVATE_TMPFS = "size=32m,mode=0700"
READ_LIMIT = 16 * 1024 * 1024
_private_in: int | None = None  # the pid whose mount namespace is already private


def private_mounts() -> None:
    """Give this process a mount namespace of its own (once): its scratch mounts are nobody
    else's, and the kernel drops them when the process and its boxes are gone."""
    global _private_in
    if _private_in == os.getpid():
        return
    isolation.unshare(isolation.CLONE_NEWNS, "a mount namespace for the grader's scratch space")
    isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
    _private_in = os.getpid()


class ScratchSpace:
    """The scratch space of one grading run of one submission."""

    def __init__(self, isolate: bool, parent: str | None = None) -> None:
        self.isolate = isolate
        self.mount_ns: int | None = None
        if isolate:
            private_mounts()
            self.mount_ns = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent))
        os.chmod(self.root, 0o711 if not isolate else 0o700)
        self._root_fd = os.open(self.root, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._private = Path(tempfile.mkdtemp(prefix="grader-", dir=self.root))
        os.chmod(self._private, 0o700)
        if isolate:  # the grader's copies of what students wrote never reach the host's disk
            isolation.mount("tmpfs", str(self._private), "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV,
                            PRIVATE_TMPFS)
        self._exercises: dict[str, int] = {}
        self._count = 0

    def exercise(self, name: str) -> Path:
        """The exercise's own scratch space (a tmpfs of its own in a box)."""
        if name not in self._exercises:
            os.mkdir(name, 0o711, dir_fd=self._root_fd)
            folder = self.root / name
            if self.isolate:
                isolation.mount("tmpfs", str(folder), "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV,
                                EXERCISE_TMPFS)
            self._exercises[name] = os.open(name, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                            dir_fd=self._root_fd)
            os.chmod(self._exercises[name], 0o711)
        return self.root / name

    def test_folder(self, exercise: str, label: str) -> Path:
        """A new folder for one test, root's until it is handed over."""
        self.exercise(exercise)
        self._count += 1
        name = f"{self._count:03d}-{re.sub(r'[^A-Za-z0-9_]+', '_', label)[:40]}"
        os.mkdir(name, 0o700, dir_fd=self._exercises[exercise])
        return self.root / exercise / name

    def _folder_fd(self, folder: Path) -> int:
        exercise = folder.parent.name
        if folder.parent != self.root / exercise or exercise not in self._exercises:
            raise ValueError(f"{folder} is not a test folder of this scratch space")
        return os.open(folder.name, os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=self._exercises[exercise])

    def hand_over(self, folder: Path, uid: int | None) -> None:
        """Give a test folder and its entries to the box's user (by descriptor, links not followed)."""
        if uid is None:
            return
        fd = self._folder_fd(folder)
        try:
            os.fchown(fd, uid, uid)
            for entry in os.scandir(fd):
                os.chown(entry.name, uid, uid, dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)

    def read_file(self, folder: Path, name: str, limit: int = READ_LIMIT) -> bytes | None:
        """A regular file's bytes from a test folder, or None: never through a link, never
        blocking on a FIFO or device, never past ``limit`` bytes."""
        try:
            folder_fd = self._folder_fd(folder)
        except (OSError, ValueError):
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder_fd)
        except OSError:
            return None
        finally:
            os.close(folder_fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
                return None
            return isolation.read_at_most(fd, limit)
        except OSError:
            return None
        finally:
            os.close(fd)

    def private_copy(self, folder: Path, names: list[str], limit: int = READ_LIMIT) -> Path:
        """Copies of a test folder's regular files (at most ``limit`` bytes in all) in a folder
        only the grader can reach, on a tmpfs of the grader's own in a box's mode; the caller
        removes it once read."""
        copy = Path(tempfile.mkdtemp(dir=self._private))
        left = limit
        for name in names:
            data = self.read_file(folder, name, left)
            if data is not None:
                (copy / name).write_bytes(data)
                left -= len(data)
        return copy

    def close(self) -> None:
        """Drop everything (never raises): unmount each tmpfs whole, or remove the weak mode's tree."""
        for fd in self._exercises.values():
            os.close(fd)
        try:
            os.close(self._root_fd)
        except OSError:
            pass
        if self.isolate:
            for path in [self.root / name for name in self._exercises] + [self._private]:
                try:
                    isolation.unmount(str(path))
                except isolation.SandboxError:
                    pass
        self._exercises.clear()
        remove_tree(self.root)
        if self.mount_ns is not None:
            os.close(self.mount_ns)
            self.mount_ns = None
