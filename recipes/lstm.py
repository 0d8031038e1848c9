"""lstm: an LSTM sequence classifier reading each 8x8 digit row by row (8 steps x 8 features)."""

from recipes._sequence import recurrent_recipe

RECIPE = recurrent_recipe("lstm", "LSTM", epochs=25, lr=0.005)
