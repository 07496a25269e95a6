#!/usr/bin/env python3
"""Converts an nmt model file to a CTranslate2 model directory (for scripts/bench/translate).

Usage: python nmt_to_ctranslate2.py MODEL.safetensors OUT_DIR

Builds the network with CTranslate2's spec API (TransformerSpec.from_config) and sets every
variable from the safetensors tensors: fairseq names map 1:1, q/k/v are fused as CTranslate2
expects, the embeddings and output projection are shared or separate as the config says (an
imported Marian model's source embedding, output matrix and bias, embedding LayerNorm and swish
included), and the position table is nmt's own ([sin | cos], ω_i = 10000^(−i/(d/2−1)), positions
from 0). CTranslate2's LayerNorm has no ε option: models with ε ≠ its own differ in rounding.
Run inside a virtualenv with ctranslate2, numpy and safetensors (bench-translate makes one).
"""
import json, math, os, sys
import numpy as np
import ctranslate2
from ctranslate2.specs import common_spec, transformer_spec
from safetensors import safe_open
from safetensors.numpy import load_file


def sinusoidal(max_positions, dim):
    half = dim // 2
    step = math.log(10000) / (half - 1)
    freqs = np.exp(np.arange(half, dtype=np.float64) * -step)
    angles = np.arange(max_positions, dtype=np.float64)[:, None] * freqs[None, :]
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=1)
    if dim % 2 == 1:
        table = np.concatenate([table, np.zeros((max_positions, 1))], axis=1)
    return table.astype(np.float32)


def convert(model_path, out_dir):
    with safe_open(model_path, framework="numpy") as f:
        meta = f.metadata()
    config = json.loads(meta["config"])
    vocab = json.loads(meta["vocab"])
    source_vocab = json.loads(meta.get("source_vocab", meta["vocab"]))
    w = load_file(model_path)
    activation = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU,
                  "swish": common_spec.Activation.SWISH}[config["activation"]]
    embedding_norm = config.get("embeddingNorm", False)
    spec = transformer_spec.TransformerSpec.from_config(
        (config["encoderLayers"], config["decoderLayers"]), config["heads"],
        pre_norm=config["preNorm"], activation=activation, layernorm_embedding=embedding_norm)

    def linear(s, name):
        s.weight = w[name + ".weight"]
        s.bias = w[name + ".bias"]

    def fused(s, names):
        s.weight = np.concatenate([w[n + ".weight"] for n in names], axis=0)
        s.bias = np.concatenate([w[n + ".bias"] for n in names], axis=0)

    def norm(s, name):
        s.gamma = w[name + ".weight"]
        s.beta = w[name + ".bias"]

    def self_attention(s, prefix):
        fused(s.self_attention.linear[0], [f"{prefix}.self_attn.{x}_proj" for x in "qkv"])
        linear(s.self_attention.linear[1], f"{prefix}.self_attn.out_proj")
        norm(s.self_attention.layer_norm, f"{prefix}.self_attn_layer_norm")

    def ffn(s, prefix):
        norm(s.layer_norm, prefix + ".final_layer_norm")
        linear(s.linear_0, prefix + ".fc1")
        linear(s.linear_1, prefix + ".fc2")

    embedding = w["embed_tokens.weight"]
    positions = sinusoidal(config["maxPositions"], config["dModel"])
    scale = math.sqrt(config["dModel"])

    enc = spec.encoder
    enc.embeddings[0].weight = w.get("encoder.embed_tokens.weight", embedding)
    if embedding_norm:
        norm(enc.layernorm_embedding, "encoder.layernorm_embedding")
    enc.scale_embeddings = scale
    enc.position_encodings.encodings = positions
    for i, layer in enumerate(enc.layer):
        p = f"encoder.layers.{i}"
        self_attention(layer, p)
        ffn(layer.ffn, p)
    if config["preNorm"]:
        norm(enc.layer_norm, "encoder.layer_norm")

    dec = spec.decoder
    dec.embeddings.weight = embedding
    dec.scale_embeddings = scale
    dec.position_encodings.encodings = positions
    dec.projection.weight = w.get("output_projection.weight", embedding)
    if "output_projection.bias" in w:
        dec.projection.bias = w["output_projection.bias"]
    if embedding_norm:
        norm(dec.layernorm_embedding, "decoder.layernorm_embedding")
    for i, layer in enumerate(dec.layer):
        p = f"decoder.layers.{i}"
        self_attention(layer, p)
        linear(layer.attention.linear[0], f"{p}.encoder_attn.q_proj")
        fused(layer.attention.linear[1], [f"{p}.encoder_attn.{x}_proj" for x in "kv"])
        linear(layer.attention.linear[2], f"{p}.encoder_attn.out_proj")
        norm(layer.attention.layer_norm, f"{p}.encoder_attn_layer_norm")
        ffn(layer.ffn, p)
    if config["preNorm"]:
        norm(dec.layer_norm, "decoder.layer_norm")

    # nmt: source ends with </s>, decoder input starts with <s>; CTranslate2 pads with id 0.
    blank = lambda tokens: ["<blank>" if t == "<pad>" else t for t in tokens]
    spec.register_source_vocabulary(blank(source_vocab))
    spec.register_target_vocabulary(blank(vocab))
    spec.config.bos_token = "<s>"
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.decoder_start_token = "<s>"
    spec.config.add_source_eos = True
    spec.validate()
    os.makedirs(out_dir, exist_ok=True)
    spec.save(out_dir)


if __name__ == "__main__":
    convert(sys.argv[1], sys.argv[2])
