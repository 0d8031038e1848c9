"""export / compare / train / recipes through Typer's CliRunner, and the installed `edgekit` in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from edgekit.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for cmd in ("export", "compare", "train", "recipes"):
        assert cmd in result.output


def test_export_user_model_then_compare_and_catch_a_perturbed_artifact(user_models, spaced_dir):
    out = spaced_dir / "out dir"
    model = f"{user_models}:two_head"
    result = invoke("export", model, "-i", "image:1x3x16x16", "-i", "meta:1x4", "-o", out)
    assert result.exit_code == 0, result.output
    assert "manifest" in result.output and (out / "model.onnx").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(a["status"] == "pass" for a in manifest["artifacts"])

    ok = invoke("compare", model, out, "--json", spaced_dir / "c.json", "--junit", spaced_dir / "c.xml")
    assert ok.exit_code == 0, ok.output
    report = json.loads((spaced_dir / "c.json").read_text())
    assert len(report["results"]) == 3 and all(r["passed"] for r in report["results"])

    bad = spaced_dir / "bad"
    bad.mkdir()
    perturb_first_weight(out / "model.onnx", bad / "model.onnx")
    shutil.copy(out / "manifest.json", bad / "manifest.json")
    tampered = invoke("compare", model, bad / "model.onnx")  # the copied manifest's sha256 no longer matches
    assert tampered.exit_code == 1, tampered.output
    assert "changed since export" in tampered.stderr and len(tampered.stderr.strip().splitlines()) == 1
    fail = invoke("compare", model, bad / "model.onnx", "--no-manifest", "--junit", spaced_dir / "bad.xml")
    assert fail.exit_code == 1, fail.output
    assert "FAIL" in fail.output and "mismatch" in fail.stderr
    assert "<failure" in (spaced_dir / "bad.xml").read_text()


def perturb_first_weight(src: Path, dst: Path) -> None:
    model = onnx.load(str(src))
    init = next(i for i in model.graph.initializer if len(i.dims) > 1)
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 0.5
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(model, str(dst))


def test_train_then_export_recipe_with_checkpoint(tmp_path):
    ckpt = tmp_path / "mlp.pt"
    result = invoke("train", "mlp", "-o", ckpt, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "top1=" in result.output and ckpt.is_file()
    out = tmp_path / "out"
    result = invoke("export", "mlp", "--checkpoint", ckpt, "--format", "onnx,pt2", "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "manifest.json",
        "model.onnx",
        "model.pt2",
    ]


def test_recipes_lists_every_family():
    result = invoke("recipes")
    assert result.exit_code == 0
    for name in (
        "mlp",
        "cnn",
        "defect",
        "rnn",
        "lstm",
        "gru",
        "gan",
        "dcgan",
        "autoencoder",
        "vae",
        "denoise",
        "transformer",
    ):
        assert name in result.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["export", "missing_model.py:make"], "does not exist"),
        (["export", "cnnn"], "Did you mean 'cnn'"),
        (["export", "{models}:two_head", "-i", "image:1x3"], "required parameter 'meta'"),
        (["export", "{models}:two_head", "-i", "image"], "expected NAME:DIMS"),
        (["export", "{models}:not_a_module", "-i", "x:1"], "expected a torch.nn.Module"),
        (["export", "mlp", "--checkpoint", "{ckpt}"], "does not fit the model"),
        (["export", "mlp", "--format", "onx"], "Did you mean 'onnx'"),
        (["compare", "mlp", "nothing/here.onnx"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment, user_models, tmp_path):
    import torch

    ckpt = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, ckpt)
    result = (
        invoke(*[a.format(models=user_models, ckpt=ckpt) for a in args], "-o", tmp_path / "o")
        if args[0] == "export"
        else invoke(*args)
    )
    assert result.exit_code == 2, result.output
    assert fragment in one_error_line(result)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_unsupported_operator_exit_2_names_it_and_leaves_no_artifact(user_models, tmp_path):
    out = tmp_path / "o"
    result = invoke("export", f"{user_models}:unsupported", "-i", "x:2x6x6", "--static", "-f", "onnx", "-o", out)
    assert result.exit_code == 2
    assert "linalg_svd" in one_error_line(result)
    assert list(out.iterdir()) == []


def test_trt_without_tensorrt_exits_3_with_one_line(tmp_path):
    result = invoke("export", "cnn", "--format", "trt", "-o", tmp_path / "o")
    assert result.exit_code == 3, result.output
    line = one_error_line(result)
    assert "TensorRT" in line and "edgekit[trt]" in line
    assert result.stdout.strip() == ""


def test_verbose_shows_the_traceback(tmp_path):
    result = invoke("--verbose", "export", "nothing.py:make", "-o", tmp_path)
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_installed_console_script_in_a_subprocess_from_a_spaced_cwd(user_models, spaced_dir):
    exe = shutil.which("edgekit") or str(Path(sys.executable).parent / "edgekit")
    done = subprocess.run(
        [exe, "export", f"{user_models.name}:two_head", "-f", "onnx", "-o", "out here"],
        cwd=spaced_dir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (spaced_dir / "out here" / "model.onnx").is_file()
    bad = subprocess.run([exe, "export", "nope.py:x"], cwd=spaced_dir, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_saved_exported_program_as_the_model(tmp_path):
    out = tmp_path / "out"
    assert invoke("export", "cnn", "-f", "pt2,onnx", "-o", out).exit_code == 0
    result = invoke("compare", out / "model.pt2", out / "model.onnx", "--samples", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["checkpoint"] is None and manifest["model"]["recipe"] == "cnn"


def test_a_dynamic_mark_the_model_cannot_take_is_bad_input(tmp_path):
    result = invoke("export", "mlp", "--dynamic", "x:1", "-f", "torchscript", "-o", tmp_path / "o")
    assert result.exit_code == 2, result.output
    assert "eager PyTorch fails at input shapes" in one_error_line(result)


def test_output_path_that_is_a_file_is_bad_input(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x")
    result = invoke("export", "mlp", "-f", "onnx", "-o", target)
    assert result.exit_code == 2 and "is an existing file" in one_error_line(result)


def test_compare_reads_the_manifest_static_export_and_frozen_pt2_axis(tmp_path):
    out = tmp_path / "static"
    assert invoke("export", "cnn", "--static", "-f", "onnx,pt2", "-o", out).exit_code == 0
    result = invoke("compare", "cnn", out, "--samples", "1")
    assert result.exit_code == 0, result.output
    seq = tmp_path / "seq"
    assert invoke("export", "gru", "-f", "pt2,onnx", "-o", seq).exit_code == 0
    again = invoke("compare", seq / "model.pt2", seq / "model.onnx", "--samples", "1")
    assert again.exit_code == 0, again.output


def test_compare_skips_files_the_manifest_does_not_list_and_says_when_nothing_was_compared(user_models, tmp_path):
    out = tmp_path / "o"
    assert invoke("export", "mlp", "-f", "onnx", "-o", out).exit_code == 0
    (out / "mlp.qat.pth").write_bytes(b"a checkpoint, not an artifact")
    assert invoke("compare", "mlp", out, "--samples", "1").exit_code == 0
    noisy = tmp_path / "noisy"
    assert invoke("export", f"{user_models}:noisy", "-i", "x:1x4", "-f", "onnx", "-o", noisy).exit_code == 0
    result = invoke("compare", f"{user_models}:noisy", noisy, "-i", "x:1x4")
    assert result.exit_code == 1 and "compared nothing" in result.stderr


def test_factory_module_failing_at_import_is_bad_input(tmp_path, monkeypatch):
    (tmp_path / "broken_mod.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("export", "broken_mod:make", "-i", "x:1x2", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "boom" in one_error_line(result)
