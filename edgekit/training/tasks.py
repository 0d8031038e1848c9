"""Generic training loops and metrics, shared by the recipes.

A task trains an ``nn.Module`` in place (CPU, seeded, mini-batch Adam) and scores any backend through a
:data:`~edgekit.training.recipe.Predict` (named numpy inputs -> named numpy outputs), evaluating in batches so ONNX
Runtime, TorchScript, TensorRT or eager PyTorch are all scored by the same code. The model's inputs are
``recipe.inputs`` (by name, in ``forward`` order); its outputs are ``recipe.outputs``.

Tasks:
    :class:`Classification` -- cross-entropy; metric ``top1`` (validation accuracy, 0..1).
    :class:`AnomalyReconstruction` -- autoencoder trained with MSE on normal data; metric ``auroc`` of the
        anomaly score (the model's ``score`` output, else the per-sample reconstruction MSE).
    :class:`Generator` -- GAN; the discriminator lives in the task and is never exported; metric
        ``digit_score``, plus ``psnr_vs_eager`` when a reference is given.
    :class:`VAE` -- ELBO training through the module's ``encode``/``decode``; the deployed forward is the
        deterministic path (encoder mean -> decoder); metric ``recon_mse``.
    :class:`Denoise` -- MSE on freshly noised inputs; metric ``psnr`` of denoised vs clean.

torch is imported inside functions: the CLI imports this module for listings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgekit.core.errors import BadInput
from edgekit.training.recipe import Arrays, Data, Predict, Recipe

if TYPE_CHECKING:
    import torch
    from torch import nn

EVAL_BATCH = 256
"""Batch size of evaluation: every backend sees batches of at most this size."""

PSNR_CAP = 200.0
"""PSNR reported for identical arrays (dB): JSON has no infinity, and fp32 round-off alone is ~140 dB."""


# -- metrics (numpy, backend-independent) -------------------------------------------------------------------------


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = positive), ties counted half
    (the Mann-Whitney U statistic); equals ``sklearn.metrics.roc_auc_score``.

    Raises:
        BadInput: ``labels`` holds a single class, so the AUROC is undefined.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise BadInput(f"AUROC needs both classes; got {n_pos} positives and {n_neg} negatives")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), np.float64)
    # average rank within each run of tied scores
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared difference."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, capped at :data:`PSNR_CAP` (identical arrays)."""
    err = mse(a, b)
    if err == 0.0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * math.log10(data_range**2 / err)))


def predict_batched(predict: Predict, arrays: Arrays, names: Sequence[str], batch_size: int = EVAL_BATCH) -> Arrays:
    """Run ``predict`` over ``arrays[names]`` in batches and concatenate each output along axis 0."""
    n = len(arrays[names[0]])
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, batch_size):
        out = predict({k: np.ascontiguousarray(arrays[k][start : start + batch_size]) for k in names})
        for k, v in out.items():
            parts.setdefault(k, []).append(np.asarray(v))
    return {k: np.concatenate(v, axis=0) for k, v in parts.items()}


def calibration_batches(data: Data, recipe: Recipe, batch_size: int = 32, limit: int | None = None) -> Iterator[Arrays]:
    """Batches of the training inputs (the model's inputs only), in a fixed order: calibration data for
    post-training quantization. ``limit`` caps the number of batches."""
    names = [s.name for s in recipe.inputs]
    n = len(data.train[names[0]])
    for i, start in enumerate(range(0, n, batch_size)):
        if limit is not None and i >= limit:
            return
        yield {k: data.train[k][start : start + batch_size] for k in names}


# -- training helpers -------------------------------------------------------------------------------------------


def _input_names(recipe: Recipe) -> list[str]:
    return [s.name for s in recipe.inputs]


