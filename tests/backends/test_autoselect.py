"""The --backend auto rule: fastest verified candidate, never slower than eager, exclusions explained."""

from __future__ import annotations

import math

import pytest

from edgekit.backends.selection import Candidate, candidates_for, choose
from edgekit.core.errors import EdgekitError

EAGER = Candidate("torch", median_ms=1.0, verified=True)


def status_of(decision, label: str) -> str:
    return next(a.status for a in decision.candidates if a.candidate.label == label)


def why_of(decision, label: str) -> str:
    return next(a.why for a in decision.candidates if a.candidate.label == label)


def test_fastest_verified_candidate_wins() -> None:
    d = choose(
        [
            EAGER,
            Candidate("onnxruntime", median_ms=0.8, verified=True),
            Candidate("torch-cudagraph", median_ms=0.2, verified=True),
        ]
    )
    assert d.chosen.backend == "torch-cudagraph"
    assert status_of(d, "torch-cudagraph") == "chosen"
    assert status_of(d, "onnxruntime") == "eligible"
    assert "slower than torch-cudagraph" in why_of(d, "onnxruntime")
    assert "5.00x" in d.explanation


def test_never_slower_than_eager() -> None:
    d = choose(
        [
            EAGER,
            Candidate("onnxruntime", median_ms=1.3, verified=True),
            Candidate("torchscript", median_ms=1.01, verified=True),
        ]
    )
    assert d.chosen.is_eager
    assert "not faster than eager" in why_of(d, "onnxruntime")
    assert "eager baseline kept" in why_of(d, "torch")
    assert "eager" in d.explanation


def test_failing_verification_is_excluded_even_when_fastest() -> None:
    d = choose(
        [
            EAGER,
            Candidate("tensorrt", "fp16", 0.1, verified=False, reason="max_abs 0.3 > atol 0.01"),
            Candidate("onnxruntime", median_ms=0.5, verified=True),
        ]
    )
    assert d.chosen.backend == "onnxruntime"
    assert status_of(d, "tensorrt/fp16") == "excluded"
    assert "failed verification: max_abs 0.3" in why_of(d, "tensorrt/fp16")


def test_unavailable_and_unmeasured_are_excluded() -> None:
    d = choose(
        [
            EAGER,
            Candidate("tensorrt", median_ms=0.1, verified=True, available=False, reason="no GPU"),
            Candidate("onnxruntime-cudagraph", median_ms=None, verified=True, reason="timed out"),
            Candidate("pt2", median_ms=math.nan, verified=True),
        ]
    )
    assert d.chosen.is_eager
    assert why_of(d, "tensorrt") == "unavailable: no GPU"
    assert why_of(d, "onnxruntime-cudagraph") == "not measured: timed out"
    assert status_of(d, "pt2") == "excluded"


def test_ties_go_to_eager_then_to_the_first_listed() -> None:
    assert choose([EAGER, Candidate("torchscript", median_ms=1.0, verified=True)]).chosen.is_eager
    d = choose(
        [EAGER, Candidate("torchscript", median_ms=0.5, verified=True), Candidate("pt2", median_ms=0.5, verified=True)]
    )
    assert d.chosen.backend == "torchscript"
    assert "tied with torchscript" in why_of(d, "pt2")


def test_margin_keeps_eager_for_small_gains() -> None:
    cands = [EAGER, Candidate("onnxruntime", median_ms=0.97, verified=True)]
    assert choose(cands).chosen.backend == "onnxruntime"
    d = choose(cands, margin=0.05)
    assert d.chosen.is_eager
    assert "margin" in why_of(d, "onnxruntime")


def test_eager_needs_no_verified_flag_but_must_be_measured() -> None:
    assert choose([Candidate("torch", median_ms=1.0, verified=False)]).chosen.is_eager
    with pytest.raises(EdgekitError, match="eager baseline"):
        choose([Candidate("torch", median_ms=None), Candidate("onnxruntime", median_ms=0.1, verified=True)])
    with pytest.raises(EdgekitError, match="exactly one eager"):
        choose([Candidate("onnxruntime", median_ms=0.1, verified=True)])


def test_every_candidate_is_listed_with_speedup() -> None:
    cands = [EAGER, Candidate("torch-cudagraph", "fp16", 0.25, verified=True), Candidate("pt2", available=False)]
    d = choose(cands)
    rows = d.rows()
    assert [r["backend"] for r in rows] == ["torch", "torch-cudagraph", "pt2"]
    assert rows[1]["speedup"] == pytest.approx(4.0)
    assert rows[2]["speedup"] is None
    assert d.to_json()["chosen"]["precision"] == "fp16"


def test_candidates_for_cpu_and_cuda() -> None:
    everything = ["torch", "torchscript", "pt2", "onnxruntime", "torch-cudagraph", "onnxruntime-cudagraph", "tensorrt"]
    assert candidates_for("cpu", everything) == [
        ("torch", "fp32"),
        ("torchscript", "fp32"),
        ("pt2", "fp32"),
        ("onnxruntime", "fp32"),
    ]
    cuda = candidates_for("cuda", everything, precisions=("fp32", "fp16"))
    assert cuda[0] == ("torch", "fp32")
    assert ("torch-cudagraph", "fp16") in cuda and ("tensorrt", "fp16") in cuda
    assert ("onnxruntime", "fp16") not in cuda and ("torch", "fp16") not in cuda
    assert candidates_for("cpu", []) == [("torch", "fp32")]  # eager is always measured
    assert candidates_for("cuda", ["onnxruntime", "nonsense"]) == [("torch", "fp32"), ("onnxruntime", "fp32")]
    with pytest.raises(EdgekitError, match="unknown device"):
        candidates_for("tpu", everything)
