"""The hidden suites: one module per exercise, each test worth points and naming a concept."""
