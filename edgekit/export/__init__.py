"""Exporters, one module per format (see :data:`edgekit.formats.FORMATS`), and the export driver."""
