"""Tiny random foundation models, built from configs (no downloads), for tests and offline demos.

`write_fixtures(out, seed=0)` saves a complete set with `save_pretrained` / `torch.save` and a `config.json`
pointing at them, so the real loading code (`ml_backend.foundation.registry`) runs on them with no network:

    out/clap/            ClapModel + ClapProcessor (byte-level RoBERTa tokenizer, 48 kHz features, 1 s)
    out/grounding_dino/  GroundingDinoForObjectDetection (tiny Swin + tiny BERT, from configs) + processor
    out/owlv2/           Owlv2ForObjectDetection + processor (the alternative detector)
    out/sam/tiny_sam.pth state_dict of `build_tiny_sam()` (the config's `models.sam.builder`)
    out/llm/             a tiny Llama causal LM + a tokenizer with a chat template; its weights are set so that
                         greedy decoding always answers {"objects": ["dog"]} (attention and MLP outputs are
                         zeroed, so each next token depends only on the current one, along a fixed chain)
    out/clip/            CLIPModel + CLIPProcessor
    out/sam2_video/      Sam2VideoModel + Sam2VideoProcessor (64 px inputs; the config's models.tracker)
    out/sam3/            only with `sam3=True`: a tiny SAM 3 (Sam3VideoModel, the facebook/sam3 layout) + Sam3Processor,
                         and out/config.sam3.json, the configuration with models.segmenter instead of grounding
    out/config.json      models.* pointing at the above; grounding thresholds 0 (a random detector scores
                         boxes arbitrarily: with 0, every query of every frame yields a box) and
                         pipeline.min_tag_score 0 (a random CLAP's tags all score about 1/|vocabulary|)

`write_tiny_sam3_tracker_video(dir)` writes SAM 3's tracker alone (Sam3TrackerVideoModel + Sam3TrackerVideoProcessor,
for models.tracker with kind "sam3_tracker_video"); it is not part of the set (~6 MB: it would almost double the
set's 7 MB).

Tokenizers are built with the `tokenizers` library from vocabularies generated here (the 256 byte symbols of
byte-level BPE, or characters plus whole words for WordPiece), so their sizes match the tiny models'.
Everything is seeded: the same seed writes the same weights.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

FIXTURE_NOUNS = ("dog",)  # what the tiny LLM always answers
_WORDS = (
    "dog cat car man woman boy girl baby bird horse train truck bus guitar piano drum violin cello flute trumpet "
    "helicopter airplane motorcycle emergency vacuum cleaner hair dryer frying food sound object"
).split()


def _byte_symbols() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


# --- CLAP ------------------------------------------------------------------------------------------------


def byte_level_roberta_tokenizer(model_max_length: int = 128) -> Any:
    """RoBERTa's special tokens and ids 0-4, then the 256 byte symbols; no merges (every byte is a token)."""
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for symbol in _byte_symbols():
        vocab.setdefault(symbol, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def build_tiny_clap(seed: int = 0) -> tuple[Any, Any]:
    """(ClapModel, ClapProcessor): HTSAT with 2 stages on 16 mel bins, a 1-layer text encoder; ~0.2 MB."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tokenizer = byte_level_roberta_tokenizer()
    _seeded(seed)
    config = ClapConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=130,
        ),
        audio_config=dict(
            spec_size=64,
            num_mel_bins=16,
            window_size=4,
            depths=[1, 1],
            num_attention_heads=[2, 2],
            patch_embeds_hidden_size=16,
            hidden_size=32,
            enable_fusion=False,
        ),
        projection_dim=16,
    )
    model = ClapModel(config).eval()
    features = ClapFeatureExtractor(feature_size=16, sampling_rate=48_000, max_length_s=1, truncation="rand_trunc")
    return model, ClapProcessor(feature_extractor=features, tokenizer=tokenizer)


# --- grounding ---------------------------------------------------------------------------------------------


def wordpiece_tokenizer() -> Any:
    """BERT's special tokens, characters and '##' characters, and a few whole words (WordPiece)."""
    from transformers import BertTokenizer

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])}
    for ch in string.ascii_lowercase + string.digits + string.punctuation:
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    return BertTokenizer(vocab=vocab, model_max_length=256)


