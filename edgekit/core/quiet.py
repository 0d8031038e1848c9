"""Silence native libraries (pnnx, ExecuTorch's cpuinfo, OpenVINO's frontends) that print to the process's file
descriptors 1 and 2 directly, where :func:`contextlib.redirect_stdout` cannot reach: the CLI prints one line and no
library log lines."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_quiet() -> Iterator[list[str]]:
    """Redirect fds 1 and 2 into a temporary file for the block; yields a list that holds the captured text (last
    4,000 characters) after the block, for error messages.

    Python-level ``sys.stdout``/``sys.stderr`` are flushed first so nothing written before the block is lost.
    """
    captured: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace")[-4000:])
