"""Lets `pytest exercises/tests` run the public checks on the exercise files beside this folder.

`brokerlab check` does the same with nicer feedback (it never loads this file).
"""
from pathlib import Path

from grader.harness.plugin import GradingPlugin, Submission
from grader.sandbox.client import Zygote

HERE = Path(__file__).resolve().parent.parent
FILES = {"producer": "sqs_producer.py", "consumer": "sqs_consumer.py", "payment": "payment_handler.py",
         "amqp_producer": "amqp_producer.py", "amqp_consumer": "amqp_consumer.py", "amqp_routing": "amqp_routing.py"}


def pytest_configure(config):
    plugin = GradingPlugin(Submission({k: HERE / v for k, v in FILES.items()}), Zygote())
    config.pluginmanager.register(plugin, "brokerlab-grading")
