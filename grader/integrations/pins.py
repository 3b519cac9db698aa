"""The autograder's ``requirements.txt``: what grading needs, pinned to the versions installed here.

Gradescope builds its image once and grades for weeks; exact pins taken from the environment the
zip was built (and tested) in keep that image grading the same way. Only the package's own
dependencies and theirs are pinned, never its extras (nbgrader, report, lms, test): the autograder does
not plot or run nbgrader. Nor moto's server: it serves ``brokerlab serve`` and ``lab``, while
grading talks to moto in process.
"""
from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from grader.errors import UserError

DISTRIBUTION = "brokerlab"
NOT_FOR_GRADING: dict[str, frozenset[str]] = {"moto": frozenset({"server"})}  # extras grading never uses


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def pinned_requirements(distribution: str = DISTRIBUTION) -> list[str]:
    """``name==version`` for every package ``distribution`` needs to run, sorted by name."""
    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(distribution, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise UserError(f"{name} is not installed here, so it cannot be pinned: install brokerlab "
                            "with its dependencies before building the autograder") from None
        key = canonicalize_name(dist.metadata["Name"])
        if key != canonicalize_name(distribution):
            pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        for line in dist.requires or []:
            requirement = Requirement(line)
            if _applies(requirement, extras):
                dependency = canonicalize_name(requirement.name)
                wanted = frozenset(requirement.extras) - NOT_FOR_GRADING.get(dependency, frozenset())
                todo.append((dependency, wanted))
    return [pins[key] for key in sorted(pins)]


def requirements_txt(distribution: str = DISTRIBUTION) -> str:
    header = "# What the autograder needs to grade, pinned to the versions it was built and tested with.\n"
    return header + "".join(f"{pin}\n" for pin in pinned_requirements(distribution))