def build_tiny_grounding_dino(seed: int = 0) -> tuple[Any, Any]:
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor): tiny Swin + tiny BERT built from configs
    (no pretrained backbone), 10 queries, 2 decoder layers (the minimum that works); 128-160 px inputs (the
    coarsest of 4 feature levels must keep more than 1×1 pixel for its GroupNorm)."""
    from transformers import (
        BertConfig,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tokenizer = wordpiece_tokenizer()
    _seeded(seed)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 2, 2],
            window_size=4,
            image_size=64,
            out_indices=[2, 3, 4],
        ),
        text_config=BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=256,
        ),
        num_queries=10,
        encoder_layers=1,
        decoder_layers=2,
        d_model=32,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=256,
    )
    model = GroundingDinoForObjectDetection(config).eval()
    images = GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 160})
    return model, GroundingDinoProcessor(image_processor=images, tokenizer=tokenizer)


def _clip_tokenizer(max_length: int) -> Any:
    """CLIP's layout: 256 byte symbols, the same with '</w>', then <|startoftext|>, <|endoftext|>; no merges."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {symbol: i for i, symbol in enumerate(symbols)}
    vocab.update({symbol + "</w>": len(symbols) + i for i, symbol in enumerate(symbols)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def _clip_text_config(tokenizer: Any, max_length: int) -> dict[str, Any]:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_owlv2(seed: int = 0) -> tuple[Any, Any]:
    """(Owlv2ForObjectDetection, Owlv2Processor): 64 px images, 16 patches; projection_dim = text width."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    tokenizer = _clip_tokenizer(32)
    _seeded(seed)
    config = Owlv2Config(
        text_config=_clip_text_config(tokenizer, 32),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=64,
            patch_size=16,
        ),
        projection_dim=32,  # OWL-ViT/OWLv2 need projection_dim == text hidden size
    )
    model = Owlv2ForObjectDetection(config).eval()
    return model, Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer
    )


# --- SAM ---------------------------------------------------------------------------------------------------


def build_tiny_sam() -> Any:
    """An uninitialised tiny segment-anything `Sam`: 64 px input, 8×8 image embedding of width 32.

    Usable as `models.sam.builder = "ml_backend.foundation.tiny:build_tiny_sam"`.
    """
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    image_size, patch, width = 64, 8, 32
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=image_size,
            patch_size=patch,
            embed_dim=32,
            depth=2,
            num_heads=2,
            mlp_ratio=2.0,
            out_chans=width,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=4,
            global_attn_indexes=(1,),
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=width,
            image_embedding_size=(image_size // patch, image_size // patch),
            input_image_size=(image_size, image_size),
            mask_in_chans=4,
        ),
        mask_decoder=MaskDecoder(
            transformer_dim=width,
            transformer=TwoWayTransformer(depth=2, embedding_dim=width, mlp_dim=64, num_heads=2),
            num_multimask_outputs=3,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


# --- LLM ---------------------------------------------------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_llm(seed: int = 0, *, nouns: Sequence[str] | None = FIXTURE_NOUNS) -> tuple[Any, Any]:
    """(LlamaForCausalLM, PreTrainedTokenizerFast with a ChatML chat template).

    With `nouns`, weights are set so that greedy decoding after the generation prompt always produces exactly
    `json.dumps({"objects": nouns})` then <|im_end|>; with None the weights stay random and the model answers
    junk (for the fallback path).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(_byte_symbols())}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    pieces = _answer_pieces(nouns) if nouns is not None else []
    core.add_tokens(pieces)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=4096,
    )
    _seeded(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if nouns is not None:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], add_generation_prompt=True, return_dict=True
        )
        chain = [prompt["input_ids"][-1], *tokenizer.convert_tokens_to_ids(pieces), tokenizer.eos_token_id]
        _wire_chain(model, chain)
    return model, tokenizer


def _answer_pieces(nouns: Sequence[str]) -> list[str]:
    """("dog",) -> ['{"objects": ["', 'dog', '"]}']: distinct tokens whose concatenation is the JSON answer."""
    pieces = ['{"objects": ["']
    for i, noun in enumerate(nouns):
        pieces += [noun, '", "' if i < len(nouns) - 1 else '"]}']
    if not nouns or len(set(pieces)) != len(pieces):
        raise ValueError(f"the wired answer needs one or more distinct nouns, got {list(nouns)}")
    assert "".join(pieces) == json.dumps({"objects": list(nouns)})
    return pieces


