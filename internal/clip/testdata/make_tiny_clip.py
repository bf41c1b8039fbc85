#!/usr/bin/env python3
"""Makes testdata/tiny-clip: a tiny model in exactly the layout of a
transformers.js (Xenova) CLIP export — onnx/text_model_quantized.onnx and
onnx/vision_model_quantized.onnx with the same input and output tensor names
and dtypes, a real byte-level BPE tokenizer.json with a small vocabulary, and
preprocessor_config.json — so the whole path runs in tests without the
hub. Its embeddings live in RGB space (dim 3): an image embeds as its mean
normalised colour, the words "red", "green", "blue" as those colours, so a
text search can be checked for meaning.

Run with Debian's python3-onnx: /usr/bin/python3 make_tiny_clip.py
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-clip")
os.makedirs(os.path.join(HERE, "onnx"), exist_ok=True)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


alphabet = bytes_to_unicode()
merges = [("r", "e"), ("re", "d</w>"), ("b", "l"), ("bl", "u"), ("blu", "e</w>"), ("g", "r"), ("gr", "e"), ("gre", "e"), ("gree", "n</w>")]
vocab = alphabet + [a + "</w>" for a in alphabet] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
ids = {t: i for i, t in enumerate(vocab)}

tokenizer = {
    "version": "1.0",
    "added_tokens": [{"id": ids["<|startoftext|>"], "content": "<|startoftext|>", "special": True},
                     {"id": ids["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}, {"type": "Lowercase"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"}, "behavior": "Removed", "invert": True}, {"type": "ByteLevel", "add_prefix_space": False}]},
    "model": {"type": "BPE", "vocab": ids, "merges": [a + " " + b for a, b in merges], "end_of_word_suffix": "</w>", "unk_token": "<|endoftext|>"},
}
with open(os.path.join(HERE, "tokenizer.json"), "w") as f:
    json.dump(tokenizer, f, ensure_ascii=False)

with open(os.path.join(HERE, "preprocessor_config.json"), "w") as f:
    json.dump({"crop_size": {"height": 32, "width": 32}, "do_center_crop": True, "do_normalize": True, "do_resize": True,
               "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "CLIPImageProcessor",
               "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "rescale_factor": 1 / 255,
               "size": {"shortest_edge": 32}}, f)
with open(os.path.join(HERE, "config.json"), "w") as f:
    json.dump({"model_type": "clip", "projection_dim": 3, "_name_or_path": "scenedex/tiny-clip"}, f)

# Text: mean of the token embeddings under the attention mask.
rng = np.random.default_rng(7)
emb = (rng.standard_normal((len(vocab), 3)) * 0.05).astype(np.float32)
emb[ids["red</w>"]] = [1, -1, -1]
emb[ids["green</w>"]] = [-1, 1, -1]
emb[ids["blue</w>"]] = [-1, -1, 1]
text = helper.make_graph(
    [
        helper.make_node("Gather", ["embedding", "input_ids"], ["last_hidden_state"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask_3d"]),
        helper.make_node("Mul", ["last_hidden_state", "mask_3d"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_3d", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["summed", "count"], ["text_embeds"]),
    ],
    "tiny_clip_text",
    [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
     helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"])],
    [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", 3]),
     helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", 3])],
    [numpy_helper.from_array(emb, "embedding"), numpy_helper.from_array(np.array([2], np.int64), "axis2"),
     numpy_helper.from_array(np.array([1], np.int64), "axis1")],
)
onnx.save(helper.make_model(text, opset_imports=[helper.make_opsetid("", 13)], producer_name="scenedex-tiny-clip"),
          os.path.join(HERE, "onnx", "text_model_quantized.onnx"))

# Vision: the mean normalised colour of the picture.
vision = helper.make_graph(
    [helper.make_node("ReduceMean", ["pixel_values"], ["last_hidden_state"], axes=[2, 3], keepdims=0),
     helper.make_node("Identity", ["last_hidden_state"], ["image_embeds"])],
    "tiny_clip_vision",
    [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 32, 32])],
    [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", 3]),
     helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", 3])],
)
onnx.save(helper.make_model(vision, opset_imports=[helper.make_opsetid("", 13)], producer_name="scenedex-tiny-clip"),
          os.path.join(HERE, "onnx", "vision_model_quantized.onnx"))
print("wrote", HERE)
