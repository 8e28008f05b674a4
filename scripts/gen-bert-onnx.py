#!/usr/bin/python3
"""Generate a BERT encoder ONNX graph with random (seeded) weights.

The graph has the input/output contract of bge-small-en-v1.5's ONNX export, so the ONNX
embedding path can be tested and benchmarked without the real weights (which cannot be
downloaded on the build machines):

  inputs   input_ids, attention_mask, token_type_ids   int64 [batch, seq]  (dynamic dims)
  output   last_hidden_state                            float32 [batch, seq, hidden]

Run with Debian's python (python3-onnx + numpy):

  /usr/bin/python3 scripts/gen-bert-onnx.py --preset tiny
  /usr/bin/python3 scripts/gen-bert-onnx.py --preset bge-small-shape

The file is written atomically (temp file + rename), so concurrent runs that generate the
same model do not see a half-written file. Prints the path and its sha256.
"""

import argparse
import hashlib
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# LayerNormalization became a standard op in opset 17; onnx 1.12 (Debian bookworm) knows
# opsets up to 17 and onnxruntime-node 1.30 runs it.
OPSET = 17

PRESETS = {
    # The output contract of bge-small (hidden 384) but one layer and a small FFN: fast to
    # generate (~1 s) and to run in tests.
    "tiny": dict(layers=1, hidden=384, heads=12, ffn=512),
    # The exact shape of bge-small-en-v1.5, for benchmarks (float32, ~133 MB).
    "bge-small-shape": dict(layers=12, hidden=384, heads=12, ffn=1536),
}

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--ffn", type=int)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--max-pos", type=int, default=512)
    p.add_argument("--type-vocab", type=int, default=2)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out", help="output file (default test/fixtures/models/bert-<preset>.onnx)")
    args = p.parse_args(argv)

    shape = dict(PRESETS[args.preset]) if args.preset else dict(layers=1, hidden=384, heads=12, ffn=512)
    for key in ("layers", "hidden", "heads", "ffn"):
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    for key, value in shape.items():
        setattr(args, key, value)
    if args.hidden % args.heads != 0:
        p.error(f"--hidden {args.hidden} is not divisible by --heads {args.heads}")
    if args.out is None:
        name = args.preset or f"l{args.layers}-h{args.hidden}-a{args.heads}-f{args.ffn}"
        args.out = os.path.join(REPO_ROOT, "test", "fixtures", "models", f"bert-{name}.onnx")
    return args


class GraphBuilder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def weight(self, name, shape, std=0.02, mean=0.0):
        # Same initialisation as BERT (normal, std = initializer_range 0.02).
        value = (mean + std * self.rng.standard_normal(shape)).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def const(self, name, value):
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out

    def linear(self, x, d_in, d_out, prefix):
        w = self.weight(f"{prefix}.weight", (d_in, d_out))
        b = self.weight(f"{prefix}.bias", (d_out,))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def layer_norm(self, x, hidden, prefix):
        gamma = self.weight(f"{prefix}.gamma", (hidden,), std=0.05, mean=1.0)
        beta = self.weight(f"{prefix}.beta", (hidden,), std=0.05)
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)

    def gelu(self, x):
        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))). Gelu is an op only from opset 20.
        scaled = self.op("Mul", [x, "c_inv_sqrt2"])
        return self.op("Mul", [self.op("Mul", [x, "c_half"]), self.op("Add", [self.op("Erf", [scaled]), "c_one"])])