@torch.no_grad()
def _wire_chain(model: Any, chain: list[int]) -> None:
    """Make greedy decoding follow `chain`: token chain[i] -> chain[i+1].

    Attention and MLP outputs are zeroed, so the last hidden state is the (normalised) embedding of the current
    token; chain tokens get orthogonal embeddings and the LM head maps each to its successor.
    """
    for layer in model.model.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    embeddings, head = model.model.embed_tokens.weight, model.lm_head.weight
    head.zero_()
    for i, (current, following) in enumerate(zip(chain, chain[1:], strict=False)):
        basis = torch.zeros(embeddings.shape[1])
        basis[i] = 1.0
        embeddings[current] = basis
        head[following] = 10.0 * basis


# --- CLIP --------------------------------------------------------------------------------------------------


def build_tiny_clip(seed: int = 0) -> tuple[Any, Any]:
    """(CLIPModel, CLIPProcessor): 32 px images, 1-layer encoders, projection 16."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tokenizer = _clip_tokenizer(77)
    _seeded(seed)
    config = CLIPConfig(
        text_config=_clip_text_config(tokenizer, 77),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        ),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, CLIPProcessor(image_processor=images, tokenizer=tokenizer)


# --- SAM 2 video (the tracker) ------------------------------------------------------------------------------


def build_tiny_sam2_video(seed: int = 0, *, image_size: int = 64) -> tuple[Any, Any]:
    """(Sam2VideoModel, Sam2VideoProcessor): a 5-block Hiera on `image_size` px inputs (a multiple of 16), a
    1-layer memory attention over 3 memory frames; ~1 M parameters.

    Widths the model ties together: the memory encoder's output is 64 channels (its memory cross-attention expects
    that), and the image features (FPN, prompt encoder, mask decoder, memory attention) are twice as wide, so the
    object pointers split into memory-sized tokens as in the released sizes."""
    from transformers import (
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
        Sam2VideoVideoProcessor,
    )

    size, width = image_size, 128
    grid = [[size // 4, size // 4], [size // 8, size // 8], [size // 16, size // 16]]
    _seeded(seed)
    config = Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=8,
                num_attention_heads=1,
                image_size=[size, size],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[8, 16, 32, 64],
                num_attention_heads_per_stage=[1, 1, 2, 2],
                window_size_per_stage=[2, 2, 2, 2],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2],
            ),
            backbone_channel_list=[64, 32, 16, 8],
            backbone_feature_sizes=grid,
            fpn_hidden_size=width,
        ),
        prompt_encoder_config=dict(hidden_size=width, image_size=size, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=16),
        image_size=size,
        num_maskmem=3,
        max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=width,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=grid[-1],
        memory_encoder_hidden_size=width,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=width,
        memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=64,
    )
    model = Sam2VideoModel(config).eval()
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(
            size={"height": size, "width": size}, mask_size={"height": size // 4, "width": size // 4}
        ),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
        target_size=size,
    )
    return model, processor


# --- SAM 3 (the concept segmenter) --------------------------------------------------------------------------

SAM3_IMAGE_SIZE = 112  # px: an 8×8 grid of 14 px patches


def _sam3_vision(size: int, patch: int, width: int) -> dict[str, Any]:
    """SAM 3's vision encoder (a 2-layer ViT, `size` px in `patch` px patches, FPN `width` channels wide), as the
    config dict SAM 3 and SAM 3's tracker share."""
    grid = size // patch
    return dict(
        backbone_config=dict(
            model_type="sam3_vit_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=size,
            patch_size=patch,
            window_size=4,
            global_attn_indexes=[1],
            pretrain_image_size=size // 2,
        ),
        fpn_hidden_size=width,
        backbone_feature_sizes=[[4 * grid, 4 * grid], [2 * grid, 2 * grid], [grid, grid]],
    )


