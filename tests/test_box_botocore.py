"""The zygote's changes to botocore (grader.sandbox.worker.install_aws_forwarding) keep what
botocore does for student code: only how much work it repeats changes."""
from __future__ import annotations

import subprocess
import sys

from grader.paths import ROOT

ALIASES = r"""
import botocore.utils
from botocore.hooks import EventAliaser, HierarchicalEmitter

names = ["before-call.sqs.SendMessage", "creating-client-class.sqs", "before-parameter-build.sqs.ReceiveMessage",
         "request-created.sqs.DeleteMessage", "needs-retry.sqs.ChangeMessageVisibility"]
names += [f"before-call.{old}.Operation" for old in list(botocore.utils.EVENT_ALIASES)[:8]]
expected = [EventAliaser(HierarchicalEmitter())._alias_event_name(name) for name in names]
assert expected != names  # some of them are aliased

from grader.sandbox import worker

worker._share_alias_names()
first, second = EventAliaser(HierarchicalEmitter()), EventAliaser(HierarchicalEmitter())
assert [first._alias_event_name(name) for name in names] == expected
assert [second._alias_event_name(name) for name in names] == expected
assert second._alias_name_cache is first._alias_name_cache
custom = EventAliaser(HierarchicalEmitter(), {"sqs": "queue"})
assert custom._alias_name_cache is not first._alias_name_cache
assert custom._alias_event_name("before-call.sqs.SendMessage") == "before-call.queue.SendMessage"
print("same")
"""


def test_clients_share_aliased_event_names_and_get_the_names_botocore_gives():
    done = subprocess.run([sys.executable, "-c", ALIASES], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same"
