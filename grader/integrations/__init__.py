"""Running the grader inside other systems: Gradescope's autograder, nbgrader."""
