"""Broker Lab: auto-graded exercises and quizzes for a course module on message brokers (SQS)."""

__version__ = "0.1.0"
