"""TensorRT engines for debugging: every layer output marked as a network output before the build, so the
engine's tensors can be compared with eager the way :mod:`edgekit.debug.run` compares an ONNX file's.

**Unverified**: written against TensorRT's documented Python API (``INetworkDefinition.num_layers``,
``get_layer(i).get_output(j)``, ``ITensor.is_network_output``, ``INetworkDefinition.mark_output``; Polygraphy's
``--trt-outputs mark all`` does the same) and checked here only against a stand-in module; no GPU or TensorRT
ran it. ``edgekit debug`` refuses ``.engine`` files (a built engine keeps only its bindings) and points here.

What to expect on a GPU: the ONNX parser names each layer's output tensor after the ONNX tensor it came from,
so the values of a marked engine can be matched through the ONNX file's :class:`~edgekit.debug.graph.TapGraph`
(``compare_graph`` / ``name_culprit``). Marking outputs stops TensorRT fusing across them, so a marked engine
can hide a fault that lives in a fusion: compare its final outputs with the production engine's first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.core.errors import BackendUnavailable, BadInput


def mark_all_outputs(network: Any, trt: Any, *, only: set[str] | None = None) -> list[str]:
    """Mark every float layer output of a parsed ``network`` (or those named in ``only``) as a network output.

    Args:
        network: a ``tensorrt.INetworkDefinition`` filled by the ONNX parser.
        trt: the ``tensorrt`` module (passed in, so a stand-in can be used).
        only: tensor names to mark (e.g. the module outputs of the ONNX :class:`TapGraph`); None: all.

    Returns:
        The names marked, in layer order.
    """
    floats = {trt.float32, trt.float16}
    marked = []
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        for j in range(layer.num_outputs):
            tensor = layer.get_output(j)
            if tensor is None or tensor.is_network_output or tensor.dtype not in floats:
                continue
            if only is not None and tensor.name not in only:
                continue
            network.mark_output(tensor)
            marked.append(tensor.name)
    return marked


def build_marked_engine(
    onnx_path: Path, *, fp16: bool = False, only: set[str] | None = None
) -> tuple[bytes, list[str]]:
    """Parse ``onnx_path``, mark layer outputs (:func:`mark_all_outputs`) and build a serialized engine.

    Raises:
        BackendUnavailable: tensorrt does not import (exit 3).
        BadInput: the parser or the builder refuses the file.
    """
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendUnavailable(
            f"marking TensorRT layer outputs needs tensorrt ({exc}); pip install 'edgekit[trt]' on a machine "
            f"with an NVIDIA GPU, or debug the ONNX file with edgekit debug"
        ) from exc
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BadInput(f"TensorRT cannot parse '{onnx_path}': {'; '.join(errors[:3])}")
    marked = mark_all_outputs(network, trt, only=only)
    config = builder.create_builder_config()
    if fp16 and hasattr(trt.BuilderFlag, "FP16"):  # TensorRT 10; 11 is strongly typed (convert the ONNX first)
        config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise BadInput(f"TensorRT could not build '{onnx_path}' with {len(marked)} marked outputs; see its log")
    return bytes(engine), marked
