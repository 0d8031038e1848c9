"""Recipes' building blocks: the recipe declaration (:mod:`.recipe`), generic tasks and metrics (:mod:`.tasks`),
offline data (:mod:`.data`) and quick training (:mod:`.train`)."""
