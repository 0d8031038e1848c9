"""edgekit's recipes: one module per model family, each defining ``RECIPE = edgekit.training.recipe.Recipe(...)``."""
