"""The course seed: which data the hidden suites grade with (queue names, task data, amounts,
ids, the account, region, endpoint and time zone of the broker).

A seed gives the same results byte for byte every time; another seed gives other data and the
same verdicts. Set it per course so that no value a student could know without calling the
broker earns a point: ``--seed``, else ``BROKERLAB_SEED``, else ``seed:`` in ``brokerlab.yaml``
in the current folder, else 0 (public: fine for practice, not for a graded course).
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from grader.errors import UserError

CONFIG_FILE = "brokerlab.yaml"
ENV = "BROKERLAB_SEED"
DEFAULT_SEED = 0


def resolve_seed(explicit: int | None = None, folder: Path | None = None) -> int:
    if explicit is not None:
        return int(explicit)
    if os.environ.get(ENV, "").strip():
        try:
            return int(os.environ[ENV])
        except ValueError:
            raise UserError(f"{ENV}={os.environ[ENV]!r} is not an integer") from None
    config = (folder or Path.cwd()) / CONFIG_FILE
    if config.is_file():
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise UserError(f"{config}: not YAML ({exc})") from None
        if isinstance(data, dict) and data.get("seed") is not None:
            seed = data["seed"]
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise UserError(f"{config}: seed must be an integer, not {seed!r}")
            return seed
    return DEFAULT_SEED


def export_seed(seed: int) -> None:
    """Make ``seed`` the one every Grader of this process and its children resolves."""
    os.environ[ENV] = str(seed)
