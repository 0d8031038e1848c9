"""Exporters, one module per format (see :data:`edgekit.artifacts.formats.FORMATS`), and the export driver."""
