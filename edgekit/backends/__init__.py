"""Backends: one runner (+ loader) per runtime behind one interface (:mod:`.base`), each described by one row of
the registry (:mod:`.registry`: runner, loader, formats, devices, probe, rank, precisions, options); precisions
(:mod:`.precision`), probes (:mod:`.probes`), the ``auto`` rule (:mod:`.selection`) and TensorRT (:mod:`.trt`).
Nothing heavy is imported here."""
