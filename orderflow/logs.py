"""Structured logs: one JSON object per line, carrying correlation_id and order_id when the
log call passes them in `extra`; and the size bound of a process's log file.

A process started by `orderflow up` writes everything (its own lines, the web server's,
Faust's, librdkafka's) to its stdout and stderr, which point at `.stack/logs/<name>.log`
(ORDERFLOW_LOG_FILE). Once that file passes ORDERFLOW_LOG_MAX_BYTES the process renames it to
`<name>.log.1` (older ones shift up, ORDERFLOW_LOG_KEEP are kept) and points its stdout and
stderr at a new file: nothing is lost or copied, a line being written lands in the old file.
So one process's logs never exceed (KEEP + 1) x MAX_BYTES. Without ORDERFLOW_LOG_FILE (a
container, whose runtime keeps the logs) nothing is rotated."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(level: str | None = None) -> None:
    """JSON lines on stderr for the orderflow loggers; idempotent."""
    logger = logging.getLogger("orderflow")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level or os.environ.get("ORDERFLOW_LOG_LEVEL", "INFO"))
    logger.propagate = False
    keep_log_bounded()


def rotate_if_over(path: Path, max_bytes: int, keep: int) -> bool:
    """If `path` has grown past `max_bytes`: shift `path.1` .. `path.<keep-1>` up by one (the
    last is dropped), rename `path` to `path.1`, and point this process's stdout and stderr
    (when they write to `path`) at a new, empty `path`. Returns whether it rotated."""
    try:
        current = path.stat()
    except FileNotFoundError:
        return False
    if current.st_size <= max_bytes:
        return False
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
    fresh = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for fd in (1, 2):
            if os.fstat(fd).st_ino == current.st_ino:
                os.dup2(fresh, fd)
    finally:
        os.close(fresh)
    return True


def keep_log_bounded(check_every_s: float = 5.0) -> threading.Thread | None:
    """Rotate ORDERFLOW_LOG_FILE in the background, if set (see the module's docstring)."""
    name = os.environ.get("ORDERFLOW_LOG_FILE")
    if not name:
        return None
    path = Path(name)
    max_bytes = int(os.environ.get("ORDERFLOW_LOG_MAX_BYTES", 20 * 1024 * 1024))
    keep = max(1, int(os.environ.get("ORDERFLOW_LOG_KEEP", 4)))

    def watch() -> None:
        while True:
            time.sleep(check_every_s)
            try:
                rotate_if_over(path, max_bytes, keep)
            except OSError as exc:  # a full or read-only disk: say so, keep the process up
                logging.getLogger("orderflow").warning("log rotation failed: %s", exc)

    thread = threading.Thread(target=watch, name="log-rotation", daemon=True)
    thread.start()
    return thread
