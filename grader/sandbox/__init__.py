"""Running a student's module in a child process that answers calls as JSON.

The grader (trusted side) never imports a submission. A worker process, forked from a warm
zygote, imports one student file and runs the calls the hidden suites ask for; every object the
student's code is handed (the SQS client, the gateway, the mailer, a handler) is a stand-in whose
use travels back over the channel, so verdicts are made from the grader's own state.
"""
