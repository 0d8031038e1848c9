"""The edgekit command line: thin Typer commands over the library. Nothing here imports torch at module level."""