def _sam3_tracker(vision: dict[str, Any], size: int, patch: int, width: int) -> dict[str, Any]:
    """SAM 3's tracker (SAM 2-style: 1-layer memory attention over 3 memory frames, 4 object pointers) on `vision`,
    as config kwargs. `width` must be 128: the memory encoder's output is 64 channels (its memory cross-attention
    expects that) and the image features are twice as wide, so object pointers split into memory-sized tokens."""
    return dict(
        vision_config=vision,
        prompt_encoder_config=dict(hidden_size=width, image_size=size, patch_size=patch, mask_input_channels=4),
        mask_decoder_config=dict(
            hidden_size=width, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32, num_hidden_layers=1
        ),
        num_maskmem=3,
        max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=width,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_encoder_hidden_size=width,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=width,
        memory_fuser_num_layers=1,
        memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=64,
        image_size=size,
    )


def build_tiny_sam3(seed: int = 0, *, video: bool = True) -> tuple[Any, Any]:
    """(Sam3VideoModel, or Sam3Model with `video=False`; Sam3Processor) on 112 px inputs, with a CLIP-layout byte
    tokenizer (32 tokens, SAM 3's text length) and 2 object queries.

    `video=True` is the facebook/sam3 layout (model_type "sam3_video": detector + tracker, ~4 M parameters), which
    `Sam3Model` also loads (mode "frame"). Widths the tracker ties together: its memory encoder's output is 64
    channels (its memory cross-attention expects that) and the image features (FPN, DETR, tracker) are twice as
    wide, so the object pointers split into memory-sized tokens as in the released size. `video=False` is an
    image-only SAM 3 32 channels wide (~0.3 M parameters). The video config keeps SAM 3 video's own thresholds except
    `new_det_thresh` 0 (a random detector's scores are about 0.25: any detection may start an object), and the
    tracker's object-score head is biased so that a tracked object is always visible (a random head would call it
    gone about every other frame)."""
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor, Sam3VideoConfig, Sam3VideoModel

    size, patch = SAM3_IMAGE_SIZE, 14
    grid = size // patch
    width = 128 if video else 32
    tokenizer = _clip_tokenizer(32)
    _seeded(seed)
    vision = _sam3_vision(size, patch, width)
    small = dict(num_attention_heads=2, intermediate_size=64)
    detector = dict(
        vision_config=vision,
        text_config={**_clip_text_config(tokenizer, 32), "projection_dim": 32},
        geometry_encoder_config=dict(hidden_size=width, num_layers=1, roi_size=2, **small),
        detr_encoder_config=dict(hidden_size=width, num_layers=1, **small),
        detr_decoder_config=dict(hidden_size=width, num_layers=1, num_queries=2, **small),
        mask_decoder_config=dict(hidden_size=width, num_attention_heads=2),
    )
    if not video:
        model: Any = Sam3Model(Sam3Config(**detector)).eval()
    else:
        tracker = _sam3_tracker(vision, size, patch, width)
        config = Sam3VideoConfig(
            detector_config=detector, tracker_config=tracker, low_res_mask_size=4 * grid, new_det_thresh=0.0
        )
        config.image_size = size
        model = Sam3VideoModel(config).eval()
        with torch.no_grad():  # the tracker always sees its objects (a random head would call them gone half the time)
            model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    images = Sam3ImageProcessor(size={"height": size, "width": size}, mask_size={"height": 4 * grid, "width": 4 * grid})
    return model, Sam3Processor(image_processor=images, tokenizer=tokenizer)


def write_tiny_sam3(out: str | Path, *, seed: int = 0, video: bool = True) -> Path:
    """Save `build_tiny_sam3(seed, video=video)` into the folder `out` (`save_pretrained`: config.json, weights,
    the processor); returns `out` (the value of `models.segmenter.path`)."""
    from ml_backend.foundation.loading import quiet_transformers

    quiet_transformers()
    folder = Path(out)
    model, processor = build_tiny_sam3(seed, video=video)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# --- SAM 3's tracker (the other tracker kind) ----------------------------------------------------------------


