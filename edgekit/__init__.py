"""edgekit: take a PyTorch model to verified TorchScript / ExportedProgram / ONNX / TensorRT artifacts
and benchmark them.

The package imports nothing heavy at module level: ``import edgekit`` and ``edgekit --help`` need neither
torch nor onnxruntime to be imported.
"""

__version__ = "0.1.0"
