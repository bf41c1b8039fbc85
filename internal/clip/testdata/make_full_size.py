#!/usr/bin/env python3
"""Writes a model folder in the transformers.js layout whose two graphs have
the parameter counts of CLIP ViT-B/32 (vision ~88 M, text ~63 M) with random
float32 weights — four times the bytes of the quantized export (~600 MB
against ~155 MB) — beside the tiny fixture's tokenizer and a 224 px
preprocessor config. For the container start benchmark: how long loading
and answering take with weights of the real size, and how much memory; the
embeddings mean nothing.

    /usr/bin/python3 make_full_size.py OUT_DIR
"""
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
for f in ("tokenizer.json", "config.json"):
    shutil.copy(os.path.join(here, "tiny-clip", f), os.path.join(out, f))
with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
    f.write('{"crop_size": 224, "size": {"shortest_edge": 224}, "image_mean": [0.48145466, 0.4578275, 0.40821073],'
            ' "image_std": [0.26862954, 0.26130258, 0.27577711]}')
rng = np.random.default_rng(7)


def weight(inits, name, shape):
    inits.append(numpy_helper.from_array((rng.standard_normal(shape, dtype=np.float32) * 0.01), name))
    return name


def blocks(nodes, inits, x, width, hidden, prefix):
    """12 blocks: an attention-sized projection (4 width x width matrices,
    applied as one chain) and an MLP width -> hidden -> width."""
    for i in range(12):
        p = f"{prefix}{i}_"
        q = x
        for j in range(4):
            nodes.append(helper.make_node("MatMul", [q, weight(inits, p + f"a{j}", [width, width])], [p + f"q{j}"]))
            q = p + f"q{j}"
        nodes.append(helper.make_node("Add", [x, q], [p + "x1"]))
        nodes += [helper.make_node("MatMul", [p + "x1", weight(inits, p + "w1", [width, hidden])], [p + "h"]),
                  helper.make_node("Relu", [p + "h"], [p + "r"]),
                  helper.make_node("MatMul", [p + "r", weight(inits, p + "w2", [hidden, width])], [p + "m"]),
                  helper.make_node("Add", [p + "x1", p + "m"], [p + "x2"])]
        x = p + "x2"
    return x


# Vision: 32x32 patches to 768 channels, 12 blocks over 49 tokens, 512-d out.
nodes, inits = [], []
nodes.append(helper.make_node("Conv", ["pixel_values", weight(inits, "patch_w", [768, 3, 32, 32])], ["patches"], strides=[32, 32]))
inits.append(numpy_helper.from_array(np.array([0, 768, 49], np.int64), "tok_shape"))
nodes += [helper.make_node("Reshape", ["patches", "tok_shape"], ["tok_cf"]),
          helper.make_node("Transpose", ["tok_cf"], ["x0"], perm=[0, 2, 1])]
x = blocks(nodes, inits, "x0", 768, 3072, "v")
nodes += [helper.make_node("ReduceMean", [x], ["pooled"], axes=[1], keepdims=0),
          helper.make_node("MatMul", ["pooled", weight(inits, "proj", [768, 512])], ["image_embeds"])]
g = helper.make_graph(nodes, "full_size_vision",
                      [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
                      [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", 512])], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="scenedex-bench"),
          os.path.join(out, "onnx", "vision_model_quantized.onnx"))

# Text: a 49408 x 512 token table, 12 blocks of 512 -> 2048 -> 512, masked mean.
nodes, inits = [], []
nodes += [helper.make_node("Gather", [weight(inits, "tokens", [49408, 512]), "input_ids"], ["emb"]),
          helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT)]
inits.append(numpy_helper.from_array(np.array([2], np.int64), "last_axis"))
nodes += [helper.make_node("Unsqueeze", ["maskf", "last_axis"], ["mask3"]),
          helper.make_node("Mul", ["emb", "mask3"], ["t0"])]
x = blocks(nodes, inits, "t0", 512, 2048, "t")
nodes += [helper.make_node("ReduceMean", [x], ["tpooled"], axes=[1], keepdims=0),
          helper.make_node("MatMul", ["tpooled", weight(inits, "tproj", [512, 512])], ["text_embeds"])]
g = helper.make_graph(nodes, "full_size_text",
                      [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"]),
                       helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"])],
                      [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", 512])], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="scenedex-bench"),
          os.path.join(out, "onnx", "text_model_quantized.onnx"))
