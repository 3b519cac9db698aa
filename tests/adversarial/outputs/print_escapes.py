"""A producer whose every call prints terminal escapes and Markdown that tries to close its code
block, then raises with more of the same: what it prints and raises must stay inert text."""
import sys

ESC = "\x1b[2J\x1b]0;owned\x07\x9b31m\r"
BREAKOUT = "\n~~~~~\n`````\n</details>\n# Owned\n![t](http://evil.example/t.png)\n<script>alert(1)</script>\n"


def _attack(*args, **kwargs):
    sys.stdout.write(ESC + BREAKOUT)
    raise RuntimeError(ESC + "=HYPERLINK(\"http://evil.example\")" + BREAKOUT)


create_queue = make_task = send_task = queue_status = main = _attack
