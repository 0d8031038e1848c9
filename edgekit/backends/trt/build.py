"""Engine building: ONNX -> TensorRT engine, as trtexec does it, on the TensorRT 10/11 Python API.

``build_engine`` parses the ONNX (every parser error listed with its node), sets one optimization profile (see
:mod:`edgekit.backends.trt.profiles`), the workspace limit, a timing cache file reused across builds, the precision plan
for the installed TensorRT major (:mod:`edgekit.backends.trt.precision`) and, on Jetson, a DLA core with GPU fallback;
it reports which layers cannot run on the DLA (and so run on the GPU). Engines are cached by GPU, compute capability,
TensorRT version, precision, profile and ONNX hash, and written atomically with a sidecar JSON
(:mod:`edgekit.backends.trt.cache`). The ``--format trt``
exporter (ONNX export, then this build) is :func:`edgekit.export.trt.export_engine`.

TensorRT and pycuda are imported inside functions: importing this module costs nothing where they are missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.backends.trt import cache as engine_cache
from edgekit.backends.trt.fallback import probe_gpu, probe_tensorrt, trt_unavailable_reason
from edgekit.backends.trt.precision import PrecisionPlan, plan_precision, prepare_onnx, trt_major
from edgekit.backends.trt.profiles import (
    Profile,
    ShapeRange,
    derive_profile,
    describe_profile,
    format_dims_any,
    profile_to_json,
    specs_from_onnx,
    validate_range,
)
from edgekit.core.errors import BackendUnavailable, BadInput, suggest

if TYPE_CHECKING:
    import tensorrt as trt


MIB = 1 << 20


def unavailable_reason() -> str | None:
    """None when TensorRT engines can be built here, else what is missing (tensorrt / pycuda / GPU) and the fix."""
    return trt_unavailable_reason()


def require_tensorrt() -> str:
    """The installed TensorRT version; call before ``import tensorrt`` so a missing one is a clear error.

    Raises:
        BackendUnavailable: not installed, only the type stubs, or older than 10 (one line with the fix).
    """
    probe = probe_tensorrt()
    if not probe.ok:
        raise BackendUnavailable(probe.detail)
    return probe.detail


# -- the build -----------------------------------------------------------------------------------------------------
def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    *,
    profiles: Profile | None = None,
    min_shapes: Iterable[str] = (),
    opt_shapes: Iterable[str] = (),
    max_shapes: Iterable[str] = (),
    precision: str = "fp32",
    workspace: int | None = None,
    timing_cache: str | Path | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool = True,
    tf32: bool = False,
    fp16_converter: str = "auto",
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    inspect: bool = True,
) -> dict[str, Any]:
    """Build a TensorRT engine from ``onnx_path`` into ``engine_path`` (+ ``engine_path.json``), or copy it from
    the engine cache when an identical build exists.

    Args:
        profiles: the optimization profile (input -> min/opt/max); default: from the ONNX inputs and the
            ``*_shapes`` specs (trtexec's ``NAME:DIMS``).
        precision: ``fp32`` | ``fp16`` | ``int8`` (int8: the ONNX must be Q/DQ).
        workspace: workspace pool limit in MiB (default: TensorRT's, the device memory).
        timing_cache: a timing cache file, read when present and written back after the build.
        dla_core: build for this DLA core (Jetson), with GPU fallback unless ``gpu_fallback`` is False.
        tf32: allow TF32 in fp32 builds (off: fp32 matches eager at fp32 tolerances).
        fp16_converter: TensorRT 11's fp16 graph conversion: ``auto`` | ``modelopt`` | ``edgekit``.
        cache_dir: engine cache folder (default :func:`edgekit.backends.trt.cache.default_cache_dir`).
        use_cache: look the engine up in the cache first, and store it there after building.
        inspect: record the engine inspector's layer list beside the engine (``engine_path.layers.json``).

    Returns:
        Details for the manifest: TensorRT version, GPU, precision plan, profile, cache hit or miss, DLA report,
        timing-cache use, build seconds.

    Raises:
        BackendUnavailable: TensorRT/pycuda/GPU missing, or no such DLA core.
        BadInput: bad shapes or options, parser errors (each with its node), or a failed build.
    """
    require_tensorrt()
    import tensorrt as trt

    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise BadInput(f"ONNX file '{onnx_path}' does not exist; export one with `edgekit export MODEL --format onnx`")
    if workspace is not None and workspace <= 0:
        raise BadInput(f"--workspace must be a positive number of MiB, got {workspace}")
    import pycuda.autoprimaryctx  # noqa: F401  (retains the primary context; pycuda.autoinit clashes: TRAPS.md)

    from edgekit.core.io import sha256

    plan = plan_precision(
        precision, trt_major(trt.__version__), dla=dla_core is not None, gpu_fallback=gpu_fallback, tf32=tf32
    )
    if profiles is None:
        specs = specs_from_onnx(onnx_path, min_shapes=min_shapes, opt_shapes=opt_shapes, max_shapes=max_shapes)
        profiles = derive_profile(specs, min_shapes=min_shapes, opt_shapes=opt_shapes, max_shapes=max_shapes)
    profiles = dict(profiles)  # static inputs may join it below: never change the caller's dict
    gpu = probe_gpu()
    if not gpu.ok:
        raise BackendUnavailable(gpu.detail)
    info = dict(gpu.info)
    key = engine_cache.EngineKey.create(
        gpu_name=info.get("name", "?"),
        compute_capability=info.get("compute_capability", "?"),
        trt_version=trt.__version__,
        precision=precision,
        profile=profiles,
        onnx_sha256=sha256(onnx_path),
        extra={
            "dla_core": dla_core,
            "gpu_fallback": gpu_fallback if dla_core is not None else None,
            "tf32": tf32 if precision == "fp32" else None,
            "plan": plan.path,
            "fp16_converter": fp16_converter if plan.convert_fp16 else None,
        },
    )
    cache_root = Path(cache_dir) if cache_dir is not None else engine_cache.default_cache_dir()
    sidecar: dict[str, Any] = {
        "onnx": str(onnx_path),
        "trt_version": trt.__version__,
        "gpu": gpu.detail,
        "precision": plan.to_json(),
        "profiles": profile_to_json(profiles),
        "key": key.fields(),
        "key_digest": key.digest,
    }
    hit = engine_cache.lookup(cache_root, key) if use_cache else None
    if hit is not None:
        cached = engine_cache.read_sidecar(hit) or {}
        sidecar.update({k: cached[k] for k in ("dla", "build", "parse") if k in cached})
        engine_cache.copy_engine(hit, engine_path, {**sidecar, "cache": {"hit": True, "entry": str(hit)}})
        return {**sidecar, "engine": str(engine_path), "cache": {"hit": True, "entry": str(hit)}}

    parse_path, parse_details = prepare_onnx(onnx_path, plan, converter=fp16_converter)
    engine, build = _build(
        parse_path,
        plan,
        profiles,
        workspace=workspace,
        dla_core=dla_core,
        gpu_fallback=gpu_fallback,
        timing_cache=Path(timing_cache) if timing_cache else None,
    )
    sidecar.update(
        {"parse": {**parse_details, "parsed": str(parse_path)}, "dla": build.pop("dla", None), "build": build}
    )
    entry = engine_cache.store(cache_root, key, engine, sidecar) if use_cache else None
    engine_cache.write_engine(engine_path, engine, {**sidecar, "cache": {"hit": False, "entry": str(entry)}})
    if inspect:
        sidecar["layers"] = _write_layer_info(engine, engine_path)
    return {**sidecar, "engine": str(engine_path), "cache": {"hit": False, "entry": str(entry) if entry else None}}


def _build(
    parse_path: Path,
    plan: PrecisionPlan,
    profile: Profile,
    *,
    workspace: int | None,
    dla_core: int | None,
    gpu_fallback: bool,
    timing_cache: Path | None,
) -> tuple[bytes, dict[str, Any]]:
    """Parse, configure and build; returns the serialized engine and build details."""
    import tensorrt as trt

    logger = CollectingLogger()
    builder = trt.Builder(logger.trt_logger)
    network = builder.create_network(0)  # TensorRT 10: weakly typed + flags; 11: strongly typed is the default
    parser = trt.OnnxParser(network, logger.trt_logger)
    if not parser.parse_from_file(str(parse_path)):
        errors = parser_errors(parser)
        raise BadInput(
            f"TensorRT {trt.__version__} cannot parse '{parse_path}' ({len(errors)} error"
            f"{'s' if len(errors) != 1 else ''}): " + " | ".join(errors)
        )
    check_network_inputs(network_inputs(network), profile)
    config = builder.create_builder_config()
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace * MIB)
    apply_flags(config, plan)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    opt = builder.create_optimization_profile()
    for name, rng in profile.items():
        opt.set_shape(name, trt.Dims(list(rng.min)), trt.Dims(list(rng.opt)), trt.Dims(list(rng.max)))
    if config.add_optimization_profile(opt) < 0:
        raise BadInput(
            f"TensorRT rejected the optimization profile ({describe_profile(profile)}): "
            f"{logger.last_errors() or 'no message'}"
        )
    dla = configure_dla(builder, config, network, dla_core, gpu_fallback) if dla_core is not None else None
    cache_obj, cache_note = load_timing_cache(config, timing_cache)
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise BadInput(
            f"TensorRT {trt.__version__} failed to build an engine from '{parse_path}' "
            f"({plan.describe()}): {logger.last_errors() or 'no error message'}"
        )
    if timing_cache is not None and cache_obj is not None:
        save_timing_cache(config, timing_cache)
    build = {
        "seconds": round(seconds, 3),
        "workspace_mib": workspace,
        "timing_cache": cache_note,
        "warnings": logger.warnings[-20:],
        "dla": dla,
    }
    return bytes(serialized), build


class CollectingLogger:
    """A TensorRT logger that keeps errors and warnings, so a failed parse or build can say why in one line."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.trt_logger: trt.ILogger = _trt_logger_for(self)

    def record(self, severity: str, msg: str) -> None:
        if "ERROR" in severity:
            self.errors.append(msg.strip())
        elif "WARNING" in severity:
            self.warnings.append(msg.strip())

    def last_errors(self, n: int = 3) -> str:
        return " | ".join(self.errors[-n:])


def _trt_logger_for(collector: CollectingLogger) -> trt.ILogger:
    """A ``trt.ILogger`` subclass instance feeding ``collector`` (defined here: tensorrt is imported lazily)."""
    import tensorrt as trt

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
            collector.record(str(severity), msg)

    return _Logger()


def parser_errors(parser: trt.OnnxParser) -> list[str]:
    """Every error of a failed parse: ``node 12 (Resize 'up1'): <description>``."""
    out = []
    for i in range(int(parser.num_errors)):
        err = parser.get_error(i)
        node = int(err.node())
        name = err.node_name() if hasattr(err, "node_name") else ""
        op = err.node_operator() if hasattr(err, "node_operator") else ""
        where = f"node {node} ({op} '{name}')" if node >= 0 else "graph"
        out.append(f"{where}: {str(err.desc()).strip()}")
    return out


def network_inputs(network: trt.INetworkDefinition) -> dict[str, tuple[int, ...]]:
    """Input name -> declared shape (-1 for dynamic dimensions) of a parsed network."""
    out = {}
    for i in range(int(network.num_inputs)):
        t = network.get_input(i)
        if getattr(t, "is_shape_tensor", False):
            raise BadInput(f"input '{t.name}' is a shape tensor; edgekit's profiles handle execution tensors only")
        dims = t.shape
        out[str(t.name)] = tuple(int(dims[k]) for k in range(len(dims)))
    return out


def check_network_inputs(inputs: dict[str, tuple[int, ...]], profile: Profile) -> None:
    """Every dynamic network input has a range in ``profile``, every profile name is an input, and each range fits
    the declared static dimensions (static inputs missing from the profile are added as fixed).

    Raises:
        BadInput: naming the input and what to pass.
    """
    for name in profile:
        if name not in inputs:
            raise BadInput(
                f"the profile names input '{name}', but the network's inputs are "
                f"{', '.join(inputs)}.{suggest(name, inputs)}"
            )
    for name, dims in inputs.items():
        dynamic = [ax for ax, d in enumerate(dims) if d < 0]
        if name not in profile:
            if dynamic:
                raise BadInput(
                    f"network input '{name}' ({format_dims_any(dims)}) has dynamic axes {dynamic} but no "
                    f"profile: give --opt-shape {name}:... (and --min-shape/--max-shape)"
                )
            profile[name] = ShapeRange(dims, dims, dims)
            continue
        validate_range(name, profile[name], dims, dynamic)


def apply_flags(config: trt.IBuilderConfig, plan: PrecisionPlan) -> None:
    """Set and clear the plan's builder flags; a flag this TensorRT lacks is an error when it must be set
    (TensorRT 11 has no FP16/INT8: the plan never asks for them there) and ignored when it is to be cleared."""
    import tensorrt as trt

    for name in plan.set_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is None:
            raise BackendUnavailable(
                f"TensorRT {trt.__version__} has no BuilderFlag.{name}, which {plan.describe()} needs"
            )
        config.set_flag(flag)
    for name in plan.clear_flags:
        flag = getattr(trt.BuilderFlag, name, None)
        if flag is not None:
            config.clear_flag(flag)


def configure_dla(
    builder: trt.Builder, config: trt.IBuilderConfig, network: trt.INetworkDefinition, core: int, gpu_fallback: bool
) -> dict[str, Any]:
    """Put the network on DLA core ``core``; returns which layers cannot run there (they run on the GPU).

    Raises:
        BackendUnavailable: the device has no DLA, or not that core.
        BadInput: layers cannot run on DLA and GPU fallback is off.
    """
    import tensorrt as trt

    cores = int(builder.num_DLA_cores)
    if cores == 0:
        raise BackendUnavailable(
            "--dla-core: this device has no DLA (DLA is on Jetson AGX Orin / Orin NX and "
            "Xavier); drop --dla-core to build for the GPU"
        )
    if not 0 <= core < cores:
        raise BadInput(f"--dla-core {core}: this device has {cores} DLA core(s); expected 0..{cores - 1}")
    config.default_device_type = trt.DeviceType.DLA
    config.DLA_core = core
    layers = [network.get_layer(i) for i in range(int(network.num_layers))]
    on_gpu = [
        {"layer": str(layer.name), "type": str(layer.type).split(".")[-1]}
        for layer in layers
        if not config.can_run_on_DLA(layer)
    ]
    if on_gpu and not gpu_fallback:
        names = ", ".join(f"{g['layer']} ({g['type']})" for g in on_gpu[:10])
        raise BadInput(
            f"{len(on_gpu)} layer(s) cannot run on DLA core {core} and GPU fallback is off: {names}; "
            f"allow GPU fallback or change those layers"
        )
    return {
        "core": core,
        "cores": cores,
        "gpu_fallback": gpu_fallback,
        "layers": len(layers),
        "gpu_layers": on_gpu,
        "note": "layers TensorRT's can_run_on_DLA refuses run on the GPU; the builder may move more when a "
        "DLA subgraph exceeds its limits: see the .layers.json inspector output",
    }


def load_timing_cache(config: trt.IBuilderConfig, path: Path | None) -> tuple[trt.ITimingCache | None, str]:
    """Attach a timing cache read from ``path`` (empty when the file is missing or from another device)."""
    if path is None:
        return None, "none"
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    note = f"loaded {path} ({len(data)} bytes)" if data else f"new ({path} absent)"
    if not config.set_timing_cache(cache, False):
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, False)
        note = f"new ({path} is from another device or TensorRT version; it will be overwritten)"
    return cache, note


def save_timing_cache(config: trt.IBuilderConfig, path: Path) -> None:
    """Write the config's (updated) timing cache back to ``path`` atomically."""
    from edgekit.core.io import atomic_path

    data = bytes(config.get_timing_cache().serialize())
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _write_layer_info(engine_bytes: bytes, engine_path: Path) -> dict[str, Any]:
    """Write the engine inspector's JSON beside the engine; returns the layer count and the file's path."""
    import tensorrt as trt

    from edgekit.core.io import write_json

    try:
        runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
        engine = runtime.deserialize_cuda_engine(engine_bytes)
        info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    except Exception as exc:  # inspection is a report, never a reason to fail a finished build
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    out = engine_path.with_name(engine_path.name + ".layers.json")
    write_json(out, info)
    layers = info.get("Layers", []) if isinstance(info, dict) else []
    return {"count": len(layers), "file": str(out)}