def _require(arrays: Arrays, keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise BadInput(
            f"{where} data lacks {missing}; it holds {sorted(arrays)}: the recipe's data() must "
            f"provide the model inputs and the task keys"
        )


def set_training(model: nn.Module, mode: bool) -> None:
    """``model.train(mode)``, also for pt2e-prepared graph modules (which refuse ``.train()``)."""
    try:
        model.train(mode)
    except NotImplementedError:
        from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train  # type: ignore[import-untyped]

        (move_exported_model_to_train if mode else move_exported_model_to_eval)(model)


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Shuffled index batches for one epoch. Under torch.distributed every rank draws the same permutation
    (same seed) and takes its own stride of each batch, so ranks see disjoint data and stay in step."""
    import torch.distributed as dist

    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_available() and dist.is_initialized() else (0, 1)
    perm = rng.permutation(n)
    for start in range(0, n - world + 1, batch_size):  # every rank gets at least one sample per step
        yield perm[start : start + batch_size][rank::world]


def _tensors(arrays: Arrays, keys: Sequence[str], idx: np.ndarray | None = None) -> list[torch.Tensor]:
    import torch

    return [torch.from_numpy(np.ascontiguousarray(arrays[k] if idx is None else arrays[k][idx])) for k in keys]


def _outputs(model: nn.Module, args: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    from edgekit.core.model import flatten_outputs

    return flatten_outputs(model(*args))


def fit(
    model: nn.Module,
    params: Any,
    loss_of: Callable[[np.ndarray], torch.Tensor],
    n: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
) -> list[float]:
    """Adam with a cosine learning-rate schedule over ``epochs``; returns the mean loss of each epoch."""
    import torch

    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * math.ceil(n / batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    rng = np.random.default_rng(seed)
    history = []
    set_training(model, True)
    for _ in range(epochs):
        total, count = 0.0, 0
        for idx in shuffled_batches(n, batch_size, rng):
            loss = loss_of(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        history.append(total / max(count, 1))
    set_training(model, False)
    return history


# -- tasks -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Classification:
    """Cross-entropy on ``labels``; the first output holds the logits. Metric: ``top1`` on the val split."""

    epochs: int = 20
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    metric: str = "top1"
    higher_is_better: bool = True
    history: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def train(self, model: nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0) -> None:
        import torch.nn.functional as F

        names = _input_names(recipe)
        _require(data.train, [*names, "labels"], "training")

        def loss_of(idx: np.ndarray) -> torch.Tensor:
            *args, labels = _tensors(data.train, [*names, "labels"], idx)
            return F.cross_entropy(_outputs(model, args)[0], labels, label_smoothing=self.label_smoothing)

        self.history = fit(
            model,
            model.parameters(),
            loss_of,
            len(data.train["labels"]),
            self.epochs if epochs is None else epochs,
            self.batch_size,
            self.lr,
            seed,
            self.weight_decay,
        )

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        names = _input_names(recipe)
        _require(data.val, [*names, "labels"], "validation")
        logits = predict_batched(predict, data.val, names)[recipe.outputs[0]]
        return {"top1": top1(logits, data.val["labels"])}


@dataclasses.dataclass
class AnomalyReconstruction:
    """Autoencoder: MSE between the first output (reconstruction) and the input, on normal training data only.

    Metrics: ``auroc`` (anomaly score vs the val ``anomaly`` labels; the score is the output named ``score``
    when the model has one, else the per-sample reconstruction MSE) and ``recon_mse`` (on normal val samples).
    """

    epochs: int = 60
    lr: float = 3e-3
    batch_size: int = 64
    metric: str = "auroc"
    higher_is_better: bool = True
    history: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def train(self, model: nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0) -> None:
        import torch.nn.functional as F

        names = _input_names(recipe)
        _require(data.train, names, "training")

        def loss_of(idx: np.ndarray) -> torch.Tensor:
            args = _tensors(data.train, names, idx)
            return F.mse_loss(_outputs(model, args)[0], args[0])

        self.history = fit(
            model,
            model.parameters(),
            loss_of,
            len(data.train[names[0]]),
            self.epochs if epochs is None else epochs,
            self.batch_size,
            self.lr,
            seed,
        )

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        names = _input_names(recipe)
        _require(data.val, [*names, "anomaly"], "validation")
        x = data.val[names[0]]
        out = predict_batched(predict, data.val, names)
        recon = out[recipe.outputs[0]]
        per_sample = ((recon - x) ** 2).reshape(len(x), -1).mean(axis=1)
        scores = out["score"].reshape(len(x)) if "score" in out else per_sample
        normal = data.val["anomaly"] == 0
        return {"auroc": auroc(scores, data.val["anomaly"]), "recon_mse": float(per_sample[normal].mean())}


@dataclasses.dataclass
class Generator:
    """GAN training (non-saturating loss, Adam(0.5, 0.999)) against ``discriminator()``, which maps an image
    batch to one logit per sample and is discarded after training: only the generator (z -> image) deploys.

    Metrics on the fixed val noise:
        ``digit_score`` -- an Inception-score analogue, exp(E_x KL(p(y|x) || p(y))), with a frozen logistic
            regression trained on the real training digits as the classifier: 1 (garbage or one mode) to 10
            (every digit, each confidently recognisable). Real val digits score about 8.
        ``nn_mse`` -- mean squared distance from each sample to its nearest real val image (lower = more
            realistic; it does not see mode collapse, which is what ``digit_score`` is for).
        ``psnr_vs_eager`` -- PSNR of the samples against ``reference`` (eager PyTorch), when given.
    """

    discriminator: Callable[[], nn.Module]
    epochs: int = 100
    lr: float = 2e-3
    batch_size: int = 64
    metric: str = "digit_score"
    higher_is_better: bool = True
    history: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def train(self, model: nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0) -> None:
        import torch
        import torch.nn.functional as F

        _require(data.train, ["real"], "training")
        latent = recipe.inputs[0].shape[1]
        disc = self.discriminator()
        real = torch.from_numpy(data.train["real"])
        opt_d = torch.optim.Adam(disc.parameters(), lr=self.lr, betas=(0.5, 0.999))
        noise = torch.Generator().manual_seed(seed)
        disc.train()

        def loss_of(idx: np.ndarray) -> torch.Tensor:
            z = torch.randn(len(idx), latent, generator=noise)
            fake = _outputs(model, [z])[0]
            ones, zeros = torch.ones(len(idx)), torch.zeros(len(idx))
            d_loss = F.binary_cross_entropy_with_logits(
                disc(real[idx]).flatten(), ones
            ) + F.binary_cross_entropy_with_logits(disc(fake.detach()).flatten(), zeros)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            return F.binary_cross_entropy_with_logits(disc(fake).flatten(), ones)

        self.history = fit(
            model,
            [{"params": model.parameters(), "betas": (0.5, 0.999)}],
            loss_of,
            len(real),
            self.epochs if epochs is None else epochs,
            self.batch_size,
            self.lr,
            seed,
        )

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        names = _input_names(recipe)
        _require(data.val, [*names, "real"], "validation")
        _require(data.train, ["real", "labels"], "training")
        fake = predict_batched(predict, data.val, names)[recipe.outputs[0]]
        flat = fake.reshape(len(fake), -1).astype(np.float64)
        real = data.val["real"].reshape(len(data.val["real"]), -1).astype(np.float64)
        d2 = (flat**2).sum(1)[:, None] + (real**2).sum(1)[None, :] - 2 * flat @ real.T
        metrics = {
            "digit_score": class_score(flat, data.train["real"], data.train["labels"]),
            "nn_mse": float(np.maximum(d2.min(axis=1), 0.0).mean() / flat.shape[1]),
        }
        if reference is not None:
            ref = predict_batched(reference, data.val, names)[recipe.outputs[0]]
            metrics["psnr_vs_eager"] = psnr(fake, ref)
        return metrics


def class_score(samples: np.ndarray, real: np.ndarray, labels: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) of ``samples`` under a logistic regression fitted on (``real``, ``labels``)."""
    clf = _frozen_classifier(real, labels)
    p = clf.predict_proba(np.asarray(samples, np.float64).reshape(len(samples), -1))
    p = np.clip(p, 1e-12, 1.0)
    marginal = p.mean(axis=0, keepdims=True)
    return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


_CLASSIFIERS: dict[str, Any] = {}


def _frozen_classifier(real: np.ndarray, labels: np.ndarray) -> Any:
    """A logistic regression on the flattened ``real`` images, fitted once per training set (keyed by hash)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    key = hashlib.sha1(np.ascontiguousarray(real).tobytes() + np.ascontiguousarray(labels).tobytes()).hexdigest()
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = LogisticRegression(max_iter=1000).fit(real.reshape(len(real), -1), labels)
    return _CLASSIFIERS[key]


@dataclasses.dataclass
class VAE:
    """ELBO training (Bernoulli likelihood on [0, 1] pixels + ``beta`` * KL) through the module's
    ``encode(x) -> (mean, logvar)`` and ``decode(z)``; ``forward(x)`` must be the deterministic path
    ``decode(mean)`` (no sampling: exports verify against eager). Metrics: ``recon_mse`` and ``psnr`` of the
    first output against the input, on the val split.
    """

    epochs: int = 60
    lr: float = 3e-3
    batch_size: int = 64
    beta: float = 1.0
    metric: str = "recon_mse"
    higher_is_better: bool = False
    history: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def train(self, model: nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0) -> None:
        import torch
        import torch.nn.functional as F

        names = _input_names(recipe)
        _require(data.train, names, "training")
        core: Any = getattr(model, "module", model)  # a DistributedDataParallel wrapper keeps it in .module
        if not (callable(getattr(core, "encode", None)) and callable(getattr(core, "decode", None))):
            raise BadInput(
                f"the VAE task needs a module with encode(x) -> (mean, logvar) and decode(z); "
                f"{type(core).__name__} has not both"
            )
        noise = torch.Generator().manual_seed(seed)

        def loss_of(idx: np.ndarray) -> torch.Tensor:
            (x,) = _tensors(data.train, names[:1], idx)
            mean, logvar = core.encode(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=noise)
            if hasattr(core, "decode_logits"):  # numerically safer BCE when the decoder exposes logits
                rec = F.binary_cross_entropy_with_logits(core.decode_logits(z), x, reduction="sum")
            else:
                rec = F.binary_cross_entropy(core.decode(z).clamp(1e-6, 1 - 1e-6), x, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mean**2 - logvar.exp())
            return (rec + self.beta * kl) / len(idx)

        self.history = fit(
            model,
            model.parameters(),
            loss_of,
            len(data.train[names[0]]),
            self.epochs if epochs is None else epochs,
            self.batch_size,
            self.lr,
            seed,
        )

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        names = _input_names(recipe)
        _require(data.val, names, "validation")
        recon = predict_batched(predict, data.val, names)[recipe.outputs[0]]
        x = data.val[names[0]]
        return {"recon_mse": mse(recon, x), "psnr": psnr(recon, x)}


@dataclasses.dataclass
class Denoise:
    """Denoising autoencoder: MSE between the first output and ``clean``, on inputs re-noised every step with
    Gaussian noise of ``noise_std`` (clipped to [0, 1]). Metrics: ``psnr`` of denoised val images vs clean,
    and ``psnr_noisy``, the input's PSNR, as the baseline to beat.
    """

    epochs: int = 40
    lr: float = 3e-3
    batch_size: int = 64
    noise_std: float = 0.3
    metric: str = "psnr"
    higher_is_better: bool = True
    history: list[float] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def train(self, model: nn.Module, data: Data, recipe: Recipe, *, epochs: int | None = None, seed: int = 0) -> None:
        import torch
        import torch.nn.functional as F

        _require(data.train, ["clean"], "training")
        clean = torch.from_numpy(data.train["clean"])
        noise = torch.Generator().manual_seed(seed)

        def loss_of(idx: np.ndarray) -> torch.Tensor:
            target = clean[idx]
            noisy = (target + self.noise_std * torch.randn(target.shape, generator=noise)).clamp(0.0, 1.0)
            return F.mse_loss(_outputs(model, [noisy])[0], target)

        self.history = fit(
            model,
            model.parameters(),
            loss_of,
            len(clean),
            self.epochs if epochs is None else epochs,
            self.batch_size,
            self.lr,
            seed,
        )

    def evaluate(
        self, predict: Predict, data: Data, recipe: Recipe, reference: Predict | None = None
    ) -> dict[str, float]:
        names = _input_names(recipe)
        _require(data.val, [*names, "clean"], "validation")
        out = predict_batched(predict, data.val, names)[recipe.outputs[0]]
        return {"psnr": psnr(out, data.val["clean"]), "psnr_noisy": psnr(data.val[names[0]], data.val["clean"])}
