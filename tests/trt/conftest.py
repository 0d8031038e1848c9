"""Fakes standing in for ``tensorrt`` and ``pycuda`` so the control flow of edgekit's builder and runner can be
unit-tested on a machine without a GPU.

THESE ARE FAKES. They implement only the calls edgekit makes, with the documented shapes of arguments and results,
and a trivial "engine" (outputs ``y = 2 * x``). Passing tests with them shows that edgekit calls the API in the
right order with the right arguments as the fakes model it; it does not show that TensorRT itself accepts it.
That is what the ``trt``-marked tests in test_engine_integration.py check, on real hardware (docs/jetson.md).
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest


class FakeEnum:
    """A pybind11-style enum member: ``.name``, printed as ``Type.NAME``."""

    def __init__(self, type_name: str, name: str) -> None:
        self.type_name, self.name = type_name, name

    def __repr__(self) -> str:
        return f"{self.type_name}.{self.name}"

    __str__ = __repr__


def _enum(type_name: str, *names: str) -> Any:
    return types.SimpleNamespace(**{n: FakeEnum(type_name, n) for n in names})


class FakeDims(tuple):  # type: ignore[type-arg]
    """trt.Dims: constructed from a list, indexable, len()."""

    def __new__(cls, shape: Any = ()) -> FakeDims:
        return super().__new__(cls, tuple(int(d) for d in shape))


class FakeScenario:
    """What the fake TensorRT will present: network inputs (-1 = dynamic), layers (name, type, DLA-capable),
    parse errors, DLA cores, the output's dtype, and whether the build fails."""

    def __init__(self) -> None:
        self.inputs: dict[str, tuple[int, ...]] = {"x": (-1, 3)}
        self.layers: list[tuple[str, str, bool]] = [("conv1", "CONVOLUTION", True), ("softmax", "SOFTMAX", False)]
        self.parse_errors: list[tuple[int, str, str, str]] = []
        self.dla_cores = 0
        self.build_fails = False
        self.calls: list[tuple[Any, ...]] = []
        self.builds = 0


