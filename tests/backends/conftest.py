"""Skips ``cuda``-marked tests, with the reason, where torch sees no CUDA GPU."""

from __future__ import annotations

import pytest


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") is None:
        return
    from edgekit.backends.probes import cuda_status

    ok, reason = cuda_status()
    if not ok:
        pytest.skip(f"needs a CUDA GPU: {reason}")
