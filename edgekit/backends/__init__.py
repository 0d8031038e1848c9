"""Backends: one runner per runtime behind one interface (:mod:`.base`), found through one registry
(:mod:`.registry`); precisions (:mod:`.precision`), GPU probes (:mod:`.probes`), the ``auto`` rule
(:mod:`.selection`) and TensorRT (:mod:`.trt`). Nothing heavy is imported here."""
