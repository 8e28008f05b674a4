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
  /usr/bin/python3 scripts/gen-bert-onnx.py --preset bge-small-shape-int8   # = --quantize int8

--quantize int8 writes the form that onnxruntime's `quantize_dynamic` gives the real
model_quantized.onnx: each large MatMul (Q, K, V, attention output, FFN in and out) becomes

  DynamicQuantizeLinear(x) -> x_u8, x_scale, x_zp
  MatMulInteger(x_u8, W_q, x_zp, W_zp) -> int32 -> Cast(float) -> Mul(x_scale * W_scale) -> Add(bias)

with W_q an int8 (or --weight-type uint8) initializer quantized per tensor, and the three
embedding tables stored as int8 (Gather, then DequantizeLinear), as quantize_dynamic does.
The float weights are drawn first with the same seed, so an int8 model is the quantized
version of the float model of the same shape and seed (CLS vectors agree to cosine > 0.95).
onnxruntime's 'all' optimisation fuses the chain into its DynamicQuantizeMatMul kernel.

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
    # The same weights, int8 dynamically quantized like the real model_quantized.onnx (~34 MB).
    "tiny-int8": dict(layers=1, hidden=384, heads=12, ffn=512, quantize="int8"),
    "bge-small-shape-int8": dict(layers=12, hidden=384, heads=12, ffn=1536, quantize="int8"),
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
    p.add_argument("--quantize", choices=["none", "int8"], help="int8: onnxruntime dynamic-quantization form")
    p.add_argument("--weight-type", choices=["int8", "uint8"], default="int8",
                   help="type of the quantized MatMul weights (quantize_dynamic's QInt8 / QUInt8)")
    p.add_argument("--gelu", choices=["legacy", "export"],
                   help="GELU node order: 'export' as torch.onnx writes it (fused by onnxruntime); 'legacy' "
                        "as the float presets have always had it (default: export with --quantize, else legacy)")
    p.add_argument("--out", help="output file (default test/fixtures/models/bert-<preset>.onnx)")
    args = p.parse_args(argv)

    shape = dict(PRESETS[args.preset]) if args.preset else dict(layers=1, hidden=384, heads=12, ffn=512)
    shape.setdefault("quantize", "none")
    for key in ("layers", "hidden", "heads", "ffn", "quantize"):
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    for key, value in shape.items():
        setattr(args, key, value)
    if args.gelu is None:
        # Float presets keep the legacy order so their files stay byte-identical to earlier ones.
        args.gelu = "legacy" if args.quantize == "none" else "export"
    if args.hidden % args.heads != 0:
        p.error(f"--hidden {args.hidden} is not divisible by --heads {args.heads}")
    if args.out is None:
        name = args.preset or f"l{args.layers}-h{args.hidden}-a{args.heads}-f{args.ffn}"
        if args.quantize != "none" and not name.endswith(f"-{args.quantize}"):
            name += f"-{args.quantize}"
        args.out = os.path.join(REPO_ROOT, "test", "fixtures", "models", f"bert-{name}.onnx")
    return args


def quantize_tensor(w, dtype):
    """Per-tensor asymmetric quantization as onnxruntime's quantize_dynamic does it
    (range widened to include 0; int8 made symmetric, as its QInt8 weights are)."""
    lo, hi = min(float(w.min()), 0.0), max(float(w.max()), 0.0)
    if dtype == np.int8:
        absmax = max(abs(lo), abs(hi))
        scale = absmax / 127.0 if absmax > 0 else 1.0
        zero_point = 0
        qmin, qmax = -127, 127
    else:
        scale = (hi - lo) / 255.0 if hi > lo else 1.0
        zero_point = int(round(-lo / scale))
        qmin, qmax = 0, 255
    q = np.clip(np.round(w / scale) + zero_point, qmin, qmax).astype(dtype)
    return q, np.float32(scale), np.asarray(zero_point, dtype=dtype)


