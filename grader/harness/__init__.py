"""What the hidden suites are written with: a virtual clock, moto's broker as the grader sees it,
payment fakes, the student's modules in workers, and the pytest plugin that turns outcomes into
points and feedback."""
