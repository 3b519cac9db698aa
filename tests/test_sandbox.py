"""The adversarial corpus: hostile submissions earn 0 on the exercise they attack, grading
completes, a correct file beside them keeps full marks, and nothing they do survives them.

Each file in tests/adversarial/ poses as sqs_producer.py next to the reference consumer and
payment handler. Full isolation needs root (CI and grading machines run as root).
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from grader.paths import ROOT, SOLUTIONS
from grader.sandbox.isolation import UID_BASE

ADVERSARIAL = Path(__file__).parent / "adversarial"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's isolation needs root")


def sandbox_processes(zygote_pid: int) -> list[int]:
    """Host pids of processes under a sandbox uid that descend from this grader's zygote (the
    zygote is a subreaper: whatever a sandbox leaves behind is re-parented to it)."""
    parents: dict[int, int] = {}
    uids: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            parents[int(entry)] = int(fields["PPid"])
            uids[int(entry)] = int(fields["Uid"].split()[0])

    def descends(pid: int) -> bool:
        seen = set()
        while pid not in (0, 1) and pid not in seen:
            seen.add(pid)
            if parents.get(pid) == zygote_pid:
                return True
            pid = parents.get(pid, 0)
        return False

    return [pid for pid, uid in uids.items() if uid >= UID_BASE and descends(pid)]


def attack(tmp_path: Path, source: str | bytes, extra: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "mallory"
    folder.mkdir()
    target = folder / "sqs_producer.py"
    target.write_bytes(source if isinstance(source, bytes) else source.encode())
    for name in ("sqs_consumer.py", "payment_handler.py"):
        shutil.copy(SOLUTIONS / name, folder / name)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    return folder


def assert_contained(result) -> None:
    assert result.exercises["producer"].score == 0
    assert result.exercises["consumer"].score == 40, result.exercises["consumer"].tests
    assert result.exercises["payment"].score == 35
    for exercise in result.exercises.values():
        for test in exercise.tests:
            assert "def test_" not in test.feedback and "expect(" not in test.feedback
            assert "def test_" not in (test.output or "")


CORPUS = sorted(p.name for p in ADVERSARIAL.glob("*.py")
                if p.name not in ("connect_loopback.py", "write_outside.py", "fork_bomb.py"))


@root_only
@pytest.mark.parametrize("name", CORPUS)
def test_hostile_file_earns_nothing_and_spoils_nothing(grader, tmp_path, name):
    result = grader.grade(attack(tmp_path, (ADVERSARIAL / name).read_bytes()))
    assert_contained(result)
    assert not sandbox_processes(grader.zygote.process.pid)


@root_only
def test_disk_search_finds_no_grader_file(grader, tmp_path):
    result = grader.grade(attack(tmp_path, (ADVERSARIAL / "search_for_suites.py").read_bytes()))
    outputs = "".join(t.output or "" for t in result.exercises["producer"].tests) + \
        "".join(t.feedback for t in result.exercises["producer"].tests)
    assert "/submission/sqs_producer.py" in outputs, "the search ran, found its own copy, and reported"
    assert "grader/suites" not in outputs and "/solutions/" not in outputs
    assert "def test_" not in outputs and "expect(" not in outputs


@root_only
def test_no_connection_reaches_the_hosts_loopback(grader, tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn.recv(16))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        source = (ADVERSARIAL / "connect_loopback.py").read_text().replace("__PORT__", str(port))
        result = grader.grade(attack(tmp_path, source))
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert accepted == []
    assert_contained(result)
    assert "unreachable" in result.exercises["producer"].tests[0].feedback.lower()


@root_only
def test_writes_outside_the_scratch_folder_do_not_land(grader, tmp_path):
    source = (ADVERSARIAL / "write_outside.py").read_text().replace("__ROOT__", str(ROOT))
    targets = [Path("/tmp/brokerlab-pwned"), Path("/root/brokerlab-pwned"), ROOT / "grader/suites/pwned.py",
               ROOT / "pwned.txt", tmp_path / "pwned.txt"]
    result = grader.grade(attack(tmp_path, source))
    assert_contained(result)
    assert [t for t in targets if t.exists()] == []


@root_only
def test_forked_and_detached_children_do_not_outlive_grading(grader, tmp_path):
    result = grader.grade(attack(tmp_path, (ADVERSARIAL / "fork_bomb.py").read_bytes()))
    assert_contained(result)
    assert sandbox_processes(grader.zygote.process.pid) == []
    assert not Path("/tmp/escapee").exists()


def test_flooded_output_is_cut(grader, tmp_path):
    result = grader.grade(attack(tmp_path, (ADVERSARIAL / "flood_output.py").read_bytes()))
    assert result.exercises["producer"].score == 0
    assert all(len(t.output or "") <= 4096 for t in result.exercises["producer"].tests)


def test_submission_config_and_library_shadows_are_never_loaded(grader, tmp_path):
    forced = '''
import pytest
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''
    extra = {"conftest.py": forced, "pytest.ini": "[pytest]\naddopts = -p conftest\n",
             "sitecustomize.py": "import builtins; builtins.NotImplementedError = type('X', (Exception,), {})\n",
             "json.py": "raise SystemExit('shadowed')\n", "boto3.py": "raise SystemExit('shadowed')\n",
             "pytest.py": "raise SystemExit('shadowed')\n", "evil.pth": "import os; os._exit(0)\n"}
    folder = attack(tmp_path, (ROOT / "exercises" / "sqs_producer.py").read_bytes(), extra)
    shutil.copy(SOLUTIONS / "sqs_producer.py", folder / "sqs_producer.py")
    assert grader.grade(folder).score == 100
    shutil.copy(ROOT / "exercises" / "sqs_producer.py", folder / "sqs_producer.py")
    result = grader.grade(folder)
    assert result.exercises["producer"].score == 0 and result.score == 75


# -- archives ------------------------------------------------------------------------------------

def make_zip(path: Path, entries: list[tuple[str, bytes, int | None]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


def solution_entries(prefix: str = "") -> list[tuple[str, bytes, int | None]]:
    return [(prefix + p.name, p.read_bytes(), None) for p in SOLUTIONS.glob("*.py")]


@pytest.mark.parametrize("hostile, why", [
    (("../escape.py", b"x = 1\n", None), "climbs out"),
    (("/etc/brokerlab-escape.py", b"x = 1\n", None), "climbs out"),
    (("work/../../escape.py", b"x = 1\n", None), "climbs out"),
    (("link.py", b"/etc/passwd", stat.S_IFLNK | 0o777), "link"),
    (("device", b"", stat.S_IFCHR | 0o666), "device"),
])
def test_hostile_archives_are_refused_whole(tmp_path, hostile, why):
    from grader.submission import UnreadableSubmission, open_submission

    archive = make_zip(tmp_path / "eve.zip", solution_entries() + [hostile])
    with pytest.raises(UnreadableSubmission, match=why):
        open_submission(archive)
    assert not (tmp_path.parent / "escape.py").exists() and not Path("/etc/brokerlab-escape.py").exists()


def test_zip_bombs_and_crowds_are_refused(tmp_path):
    from grader.submission import MAX_ARCHIVE_BYTES, MAX_ARCHIVE_ENTRIES, UnreadableSubmission, open_submission

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sqs_producer.py", b"\0" * (MAX_ARCHIVE_BYTES + 1))
    with pytest.raises(UnreadableSubmission, match="MiB"):
        open_submission(bomb)
    crowd = make_zip(tmp_path / "crowd.zip", [(f"f{i}.txt", b"", None) for i in range(MAX_ARCHIVE_ENTRIES + 1)])
    with pytest.raises(UnreadableSubmission, match="entries"):
        open_submission(crowd)


def test_names_that_are_not_utf8_are_skipped(tmp_path):
    from grader.submission import open_submission

    archive = tmp_path / "odd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data, _ in solution_entries():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("caf\u00e9.py")  # stored as cp437 bytes that are not UTF-8
        zf.writestr(info, b"x = 1\n")
    submission = open_submission(archive)
    assert set(submission.sources) == {p.name for p in SOLUTIONS.glob("*.py")}
    assert submission.problems == {}
