"""The sandbox proves itself before it grades.

``settings`` decides the mode: ``full`` (every protection) or ``weak`` (a separate process, its
keeper and rlimits only; for a student's own code, or where the instructor asks for it). In full
mode, ``prove`` starts a real box with a probe file and checks from the grader's side that each
step took: the box started (every confinement call's return value is checked inside it), it sits
in its cgroups, and, through the probe's answers, it runs as its own uid with no network, no
grader environment and its own PID namespace. If a step fails, grading refuses with one line that
names it and what to do, rather than grading every test as a grader error.
"""
from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from grader.errors import UserError
from grader.sandbox import isolation

MODES = ("full", "weak", "auto")
PROBE = b'''
import ctypes, os, platform, socket

def facts():
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=0.2).close()
        network = "reached loopback"
    except OSError as exc:
        network = "none"
    keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    keys = "reachable" if keyctl is None or libc.syscall(keyctl, 0, -3, 0) != -1 else os.strerror(ctypes.get_errno())
    with open("/proc/self/cgroup") as fh:
        cgroups = fh.read()
    return {"uid": os.getuid(), "pid": os.getpid(), "network": network, "env": sorted(os.environ),
            "pids": len([d for d in os.listdir("/proc") if d.isdigit()]), "cgroups": cgroups,
            "hostname": socket.gethostname(), "keys": keys}
'''
WEAK_NOTE = "graded in the sandbox's weak mode (no namespaces, cgroups or uid of its own)"


class SandboxUnavailable(UserError):
    """Full isolation was asked for and this host cannot give it: grading must not start."""


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Proof:
    mode: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if not s.ok), None)


def requested_mode(mode: str | None = None) -> str:
    """The mode asked for: ``--sandbox``, else BROKERLAB_SANDBOX, else full."""
    value = (mode or os.environ.get("BROKERLAB_SANDBOX") or "full").lower()
    if value in ("off", "0", "no", "weak"):
        return "weak"
    if value not in MODES:
        raise UserError(f"unknown sandbox mode {value!r} (use full or weak)")
    return value


def settings(mode: str | None = None) -> dict[str, Any]:
    """What every box of this grading run is asked for (SandboxUnavailable if full cannot be had).
    ``auto`` (for code the user trusts: their own in ``check``, the bundled examples) is full
    where it can be had and weak elsewhere."""
    mode = requested_mode(mode)
    if mode == "auto":
        mode = "full" if sys.platform == "linux" and os.geteuid() == 0 else "weak"
    if mode == "weak":
        return {"isolate": False, "mode": "weak"}
    if sys.platform != "linux" or os.geteuid() != 0:
        raise SandboxUnavailable("the sandbox needs root on Linux to isolate students' code; run as root, "
                                 "or pass --sandbox weak (results will say they were graded without isolation)")
    return {"isolate": True, "mode": "full", "cgroups": bool(isolation.cgroup_controllers())}


def prove(zygote: Any, box: dict[str, Any]) -> Proof:
    """Start one real box with the probe, and check each protection from outside."""
    from grader.harness.clock import VirtualClock
    from grader.sandbox.client import Limits, Sandbox, SandboxFailure, StudentFailure, StudentProcess, NotGradable
    from grader.sandbox.scratch import ScratchSpace

    proof = Proof(box.get("mode", "full"))
    if not box.get("isolate"):
        proof.steps.append(Step("isolation", True, "weak mode: a process of its own and rlimits only"))
        return proof
    controllers = isolation.cgroup_controllers()
    needed = {"memory", "pids"}
    proof.steps.append(Step("cgroups", needed <= set(controllers),
                            f"controllers {', '.join(controllers) or 'none'}" if needed <= set(controllers) else
                            "the cgroup v1 memory and pids controllers are not mounted under /sys/fs/cgroup"))
    if not proof.ok:
        return proof
    try:
        space = ScratchSpace(True)
    except (isolation.SandboxError, OSError) as exc:
        proof.steps.append(Step("scratch space", False, str(exc)))
        return proof
    proof.steps.append(Step("scratch space", True, "a tmpfs per exercise in the grader's own mount namespace"))
    clock = VirtualClock()
    sandbox = Sandbox(zygote, "brokerlab_probe", PROBE, space, "probe", Limits(), box)
    try:
        with clock:
            host = ProbeHost(clock)
            sandbox.start(host)
            proof.steps.append(Step("box", True, "namespaces, new root, rlimits, uid and no_new_privs all took"))
            joined = sandbox_cgroups(sandbox.pid)
            proof.steps.append(Step("box cgroups", needed <= joined, f"in {', '.join(sorted(joined)) or 'none'}"))
            folder = space.test_folder("probe", "probe")
            sandbox.hand_over(folder)
            student = StudentProcess(sandbox, folder, host)
            facts = student.call("facts")
            _check_facts(proof, facts, sandbox.uid)
    except (SandboxFailure, NotGradable, StudentFailure) as exc:
        proof.steps.append(Step("box", False, str(exc)))
    finally:
        sandbox.close()
        space.close()
    return proof


class ProbeHost:
    """A host for a box that needs no broker: the clock only; every AWS request is refused."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def aws(self, *args: Any) -> tuple[int, dict[str, str], bytes]:
        return 400, {}, b"{}"


def sandbox_cgroups(pid: int | None) -> set[str]:
    """The controllers whose box cgroup holds ``pid`` (host view)."""
    joined: set[str] = set()
    if pid is None:
        return joined
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            for line in fh:
                _n, names, path = line.rstrip("\n").split(":", 2)
                if f"/{isolation.CGROUP_PARENT}/box-" in path:
                    joined.update(names.split(","))
    except OSError:
        pass
    return joined


def _check_facts(proof: Proof, facts: Any, uid: int | None) -> None:
    facts = facts if isinstance(facts, dict) else {}
    grader_only = sorted(set(facts.get("env") or []) - set(isolation.box_environment()))
    proof.steps += [
        Step("uid", facts.get("uid") == uid and uid is not None and uid >= isolation.UID_BASE,
             f"runs as uid {facts.get('uid')}"),
        Step("network", facts.get("network") == "none", f"network: {facts.get('network')}"),
        Step("pid namespace", isinstance(facts.get("pids"), int) and facts["pids"] <= 4,
             f"sees {facts.get('pids')} processes"),
        Step("environment", not grader_only, "only the allowlist" if not grader_only else
             f"the grader's {', '.join(grader_only[:5])} reached the box"),
        Step("keyrings", facts.get("keys") == os.strerror(errno.EPERM),
             "no key system call" if facts.get("keys") == os.strerror(errno.EPERM) else
             f"the kernel's keyrings are {facts.get('keys')}"),
    ]


def require(zygote: Any, box: dict[str, Any]) -> Proof:
    """``prove``, and refuse (SandboxUnavailable) with the first failed step and what to do."""
    proof = prove(zygote, box)
    failed = proof.first_failure()
    if failed is not None:
        raise SandboxUnavailable(f"sandbox step '{failed.name}' failed on this host: {failed.detail}. "
                                 "Run `brokerlab doctor` for details; fix the host, or pass --sandbox weak "
                                 "to grade without full isolation (results will say so)")
    return proof
