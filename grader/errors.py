"""Errors meant for a person: the CLI prints them as one line, never as a traceback."""


class UserError(Exception):
    """Bad input from the user (no such path, unreadable archive, malformed file).

    The message names the file and what is wrong; the CLI prints it and exits non-zero.
    """
