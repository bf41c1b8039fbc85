#!/usr/bin/env python3
"""Writes a vision graph with the cost of CLIP ViT-B/32 (a 32x32 patch
embedding to 768 channels, 12 MLP blocks of 768 -> 3072 -> 768 over the 49
patch tokens, a 512-d projection: ~5 GFLOP per image) but constant weights
made at load time (ConstantOfShape), so the file is small. For the model
server benchmark: its speed matters, its embeddings do not.

    /usr/bin/python3 make_bench_vision.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

nodes, inits = [], []


def const(name, shape, value):
    inits.append(numpy_helper.from_array(np.array(shape, np.int64), name + "_shape"))
    nodes.append(helper.make_node("ConstantOfShape", [name + "_shape"], [name],
                                  value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value])))


const("patch_w", [768, 3, 32, 32], 0.001)
nodes.append(helper.make_node("Conv", ["pixel_values", "patch_w"], ["patches"], strides=[32, 32]))
inits.append(numpy_helper.from_array(np.array([0, 768, 49], np.int64), "tok_shape"))
nodes.append(helper.make_node("Reshape", ["patches", "tok_shape"], ["tok_cf"]))
nodes.append(helper.make_node("Transpose", ["tok_cf"], ["x0"], perm=[0, 2, 1]))
x = "x0"
for i in range(12):
    const(f"w1_{i}", [768, 3072], 0.0005)
    const(f"w2_{i}", [3072, 768], 0.0005)
    nodes += [helper.make_node("MatMul", [x, f"w1_{i}"], [f"h_{i}"]),
              helper.make_node("Relu", [f"h_{i}"], [f"a_{i}"]),
              helper.make_node("MatMul", [f"a_{i}", f"w2_{i}"], [f"m_{i}"]),
              helper.make_node("Add", [x, f"m_{i}"], [f"x{i + 1}"])]
    x = f"x{i + 1}"
nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], axes=[1], keepdims=0))
const("proj", [768, 512], 0.001)
nodes.append(helper.make_node("MatMul", ["pooled", "proj"], ["image_embeds"]))
graph = helper.make_graph(nodes, "bench_vision",
                          [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
                          [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch_size", 512])], inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="scenedex-bench"), sys.argv[1])