def make_fake_trt(scenario: FakeScenario, version: str = "10.13.0.35") -> types.ModuleType:
    """A module object shaped like ``tensorrt`` (only what edgekit uses)."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version  # type: ignore[attr-defined]
    major = int(version.split(".")[0])
    flags = ["TF32", "GPU_FALLBACK"] + (["FP16", "INT8"] if major < 11 else [])
    trt.BuilderFlag = _enum("BuilderFlag", *flags)  # type: ignore[attr-defined]
    trt.MemoryPoolType = _enum("MemoryPoolType", "WORKSPACE")  # type: ignore[attr-defined]
    trt.ProfilingVerbosity = _enum("ProfilingVerbosity", "DETAILED")  # type: ignore[attr-defined]
    trt.DeviceType = _enum("DeviceType", "GPU", "DLA")  # type: ignore[attr-defined]
    trt.TensorIOMode = _enum("TensorIOMode", "INPUT", "OUTPUT")  # type: ignore[attr-defined]
    trt.LayerInformationFormat = _enum("LayerInformationFormat", "JSON")  # type: ignore[attr-defined]
    trt.DataType = _enum("DataType", "FLOAT", "HALF", "INT8", "INT32", "INT64", "BOOL", "BF16")  # type: ignore
    trt.Dims = FakeDims  # type: ignore[attr-defined]
    calls = scenario.calls

    class ILogger:
        ERROR = FakeEnum("Severity", "ERROR")

        def __init__(self, *args: Any) -> None:
            pass

    class Logger(ILogger):
        pass

    class Network:
        def __init__(self) -> None:
            self.inputs: list[Any] = []
            self.layer_objs = [
                types.SimpleNamespace(name=n, type=FakeEnum("LayerType", t), dla=ok) for n, t, ok in scenario.layers
            ]

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Any:
            return self.inputs[i]

        @property
        def num_layers(self) -> int:
            return len(self.layer_objs)

        def get_layer(self, i: int) -> Any:
            return self.layer_objs[i]

    class ParserError:
        def __init__(self, node: int, name: str, op: str, desc: str) -> None:
            self._v = (node, name, op, desc)

        def node(self) -> int:
            return self._v[0]

        def node_name(self) -> str:
            return self._v[1]

        def node_operator(self) -> str:
            return self._v[2]

        def desc(self) -> str:
            return self._v[3]

    class OnnxParser:
        def __init__(self, network: Network, logger: Any) -> None:
            self.network = network

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse", path))
            if scenario.parse_errors:
                return False
            self.network.inputs = [
                types.SimpleNamespace(name=n, shape=FakeDims(s), is_shape_tensor=False)
                for n, s in scenario.inputs.items()
            ]
            return True

        @property
        def num_errors(self) -> int:
            return len(scenario.parse_errors)

        def get_error(self, i: int) -> ParserError:
            return ParserError(*scenario.parse_errors[i])

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            assert all(isinstance(d, FakeDims) for d in (lo, opt, hi)), "profile shapes must be trt.Dims"
            self.shapes[name] = (lo, opt, hi)

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"+timed"

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = {"TF32"}  # TensorRT enables TF32 by default
            self.profiles: list[Profile] = []
            self.pool: dict[str, int] = {}
            self.default_device_type = trt.DeviceType.GPU
            self.DLA_core = -1
            self.profiling_verbosity = None
            self.cache: TimingCache | None = None

        def set_flag(self, f: FakeEnum) -> None:
            self.flags.add(f.name)

        def clear_flag(self, f: FakeEnum) -> None:
            self.flags.discard(f.name)

        def set_memory_pool_limit(self, pool: FakeEnum, size: int) -> None:
            self.pool[pool.name] = size

        def add_optimization_profile(self, p: Profile) -> int:
            self.profiles.append(p)
            return len(self.profiles) - 1

        def can_run_on_DLA(self, layer: Any) -> bool:
            return bool(layer.dla)

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.cache

    class Builder:
        def __init__(self, logger: Any) -> None:
            assert isinstance(logger, ILogger)
            self.logger = logger

        @property
        def num_DLA_cores(self) -> int:
            return scenario.dla_cores

        def create_network(self, flags: int = 0) -> Network:
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            scenario.builds += 1
            calls.append(("build", config))
            if scenario.build_fails:
                self.logger.log(FakeEnum("Severity", "ERROR"), "out of memory (fake)")
                return None
            prof = {n: [list(d) for d in s] for n, s in config.profiles[0].shapes.items()}
            return b"FAKE-ENGINE" + json.dumps({"profile": prof, "flags": sorted(config.flags)}).encode()

    class Engine:
        def __init__(self, data: bytes) -> None:
            self.meta = json.loads(data[len(b"FAKE-ENGINE") :])
            self.names = ["x", "y"]

        @property
        def num_io_tensors(self) -> int:
            return 2

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> FakeEnum:
            return trt.TensorIOMode.INPUT if name == "x" else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> FakeEnum:
            return trt.DataType.FLOAT

        def get_tensor_shape(self, name: str) -> FakeDims:
            return FakeDims(scenario.inputs["x"])  # declared shape: -1 on dynamic axes

        def get_tensor_profile_shape(self, name: str, index: int) -> list[FakeDims]:
            return [FakeDims(s) for s in self.meta["profile"][name]]

        def create_execution_context(self) -> Context:
            return Context(self)

        def create_engine_inspector(self) -> Any:
            layers = [{"Name": n, "LayerType": t} for n, t, _ in scenario.layers]
            return types.SimpleNamespace(get_engine_information=lambda fmt: json.dumps({"Layers": layers}))

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.shapes: dict[str, FakeDims] = {}
            self.addresses: dict[str, int] = {}
            self.fresh_input = False

        def set_input_shape(self, name: str, shape: Any) -> bool:
            lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
            if not all(a <= d <= b for a, d, b in zip(lo, shape, hi)):
                return False
            self.shapes[name] = FakeDims(shape)
            self.fresh_input = True
            return True

        def get_tensor_shape(self, name: str) -> FakeDims:
            if name == "y":
                assert "x" in self.shapes, "output shape read before set_input_shape"
                return self.shapes["x"]
            return self.shapes[name]

        def set_tensor_address(self, name: str, address: int) -> bool:
            assert isinstance(address, int)
            self.addresses[name] = address
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            assert isinstance(stream_handle, int), "execute_async_v3 takes the stream's handle"
            calls.append(("execute", stream_handle, tuple(self.shapes["x"])))
            n = int(np.prod(self.shapes["x"]))
            x = FakeCuda.MEMORY[self.addresses["x"]].view(np.float32)[:n]
            FakeCuda.MEMORY[self.addresses["y"]].view(np.float32)[:n] = 2 * x
            return True

    class Runtime:
        def __init__(self, logger: Any) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            return Engine(data) if data.startswith(b"FAKE-ENGINE") else None

    for cls in (ILogger, Logger, Builder, Runtime, OnnxParser):
        setattr(trt, cls.__name__, cls)
    return trt


class FakeCuda:
    """pycuda.driver: device memory as numpy byte arrays keyed by an integer address; events record a counter."""

    MEMORY: dict[int, np.ndarray] = {}
    CLOCK = [0.0]

    class Error(Exception):
        pass

    @staticmethod
    def init() -> None:
        pass

    class Device:
        @staticmethod
        def count() -> int:
            return 1

        def __init__(self, i: int) -> None:
            pass

        def name(self) -> str:
            return "Fake GPU"

        def compute_capability(self) -> tuple[int, int]:
            return (8, 7)

    class Context:
        @staticmethod
        def get_device() -> Any:
            return FakeCuda.Device(0)

    class Allocation:
        def __init__(self, nbytes: int) -> None:
            self.address = 0x1000 + 0x100000 * len(FakeCuda.MEMORY)
            FakeCuda.MEMORY[self.address] = np.zeros(nbytes, np.uint8)
            self.freed = False

        def __int__(self) -> int:
            return self.address

        def free(self) -> None:
            self.freed = True

    class Stream:
        handle = 4242

        def synchronize(self) -> None:
            pass

    class Event:
        def __init__(self) -> None:
            self.t = 0.0

        def record(self, stream: Any) -> None:
            FakeCuda.CLOCK[0] += 0.25
            self.t = FakeCuda.CLOCK[0]

        def time_till(self, other: Any) -> float:
            return float(other.t - self.t)

    @staticmethod
    def pagelocked_empty(n: int, dtype: Any) -> np.ndarray:
        return np.empty(n, dtype)

    @staticmethod
    def mem_alloc(nbytes: int) -> Any:
        return FakeCuda.Allocation(nbytes)

    @staticmethod
    def memcpy_htod_async(dev: Any, host: np.ndarray, stream: Any) -> None:
        raw = np.ascontiguousarray(host).view(np.uint8).reshape(-1)
        FakeCuda.MEMORY[int(dev)][: raw.size] = raw

    @staticmethod
    def memcpy_dtoh_async(host: np.ndarray, dev: Any, stream: Any) -> None:
        raw = host.view(np.uint8).reshape(-1)
        raw[:] = FakeCuda.MEMORY[int(dev)][: raw.size]


def make_fake_pycuda() -> dict[str, types.ModuleType]:
    pycuda = types.ModuleType("pycuda")
    pycuda.VERSION_TEXT = "fake"  # type: ignore[attr-defined]
    driver = types.ModuleType("pycuda.driver")
    for name in (
        "Error",
        "init",
        "Device",
        "Context",
        "Stream",
        "Event",
        "pagelocked_empty",
        "mem_alloc",
        "memcpy_htod_async",
        "memcpy_dtoh_async",
    ):
        setattr(driver, name, getattr(FakeCuda, name))
    pycuda.driver = driver  # type: ignore[attr-defined]
    auto = types.ModuleType("pycuda.autoprimaryctx")
    return {"pycuda": pycuda, "pycuda.driver": driver, "pycuda.autoprimaryctx": auto}


@pytest.fixture
def fake_scenario() -> FakeScenario:
    return FakeScenario()


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch, fake_scenario: FakeScenario) -> Iterator[FakeScenario]:
    """Install the fake tensorrt 10 + pycuda modules (never the real ones) for one test."""
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_trt(fake_scenario))
    for name, mod in make_fake_pycuda().items():
        monkeypatch.setitem(sys.modules, name, mod)
    FakeCuda.MEMORY.clear()
    yield fake_scenario
    FakeCuda.MEMORY.clear()


def install_fake_trt(monkeypatch: pytest.MonkeyPatch, scenario: FakeScenario, version: str) -> None:
    """Swap in a fake tensorrt of another version (e.g. 11.4.1, which has no FP16/INT8 flags)."""
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_trt(scenario, version))


def tiny_onnx(path: Path, *, dynamic: bool = True, qdq: bool = False, zero_point: int = 0) -> Path:
    """A small real ONNX file: x[N,3] -> Gemm(3->3) -> Relu -> y (optionally with Q/DQ on x)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    batch: Any = "N" if dynamic else 2
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    w = numpy_helper.from_array(np.eye(3, dtype=np.float32) * 2, "w")
    inits = [w]
    nodes = []
    src = "x"
    if qdq:
        inits += [
            numpy_helper.from_array(np.array(0.05, np.float32), "s"),
            numpy_helper.from_array(np.array(zero_point, np.int8), "zp"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q_x"),
            helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xdq"], name="dq_x"),
        ]
        src = "xdq"
    nodes += [helper.make_node("Gemm", [src, "w"], ["g"], name="gemm"), helper.make_node("Relu", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def make_onnx() -> Any:
    """``make_onnx(path, dynamic=True, qdq=False, zero_point=0)``: see :func:`tiny_onnx`."""
    return tiny_onnx


@pytest.fixture
def use_fake_trt_version(monkeypatch: pytest.MonkeyPatch, fake_gpu: FakeScenario) -> Any:
    """``use_fake_trt_version("11.4.1")``: replace the fake tensorrt with one of that version."""
    return lambda version: install_fake_trt(monkeypatch, fake_gpu, version)
