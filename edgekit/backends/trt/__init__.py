"""TensorRT support: engine building (:mod:`.build`), optimization profiles (:mod:`.profiles`), the precision plan
per TensorRT major version (:mod:`.precision`), the engine cache (:mod:`.cache`) and the ONNX Runtime fallback
decision (:mod:`.fallback`). The runner is :class:`edgekit.backends.trt.runner.TensorRTRunner`.

Nothing here imports ``tensorrt`` or ``pycuda`` at module level: on a machine without them every module imports,
and the functions that need them raise :class:`~edgekit.core.errors.BackendUnavailable` with what is missing
and the fix.
"""
