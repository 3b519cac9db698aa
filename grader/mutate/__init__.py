"""``brokerlab mutate``: first-order mutants of the reference solutions, graded by the hidden suites."""
