"""Result-preserving shortcuts in moto's SQS, applied once in the grading process.

Bulk grading sends a few hundred requests per submission through moto; profiling showed most of
moto's time in reading the clock (``unix_time`` builds two datetimes per call, and every send
computes every queue attribute, checking every message's visibility), in re-deriving every
queue attribute to read one (retention, on every received message) and in converting the same
attribute names from CamelCase again and again, and in listing the response class's methods
with ``inspect`` on every request, and in drawing every receipt handle and every response's
request id one character at a time (185 and 52 calls of ``random.choice``). The clock reads
``time.time()`` instead (the same virtual clock: time-machine patches both); a receipt handle is
still 185 lowercase letters and a request id 52 letters and digits, each in one draw from moto's
seeded ``mock_random`` (so runs stay deterministic); the others return exactly what the
originals do. ``request`` builds the WSGI request moto reads for each of the students' requests
directly, as werkzeug's test ``EnvironBuilder`` would (a third of moto's time per request).
"""
from __future__ import annotations

import functools
import io
import re
import string
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest
from botocore.compat import HTTPHeaders
from moto.core.request import (PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request, environ_key_for_header, normalize_request,
                               should_preserve_original_header_name)

_applied = False
RECEIPT_LENGTH = 185
REQUEST_ID_LENGTH = 52
_LOWERCASE = bytes(ord("a") + i % 26 for i in range(256))
_ALNUM = (string.ascii_letters + string.digits).encode()
_LETTERS_AND_DIGITS = bytes(_ALNUM[i % len(_ALNUM)] for i in range(256))
_NEWLINE = re.compile(r"[\r\n]")
_SIMPLE_PATH = re.compile(r"^(/[A-Za-z0-9_.-]+)*/?$")
_SIMPLE_HOST = re.compile(r"^([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}(:[1-9][0-9]{0,4})?$")
_OWN_KEYS = ("content-type", "content-length")


def _draw(length: int, alphabet: bytes) -> str:
    """``length`` characters of a 256-entry ``alphabet`` table, from one draw of moto's seeded
    generator (instead of one ``random.choice`` each)."""
    from moto.moto_api._internal import mock_random

    return mock_random.getrandbits(8 * length).to_bytes(length, "big").translate(alphabet).decode()


def fast_receipt_handle() -> str:
    """What moto's ``generate_receipt_handle`` makes: 185 lowercase letters."""
    return _draw(RECEIPT_LENGTH, _LOWERCASE)


def fast_request_id(headerdict: dict[str, Any] | None = None) -> str:
    """What moto's ``gen_amzn_requestid_long`` makes for every response: 52 letters and digits,
    also set as ``x-amzn-requestid`` in ``headerdict``."""
    request_id = _draw(REQUEST_ID_LENGTH, _LETTERS_AND_DIGITS)
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


def apply() -> None:
    global _applied
    if _applied:
        return
    import moto.core.utils
    import moto.sqs.models as sqs_models

    import moto.core.responses

    names = functools.lru_cache(maxsize=64)(moto.core.utils.method_names_from_class)
    moto.core.responses.method_names_from_class = names  # a class's methods, listed on every request
    cached = functools.lru_cache(maxsize=1024)(moto.core.utils.camelcase_to_underscores)
    moto.core.utils.camelcase_to_underscores = cached
    moto.core.responses.camelcase_to_underscores = cached  # each request's action name
    sqs_models.camelcase_to_underscores = cached

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return retention + message.sent_timestamp / 1000 > time.time()

    sqs_models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    original_unix_time = moto.core.utils.unix_time

    def fast_unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original_unix_time(dt)

    def fast_unix_time_millis(dt: Any = None) -> float:
        return fast_unix_time(dt) * 1000.0

    sqs_models.unix_time = fast_unix_time
    sqs_models.unix_time_millis = fast_unix_time_millis
    sqs_models.generate_receipt_handle = fast_receipt_handle
    moto.core.responses.gen_amzn_requestid_long = fast_request_id
    _applied = True


def request(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    """The request moto's ``normalize_request`` makes of a botocore request with these parts (the
    same WSGI environ, key for key), built without werkzeug's ``EnvironBuilder``. For the requests
    the broker admits (a body, a plain path, no query); anything else goes the original way."""
    parts = urlsplit(url)
    headers = [(key, value) for key, value in headers if key.lower() != "transfer-encoding"]  # as moto drops it
    if not body or parts.query or parts.fragment or not _SIMPLE_HOST.match(parts.netloc) \
            or int(parts.netloc.partition(":")[2] or 0) > 65535 or not _SIMPLE_PATH.match(parts.path):
        http_headers = HTTPHeaders()
        for key, value in headers:
            http_headers[key] = value
        return normalize_request(AWSPreparedRequest(method=method, url=url, headers=http_headers, body=body,
                                                    stream_output=False))
    host, _, port = parts.netloc.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": parts.path, "QUERY_STRING": "",
        "REQUEST_URI": parts.path, "RAW_URI": parts.path, "SERVER_NAME": host,
        "SERVER_PORT": port if port.isdigit() else ("443" if parts.scheme == "https" else "80"),
        "HTTP_HOST": parts.netloc, "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme, "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    content_type = None
    combined: dict[str, list[str]] = {}
    for key, value in headers:
        if _NEWLINE.search(value):
            raise ValueError("Header values must not contain newline characters.")
        lower = key.lower()
        if lower in _OWN_KEYS:
            if lower == "content-type" and content_type is None:
                content_type = value
            continue
        combined.setdefault(f"HTTP_{key.upper().replace('-', '_')}", []).append(value)
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    environ["CONTENT_LENGTH"] = str(len(body))
    for key, values in combined.items():
        environ[key] = ", ".join(values)
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {environ_key_for_header(key): key for key, _ in headers
                                                   if should_preserve_original_header_name(key)}
    return Request(environ)
