"""The model zoo: real architectures from ``transformers`` configs, tiny and randomly initialised (no downloads,
no torchvision), each given to edgekit the way a user would: ``path/models.py:FACTORY`` with ``--input`` and
``--dynamic`` values (see :data:`ZOO`).

Every factory returns the plain ``transformers`` model in eval mode (``use_cache=False`` for decoders, whose
cache objects are not tensors); edgekit's intake wraps it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

VOCAB = 64
HIDDEN = 32
SMALL = {"hidden_size": HIDDEN, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@dataclasses.dataclass(frozen=True)
class ZooModel:
    """One zoo entry: the factory's name in this module, ``--input`` and ``--dynamic`` values, and whether it is
    fast enough for the default suite."""

    name: str
    family: str
    inputs: tuple[str, ...]
    dynamic: tuple[str, ...] = ()
    fast: bool = False
    factory: str = ""
    expect_error: tuple[tuple[str, str], ...] = ()
    """(format, words of the one-line error) where a format is expected to refuse the model cleanly."""

    @property
    def ref_factory(self) -> str:
        return self.factory or self.name


TEXT = ("input_ids:1x16:int64", "attention_mask:1x16:int64")
SEQ = ("input_ids:1=seq", "attention_mask:1=seq")
IMAGE = ("pixel_values:1x3x32x32",)

ZOO: tuple[ZooModel, ...] = (
    ZooModel("bert", "text encoder + mask", TEXT, SEQ),
    # the command: nothing named, so edgekit links the equal-size axes itself and says so
    ZooModel("bert_unnamed", "text encoder + mask", TEXT, ("input_ids:1", "attention_mask:1"), True, "bert"),
    ZooModel("distilbert", "text encoder + mask", TEXT, SEQ),
    ZooModel("roberta", "text encoder + mask", TEXT, SEQ),
    ZooModel("albert", "text encoder + mask", TEXT, SEQ),
    ZooModel("electra", "text encoder + mask", TEXT, SEQ),
    ZooModel("t5_encoder", "text encoder + mask", TEXT, SEQ),
    ZooModel("bart", "encoder-decoder + mask", TEXT, SEQ),
    ZooModel("gpt2", "decoder", ("input_ids:1x16:int64",), ("input_ids:1=seq",)),
    ZooModel("llama", "decoder + mask", TEXT, SEQ),
    ZooModel("whisper_encoder", "audio encoder", ("input_features:1x16x64",)),
    ZooModel("wav2vec2", "audio (waveform)", ("input_values:1x4000",), ("input_values:1=samples:400-16000",)),
    ZooModel("vit", "image classifier", IMAGE),
    ZooModel("convnext", "image classifier", IMAGE, fast=True),
    ZooModel("resnet", "image classifier", IMAGE),
    ZooModel("mobilenet_v2", "image classifier", IMAGE),
    ZooModel("swin", "image classifier", IMAGE),
    ZooModel(
        "segformer",
        "segmenter",
        ("pixel_values:1x3x64x64",),
        ("pixel_values:2=h", "pixel_values:3=w"),
        expect_error=(("aoti", "AOTInductor compile failed"),),  # inductor: "ValueRangeError: Invalid ranges"
    ),
    ZooModel("detr", "detector", ("pixel_values:1x3x64x64",)),
)


def _eval(model: nn.Module) -> nn.Module:
    return model.eval()


def bert() -> nn.Module:
    from transformers import BertConfig, BertModel

    return _eval(BertModel(BertConfig(vocab_size=VOCAB, max_position_embeddings=128, **SMALL)))


def distilbert() -> nn.Module:
    from transformers import DistilBertConfig, DistilBertModel

    cfg = DistilBertConfig(vocab_size=VOCAB, dim=HIDDEN, n_layers=2, n_heads=2, hidden_dim=64)
    return _eval(DistilBertModel(cfg))


def roberta() -> nn.Module:
    from transformers import RobertaConfig, RobertaModel

    return _eval(RobertaModel(RobertaConfig(vocab_size=VOCAB, max_position_embeddings=130, **SMALL)))


def albert() -> nn.Module:
    from transformers import AlbertConfig, AlbertModel

    return _eval(AlbertModel(AlbertConfig(vocab_size=VOCAB, embedding_size=16, max_position_embeddings=128, **SMALL)))


def electra() -> nn.Module:
    from transformers import ElectraConfig, ElectraModel

    cfg = ElectraConfig(vocab_size=VOCAB, embedding_size=16, max_position_embeddings=128, **SMALL)
    return _eval(ElectraModel(cfg))


def t5_encoder() -> nn.Module:
    from transformers import T5Config, T5EncoderModel

    cfg = T5Config(vocab_size=VOCAB, d_model=HIDDEN, d_kv=16, d_ff=64, num_layers=2, num_heads=2)
    return _eval(T5EncoderModel(cfg))


def bart() -> nn.Module:
    from transformers import BartConfig, BartModel

    cfg = BartConfig(
        vocab_size=VOCAB,
        d_model=HIDDEN,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=128,
        use_cache=False,
    )
    return _eval(BartModel(cfg))


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2Model

    cfg = GPT2Config(
        vocab_size=VOCAB,
        n_embd=HIDDEN,
        n_layer=2,
        n_head=2,
        n_positions=128,
        use_cache=False,
        bos_token_id=0,
        eos_token_id=0,
    )
    return _eval(GPT2Model(cfg))


def llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaModel

    cfg = LlamaConfig(vocab_size=VOCAB, num_key_value_heads=1, max_position_embeddings=128, use_cache=False, **SMALL)
    return _eval(LlamaModel(cfg))


def whisper_encoder() -> nn.Module:
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    cfg = WhisperConfig(
        num_mel_bins=16,
        d_model=HIDDEN,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        max_source_positions=32,  # input frames = 2 x 32: Whisper's encoder takes one fixed length
        vocab_size=VOCAB,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
        decoder_start_token_id=0,
    )
    return _eval(WhisperEncoder(cfg))


def wav2vec2() -> nn.Module:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    cfg = Wav2Vec2Config(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 2, 2),
        conv_kernel=(10, 3, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    return _eval(Wav2Vec2Model(cfg))


def vit() -> nn.Module:
    from transformers import ViTConfig, ViTModel

    return _eval(ViTModel(ViTConfig(image_size=32, patch_size=8, **SMALL), add_pooling_layer=False))


def convnext() -> nn.Module:
    from transformers import ConvNextConfig, ConvNextModel

    return _eval(ConvNextModel(ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1])))


def resnet() -> nn.Module:
    from transformers import ResNetConfig, ResNetModel

    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic")
    return _eval(ResNetModel(cfg))


def mobilenet_v2() -> nn.Module:
    from transformers import MobileNetV2Config, MobileNetV2Model

    return _eval(MobileNetV2Model(MobileNetV2Config(image_size=32, depth_multiplier=0.25)))


def swin() -> nn.Module:
    from transformers import SwinConfig, SwinModel

    cfg = SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)
    return _eval(SwinModel(cfg))


def segformer() -> nn.Module:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    cfg = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        num_attention_heads=[1, 2],
        decoder_hidden_size=16,
        num_labels=3,
        strides=[4, 2],
        patch_sizes=[7, 3],
        mlp_ratios=[2, 2],
    )
    return _eval(SegformerForSemanticSegmentation(cfg))


def detr() -> nn.Module:
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic", out_features=["stage4"]
    )
    cfg = DetrConfig(
        use_timm_backbone=False,
        backbone_config=backbone,
        use_pretrained_backbone=False,
        d_model=HIDDEN,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_queries=8,
        num_labels=3,
    )
    return _eval(DetrForObjectDetection(cfg))


def by_name(name: str) -> ZooModel:
    """The zoo entry called ``name``."""
    return next(z for z in ZOO if z.name == name)


def describe() -> dict[str, Any]:
    """Every entry as JSON-ready data (for the table's header)."""
    return {z.name: dataclasses.asdict(z) for z in ZOO}
