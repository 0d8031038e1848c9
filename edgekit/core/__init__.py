"""The bottom layer: the error family (:mod:`.errors`), atomic file writing (:mod:`.io`), input specifications
(:mod:`.spec`) and the loaded model every command works on (:mod:`.model`). Imports nothing above it."""
