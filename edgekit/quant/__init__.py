"""INT8 quantization for TensorRT and ONNX Runtime: QAT (:mod:`edgekit.quant.qat`) and PTQ
(:mod:`edgekit.quant.ptq`) with torchao's pt2e flow and edgekit's TensorRT placement rules
(:mod:`edgekit.quant.quantizer`); the two ONNX encodings and their checks (:mod:`edgekit.quant.onnx_int8`);
fp32 vs INT8 scoring, the accuracy gate and the report (:mod:`edgekit.quant.report`). See docs/quantization.md.

Nothing is imported here: the CLI imports these modules only when a command runs (torch, torchao, onnx).
"""
