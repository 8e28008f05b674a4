/**
 * Random-weight BERT models with bge-small's input/output contract, generated on demand by
 * `scripts/gen-bert-onnx.py` (the real weights cannot be downloaded on the build machines).
 * Used by the ONNX tests and the embedding benchmark; the files land in the gitignored
 * `test/fixtures/models/`.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * `tiny`: 1 layer, small FFN, float32 (fast to build and run in tests). `bge-small-shape`:
 * bge-small-en-v1.5's exact shape, float32 (~133 MB). The `-int8` variants hold the same
 * weights in onnxruntime's dynamic-quantization form (DynamicQuantizeLinear + MatMulInteger,
 * int8 embedding tables), as the real `model_quantized.onnx` is (`bge-small-shape-int8`: ~33 MB).
 */
export type GeneratedBertPreset = "tiny" | "tiny-int8" | "bge-small-shape" | "bge-small-shape-int8";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Debian's python has python3-onnx; the pyenv python first on PATH does not. */
const PYTHON = process.env.TM_ONNX_PYTHON ?? "/usr/bin/python3";

export function generatedBertModelPath(preset: GeneratedBertPreset): string {
  return join(REPO_ROOT, "test", "fixtures", "models", `bert-${preset}.onnx`);
}

/** Generates the model if its file is missing; returns its path and sha256. */
export async function ensureGeneratedBertModel(
  preset: GeneratedBertPreset,
): Promise<{ path: string; sha256: string }> {
  const path = generatedBertModelPath(preset);
  if (!existsSync(path)) {
    // The script writes to a temp file and renames, so concurrent test files may both run it.
    await promisify(execFile)(PYTHON, [
      join(REPO_ROOT, "scripts", "gen-bert-onnx.py"),
      "--preset",
      preset,
      "--out",
      path,
    ]);
  }
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return { path, sha256: hash.digest("hex") };
}