class GraphBuilder:
    def __init__(self, seed, quantize="none", weight_type="int8"):
        self.quantize = quantize
        self.weight_dtype = np.int8 if weight_type == "int8" else np.uint8
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.counter = 0
        self.quantized_activations = {}  # activation name -> its DynamicQuantizeLinear output

    def name(self, prefix):
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def draw(self, shape, std=0.02, mean=0.0):
        # Same initialisation as BERT (normal, std = initializer_range 0.02).
        return (mean + std * self.rng.standard_normal(shape)).astype(np.float32)

    def weight(self, name, shape, std=0.02, mean=0.0):
        self.initializers.append(numpy_helper.from_array(self.draw(shape, std, mean), name))
        return name

    def quantized_weight(self, name, value, dtype):
        q, scale, zero_point = quantize_tensor(value, dtype)
        self.initializers.append(numpy_helper.from_array(q, f"{name}_quantized"))
        self.initializers.append(numpy_helper.from_array(scale, f"{name}_scale"))
        self.initializers.append(numpy_helper.from_array(zero_point, f"{name}_zero_point"))
        return f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"

    def embedding(self, name, shape, indices):
        """Gather from a table; int8 table + DequantizeLinear when quantizing (as quantize_dynamic)."""
        value = self.draw(shape)
        if self.quantize == "none":
            self.initializers.append(numpy_helper.from_array(value, name))
            return self.op("Gather", [name, indices], axis=0)
        # quantize_dynamic quantizes Gather tables with the weight type too.
        q, scale, zp = self.quantized_weight(name, value, self.weight_dtype)
        return self.op("DequantizeLinear", [self.op("Gather", [q, indices], axis=0), scale, zp])

    def const(self, name, value):
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type, inputs, prefix=None, **attrs):
        out = self.name(prefix or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out

    def linear(self, x, d_in, d_out, prefix):
        if self.quantize == "none":
            w = self.weight(f"{prefix}.weight", (d_in, d_out))
            b = self.weight(f"{prefix}.bias", (d_out,))
            return self.op("Add", [self.op("MatMul", [x, w]), b])
        w = self.draw((d_in, d_out))  # weight, then bias: the float model's draws
        b = self.weight(f"{prefix}.bias", (d_out,))
        # onnxruntime's dynamic quantization of MatMul (quantize_dynamic, QOperator-free form).
        wq, w_scale, w_zp = self.quantized_weight(f"{prefix}.weight", w, self.weight_dtype)
        if x not in self.quantized_activations:  # Q, K and V share one, as in quantize_dynamic's output
            xq = self.name("dql")
            self.nodes.append(helper.make_node(
                "DynamicQuantizeLinear", [x], [xq, xq + "_scale", xq + "_zero_point"], name=xq + "_node"))
            self.quantized_activations[x] = xq
        xq = self.quantized_activations[x]
        acc = self.op("MatMulInteger", [xq, wq, xq + "_zero_point", w_zp])
        scale = self.op("Mul", [xq + "_scale", w_scale])
        y = self.op("Mul", [self.op("Cast", [acc], to=TensorProto.FLOAT), scale])
        return self.op("Add", [y, b])

    def layer_norm(self, x, hidden, prefix):
        gamma = self.weight(f"{prefix}.gamma", (hidden,), std=0.05, mean=1.0)
        beta = self.weight(f"{prefix}.beta", (hidden,), std=0.05)
        return self.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)

    def gelu(self, x, form):
        # Exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))). Gelu is an op only from opset 20.
        if form == "export":
            # The node order torch.onnx / optimum write for BERT (so in the real bge ONNX files):
            # Div -> Erf -> Add -> Mul(x) -> Mul(0.5). onnxruntime fuses it into one Gelu kernel
            # (~10% less CPU per bge-small-shape int8 run than the "legacy" order, which it does not fuse).
            scaled = self.op("Div", [x, "c_sqrt2"])
            return self.op("Mul", [self.op("Mul", [x, self.op("Add", [self.op("Erf", [scaled]), "c_one"])]), "c_half"])
        scaled = self.op("Mul", [x, "c_inv_sqrt2"])
        return self.op("Mul", [self.op("Mul", [x, "c_half"]), self.op("Add", [self.op("Erf", [scaled]), "c_one"])])


def build(args):
    g = GraphBuilder(args.seed, args.quantize, args.weight_type)
    H, nh = args.hidden, args.heads
    hd = H // nh

    g.const("c_half", np.float32(0.5))
    g.const("c_one", np.float32(1.0))
    if args.gelu == "export":
        g.const("c_sqrt2", np.float32(math.sqrt(2.0)))
    else:
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
    word = g.embedding("embeddings.word", (args.vocab, H), "input_ids")
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), "c_i64_1"], axis=0)
    positions = g.op("Range", ["c_i64_0", seq_len, "c_i64_1"])
    pos = g.embedding("embeddings.position", (args.max_pos, H), positions)
    typ = g.embedding("embeddings.token_type", (args.type_vocab, H), "token_type_ids")
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

        ffn = g.gelu(g.linear(x, H, args.ffn, f"{p}.intermediate"), args.gelu)
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
    props = {
        "layers": str(args.layers), "hidden": str(H), "heads": str(nh), "ffn": str(args.ffn),
        "vocab": str(args.vocab), "max_pos": str(args.max_pos), "seed": str(args.seed),
    }
    if args.quantize != "none":  # float models stay byte-identical to earlier versions of this script
        props.update(quantize=args.quantize, weight_type=args.weight_type)
    if args.gelu != "legacy":
        props.update(gelu=args.gelu)
    helper.set_model_props(model, props)
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
    print(f"layers={args.layers} hidden={args.hidden} heads={args.heads} ffn={args.ffn} vocab={args.vocab} "
          f"opset={OPSET} quantize={args.quantize} gelu={args.gelu}")


if __name__ == "__main__":
    main(sys.argv[1:])