def build_tiny_sam3_tracker_video(seed: int = 0) -> tuple[Any, Any]:
    """(Sam3TrackerVideoModel, Sam3TrackerVideoProcessor): SAM 3's tracker alone (model_type "sam3_tracker_video",
    the config's models.tracker with kind "sam3_tracker_video") on 112 px inputs, with the vision encoder and the
    tracker of `build_tiny_sam3`; ~1.5 M parameters. The object-score head is biased so that a tracked object is
    always visible (a random head's score is about 0: it would call the object gone on a coin flip)."""
    from transformers import (
        Sam2VideoVideoProcessor,
        Sam3ImageProcessor,
        Sam3TrackerVideoConfig,
        Sam3TrackerVideoModel,
        Sam3TrackerVideoProcessor,
    )

    size, patch, width = SAM3_IMAGE_SIZE, 14, 128
    grid = size // patch
    _seeded(seed)
    config = Sam3TrackerVideoConfig(**_sam3_tracker(_sam3_vision(size, patch, width), size, patch, width))
    model = Sam3TrackerVideoModel(config).eval()
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    processor = Sam3TrackerVideoProcessor(
        image_processor=Sam3ImageProcessor(
            size={"height": size, "width": size}, mask_size={"height": 4 * grid, "width": 4 * grid}
        ),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
        target_size=size,
    )
    return model, processor


def write_tiny_sam3_tracker_video(out: str | Path, *, seed: int = 0) -> Path:
    """Save `build_tiny_sam3_tracker_video(seed)` into the folder `out` (`save_pretrained`: config.json, weights,
    processor_config.json; ~6 MB, under a second); returns `out` (the value of `models.tracker.path`)."""
    from ml_backend.foundation.loading import quiet_transformers

    quiet_transformers()
    folder = Path(out)
    model, processor = build_tiny_sam3_tracker_video(seed)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# --- the fixture set ---------------------------------------------------------------------------------------


def write_fixtures(out: str | Path, *, seed: int = 0, sam3: bool = False) -> Path:
    """Write every tiny model under `out` plus `out/config.json`; returns the config's path.

    `sam3`: also a tiny SAM 3 in the facebook/sam3 layout (`out/sam3/`, `write_tiny_sam3`, ~14 MB) and
    `out/config.sam3.json`, the same configuration with `models.segmenter` (mode "frame"; "video" works on the same
    folder) in place of `models.grounding` (`models.sam` stays for the annotator's SAM clicks)."""
    from ml_backend.foundation.loading import quiet_transformers

    quiet_transformers()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    for name, build in (
        ("clap", build_tiny_clap),
        ("grounding_dino", build_tiny_grounding_dino),
        ("owlv2", build_tiny_owlv2),
        ("llm", build_tiny_llm),
        ("clip", build_tiny_clip),
        ("sam2_video", build_tiny_sam2_video),
    ):
        model, processor = build(seed)
        model.save_pretrained(root / name)
        processor.save_pretrained(root / name)
    (root / "sam").mkdir(exist_ok=True)
    _seeded(seed)
    torch.save(build_tiny_sam().state_dict(), root / "sam" / "tiny_sam.pth")
    config = {
        "device": "auto",
        "allow_network": False,
        "models": {
            "clap": {"path": "clap"},
            "grounding": {
                "kind": "grounding_dino",
                "path": "grounding_dino",
                "box_threshold": 0.0,
                "text_threshold": 0.0,
            },
            "sam": {"builder": "ml_backend.foundation.tiny:build_tiny_sam", "checkpoint": "sam/tiny_sam.pth"},
            "llm": {"path": "llm", "max_new_tokens": 16},
            "clip": {"path": "clip"},
            "tracker": {"kind": "sam2_video", "path": "sam2_video", "min_confidence": 0.5},
        },
        # min_tag_score 0: a random CLAP spreads its probability evenly (about 1/|vocabulary| per tag), so any floor
        # would drop every tag; silent windows stay gated (min_window_rms's default)
        "pipeline": {
            "top_k": 5,
            "max_nouns": 5,
            "merge": "union",
            "bavs_filter": False,
            "clip_labels": False,
            "min_tag_score": 0.0,
        },
    }
    path = root / "config.json"
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    if sam3:
        write_tiny_sam3(root / "sam3", seed=seed)
        models = {key: value for key, value in config["models"].items() if key != "grounding"}
        # thresholds 0: a random SAM 3 scores about 0.25 and its mask logits are about 0, so every query of every
        # frame yields a mask (of every pixel: a random model's masks mean nothing)
        models["segmenter"] = {
            "kind": "sam3",
            "path": "sam3",
            "mode": "frame",
            "score_threshold": 0.0,
            "mask_threshold": 0.0,
            "max_objects": 8,
        }
        (root / "config.sam3.json").write_text(json.dumps({**config, "models": models}, indent=2) + "\n", "utf-8")
    return path
