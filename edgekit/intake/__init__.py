"""Model intake: the one ``MODEL`` argument (:mod:`.load`) and checkpoints loaded safely (:mod:`.checkpoint`)."""
