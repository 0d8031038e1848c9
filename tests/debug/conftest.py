"""Planted faults for the ``edgekit debug`` tests: an ONNX initializer perturbed, and tiny user models with a
wrong ONNX symbolic, an activation outlier that ruins per-tensor INT8, and an fp16 overflow."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

FAULTY_MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    class BadSwish(torch.autograd.Function):
        """x * sigmoid(x) in eager; its ONNX symbolic forgets the multiplication (a planted bug)."""

        @staticmethod
        def forward(ctx, x):
            return x * torch.sigmoid(x)

        @staticmethod
        def symbolic(g, x):
            return g.op("Sigmoid", x)


    class Swish(nn.Module):
        def forward(self, x):
            return BadSwish.apply(x)


    class WrongSymbolic(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 16)
            self.act = Swish()
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))


    def wrong_symbolic():
        torch.manual_seed(0)
        return WrongSymbolic()


    class Outlier(nn.Module):
        """fc1's channel 0 is scaled x5000 (fc2 reads it /5000, so fp32 is unchanged in scale): per-tensor
        int8 on fc2's input then rounds every other channel to zero."""

        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 32)
            self.fc2 = nn.Linear(32, 32)
            self.fc3 = nn.Linear(32, 4)
            with torch.no_grad():
                self.fc1.weight[0] *= 5000.0
                self.fc1.bias[0] = 5000.0
                self.fc2.weight[:, 0] /= 5000.0
                self.fc2.bias.zero_()
                self.fc3.bias.zero_()

        def forward(self, x):
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


    def outlier():
        torch.manual_seed(0)
        return Outlier()


    class Overflow(nn.Module):
        """big's outputs reach ~1e6 (beyond fp16's 65504) before shrink scales them back."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.big = nn.Linear(16, 16)
            self.shrink = nn.Linear(16, 4)
            with torch.no_grad():
                self.big.weight.mul_(3e5)
                self.shrink.weight.div_(3e5)

        def forward(self, x):
            return self.shrink(self.big(torch.tanh(self.fc(x))))


    def overflow():
        torch.manual_seed(0)
        return Overflow()
''')


@pytest.fixture(scope="session")
def faulty_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A factory file with the planted-fault models, in a folder whose path holds a space."""
    path = tmp_path_factory.mktemp("faulty models") / "faulty.py"
    path.write_text(FAULTY_MODELS)
    return path


def perturb_initializer(src: Path, dest: Path, seed: int, modules: set[str]) -> tuple[str, str]:
    """Copy the ONNX file ``src`` to ``dest`` with one float initializer (chosen by ``seed``; different seeds below
    the number of candidates choose different ones) scaled x1.5 + 0.1.

    Returns:
        (initializer name, owning module path): the owner by the parameter's name (``module.0.weight`` ->
        ``module.0``), or, for an initializer the exporter renamed or folded (``onnx::RNN_40``, ``val_14``), the
        module its reading node is scoped to.
    """
    import onnx
    from onnx import numpy_helper

    from edgekit.debug.graph import onnx_graph

    model = onnx.load(str(src))
    graph = onnx_graph(model, modules)
    candidates = [
        t
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.FLOAT and int(np.prod(t.dims)) >= 2 and graph.params.get(t.name)
    ]
    order = np.random.default_rng(20261201).permutation(len(candidates))  # seeds < len pick distinct ones
    init = candidates[int(order[seed % len(candidates)])]
    arr = numpy_helper.to_array(init)
    init.CopyFrom(numpy_helper.from_array((arr * 1.5 + 0.1).astype(np.float32), init.name))
    onnx.save(model, str(dest))
    return init.name, str(graph.params[init.name])
