"""Three real architectures built from ``transformers`` configs (random weights: latency does not depend on them;
no torchvision, no download): ResNet-18, MobileNetV2 and ViT-tiny, each an image classifier returning logits.

    edgekit bench benchmarks/edge_models.py:resnet18 --input pixel_values:1x3x128x128 --backend auto

Image sizes are kept small (128 for the CNNs, 224 for ViT-tiny's 16-pixel patches) so that a shared 2-core
machine times batch 8 within a short budget.
"""

from __future__ import annotations

from typing import Any

INPUTS = {
    "resnet18": "pixel_values:1x3x128x128",
    "mobilenet_v2": "pixel_values:1x3x128x128",
    "vit_tiny": "pixel_values:1x3x224x224",
}


class Logits:
    """Wraps a ``transformers`` classifier so that ``forward(pixel_values)`` returns the logits tensor only."""

    def __new__(cls, model: Any) -> Any:
        from torch import nn

        class _Logits(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, pixel_values: Any) -> Any:
                return self.model(pixel_values=pixel_values).logits

        return _torch_init(_Logits()).eval()


def _torch_init(module: Any) -> Any:
    """PyTorch's default init for every Conv/Linear (seeded): transformers' std-0.02 init makes MobileNetV2's logits
    ~1e-27 at random weights, which would make every max-abs-diff meaningless."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.reset_parameters()
    return module


def resnet18() -> Any:
    """ResNet-18 (basic blocks 2-2-2-2, widths 64-512), 1000 classes."""
    from transformers import ResNetConfig, ResNetForImageClassification

    cfg = ResNetConfig(layer_type="basic", depths=[2, 2, 2, 2], hidden_sizes=[64, 128, 256, 512], num_labels=1000)
    return Logits(ResNetForImageClassification(cfg))


def mobilenet_v2() -> Any:
    """MobileNetV2 (depth multiplier 1.0), 1000 classes, at 128x128."""
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification

    return Logits(MobileNetV2ForImageClassification(MobileNetV2Config(image_size=128, num_labels=1000)))


def vit_tiny() -> Any:
    """ViT-tiny/16 (192 wide, 12 layers, 3 heads), 224x224, 1000 classes; eager attention (exportable)."""
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(
        hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
        image_size=224, patch_size=16, num_labels=1000, attn_implementation="eager",
    )  # fmt: skip
    return Logits(ViTForImageClassification(cfg))