def build(args):
    g = GraphBuilder(args.seed)
    H, nh = args.hidden, args.heads
    hd = H // nh

    g.const("c_half", np.float32(0.5))
    g.const("c_one", np.float32(1.0))
    g.const("c_inv_sqrt2", np.float32(1.0 / math.sqrt(2.0)))
    g.const("c_attn_scale", np.float32(1.0 / math.sqrt(hd)))
    # Additive bias for masked keys: exp(score - 1e9) is exactly 0 in float32.
    g.const("c_mask_neg", np.float32(-1e9))
    g.const("c_i64_0", np.int64(0))
    g.const("c_i64_1", np.int64(1))
    g.const("c_unsq_axes", np.array([1, 2], dtype=np.int64))
    g.const("c_heads_shape", np.array([0, 0, nh, hd], dtype=np.int64))
    g.const("c_hidden_shape", np.array([0, 0, H], dtype=np.int64))

    # Embeddings: word + position + token type, then LayerNorm.
    word = g.op("Gather", [g.weight("embeddings.word", (args.vocab, H)), "input_ids"], axis=0)
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), "c_i64_1"], axis=0)
    positions = g.op("Range", ["c_i64_0", seq_len, "c_i64_1"])
    pos = g.op("Gather", [g.weight("embeddings.position", (args.max_pos, H)), positions], axis=0)
    typ = g.op("Gather", [g.weight("embeddings.token_type", (args.type_vocab, H)), "token_type_ids"], axis=0)
    x = g.op("Add", [g.op("Add", [word, pos]), typ])
    x = g.layer_norm(x, H, "embeddings.layer_norm")

    # attention_mask [B, S] -> additive bias [B, 1, 1, S]: 0 where attended, -1e9 on padding.
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", ["c_one", mask_f]), "c_mask_neg"])
    bias = g.op("Unsqueeze", [bias, "c_unsq_axes"])

    for i in range(args.layers):
        p = f"layer{i}"
        q = g.linear(x, H, H, f"{p}.attention.query")
        k = g.linear(x, H, H, f"{p}.attention.key")
        v = g.linear(x, H, H, f"{p}.attention.value")
        q = g.op("Transpose", [g.op("Reshape", [q, "c_heads_shape"])], perm=[0, 2, 1, 3])  # B,nh,S,hd
        k = g.op("Transpose", [g.op("Reshape", [k, "c_heads_shape"])], perm=[0, 2, 3, 1])  # B,nh,hd,S
        v = g.op("Transpose", [g.op("Reshape", [v, "c_heads_shape"])], perm=[0, 2, 1, 3])  # B,nh,S,hd
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), "c_attn_scale"]), bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3])  # B,S,nh,hd
        ctx = g.op("Reshape", [ctx, "c_hidden_shape"])
        attn = g.linear(ctx, H, H, f"{p}.attention.output")
        x = g.layer_norm(g.op("Add", [x, attn]), H, f"{p}.attention.layer_norm")

        ffn = g.gelu(g.linear(x, H, args.ffn, f"{p}.intermediate"))
        ffn = g.linear(ffn, args.ffn, H, f"{p}.output")
        x = g.layer_norm(g.op("Add", [x, ffn]), H, f"{p}.output.layer_norm")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state_node"))

    int_input = lambda name: helper.make_tensor_value_info(name, TensorProto.INT64, ["batch_size", "sequence_length"])
    graph = helper.make_graph(
        g.nodes,
        "bert_random",
        [int_input("input_ids"), int_input("attention_mask"), int_input("token_type_ids")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", H])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tribalmemory-gen-bert-onnx")
    model.ir_version = 8  # what onnx 1.12 writes for opset 17; accepted by onnxruntime 1.30
    helper.set_model_props(model, {
        "layers": str(args.layers), "hidden": str(H), "heads": str(nh), "ffn": str(args.ffn),
        "vocab": str(args.vocab), "max_pos": str(args.max_pos), "seed": str(args.seed),
    })
    return model


def main(argv):
    args = parse_args(argv)
    model = build(args)
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp-{os.getpid()}"
    data = model.SerializeToString()
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.out)
    print(f"{args.out} {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"layers={args.layers} hidden={args.hidden} heads={args.heads} ffn={args.ffn} vocab={args.vocab} opset={OPSET}")


if __name__ == "__main__":
    main(sys.argv[1:])
