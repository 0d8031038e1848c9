"""rnn: an Elman RNN (tanh) sequence classifier reading each 8x8 digit row by row (8 steps x 8 features)."""

from recipes._sequence import recurrent_recipe

RECIPE = recurrent_recipe("rnn", "Elman RNN (tanh)", epochs=30, lr=0.003)
