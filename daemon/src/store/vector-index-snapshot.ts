import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { runtimeModuleUrl } from "@tribalmemory/shared/config/install-layout";
import { type IndexArrays, VectorIndex } from "./vector-index.ts";

/**
 * The vector index saved as one file beside the database, so opening a store reads ~0.6 GB in
 * a few sequential reads instead of decoding every vector from vec0 (measured: 2.6 s per 100k
 * rows through sqlite-vec). The file is a cache, never the durable copy: it is written when
 * the store closes and carries a token that the store also keeps in its `meta` table; the first
 * vector change after opening clears that token (inside the write's transaction) and removes
 * the file, so a file that survives a crash or an older daemon's writes no longer matches and
 * the index is rebuilt from vec0.
 *
 * Layout: a 64-byte header (magic, version, dims, count, lists, token), then rids (int32),
 * lists (uint16), scales (float32), 1-bit codes (uint32 words), int8 vectors, the lists'
 * centroid codes and sums of member vectors (float64), each section starting on an 8-byte boundary.
 */
const MAGIC = 0x49564d54; // "TMVI"
const VERSION = 1;
const HEADER_BYTES = 64;
const TOKEN_BYTES = 32;

type Section = Int32Array | Uint16Array | Float32Array | Uint32Array | Int8Array | Float64Array;

function sectionsOf(a: IndexArrays, count: number, words: number, dims: number): Section[] {
  return [
    a.rids.subarray(0, count),
    a.listOf.subarray(0, count),
    a.scales.subarray(0, count),
    a.codes.subarray(0, count * words),
    a.int8.subarray(0, count * dims),
    a.centroids,
    a.sums,
  ];
}

const pad8 = (n: number) => (8 - (n % 8)) % 8;

export function saveIndexSnapshot(path: string, index: VectorIndex, token: string): void {
  const a = index.arrays();
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(VERSION, 4);
  header.writeUInt32LE(index.dims, 8);
  header.writeUInt32LE(a.count, 12);
  header.writeUInt32LE(a.centroids.length / index.words, 16);
  header.write(token.padEnd(TOKEN_BYTES).slice(0, TOKEN_BYTES), 24, "latin1");
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, header);
    const zeros = Buffer.alloc(8);
    for (const s of sectionsOf(a, a.count, index.words, index.dims)) {
      const bytes = Buffer.from(s.buffer, s.byteOffset, s.byteLength);
      // Large sections in 64 MiB writes: one writeSync is capped at 2 GiB.
      for (let o = 0; o < bytes.length; o += 64 << 20) writeSync(fd, bytes.subarray(o, o + (64 << 20)));
      const p = pad8(bytes.length);
      if (p) writeSync(fd, zeros.subarray(0, p));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The header's facts when the file at `fd` is a snapshot of this width saved with `token`. */
export function readSnapshotHeader(
  fd: number,
  dims: number,
  token: string,
): { count: number; lists: number } | null {
  const header = Buffer.alloc(HEADER_BYTES);
  if (readSync(fd, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES) return null;
  if (header.readUInt32LE(0) !== MAGIC || header.readUInt32LE(4) !== VERSION) return null;
  if (header.readUInt32LE(8) !== dims) return null;
  if (header.toString("latin1", 24, 24 + TOKEN_BYTES).trimEnd() !== token) return null;
  return { count: header.readUInt32LE(12), lists: header.readUInt32LE(16) };
}

/** Reads the sections after the header into `sections` (false when the file is short). */
export function readSnapshotSections(fd: number, sections: Section[]): boolean {
  let position = HEADER_BYTES;
  for (const s of sections) {
    const bytes = Buffer.from(s.buffer, s.byteOffset, s.byteLength);
    for (let o = 0; o < bytes.length; ) {
      const got = readSync(fd, bytes, o, Math.min(bytes.length - o, 64 << 20), position + o);
      if (got <= 0) return false;
      o += got;
    }
    position += bytes.length + pad8(bytes.length);
  }
  return true;
}

/**
 * The index saved at `path`, or null when there is none, or it is not the one `token` names.
 * The sections are read on a worker thread (vector-snapshot-reader.ts) into shared memory, so the
 * daemon answers while ~0.6 GB at 1M vectors comes in: first touching that much new memory costs
 * 1.6 s on a small VM, most of the snapshot's time.
 */
export async function loadIndexSnapshot(
  path: string,
  dims: number,
  token: string | null,
  options: { trainAt?: number } = {},
): Promise<VectorIndex | null> {
  if (!token) return null;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  // Opened here, before the caller goes on: a vector change removes the file at once, and the
  // worker reads through this descriptor whatever happens to the name.
  try {
    const header = readSnapshotHeader(fd, dims, token);
    if (!header) return null;
    const index = new VectorIndex(dims, options);
    const a = index.allocate(header.count, header.lists);
    const sections = sectionsOf(a, header.count, index.words, dims);
    const worker = new Worker(runtimeModuleUrl(new URL("./vector-snapshot-reader.ts", import.meta.url)), {
      workerData: { fd, sections } satisfies SnapshotReadRequest,
    });
    const read = await new Promise<boolean>((resolve) => {
      worker.once("message", (ok: boolean) => resolve(ok));
      worker.once("error", () => resolve(false));
      worker.once("exit", () => resolve(false));
    });
    await worker.terminate();
    if (!read) return null;
    index.adopt(a);
    return index;
  } finally {
    closeSync(fd);
  }
}

/** What vector-snapshot-reader.ts is given: the open snapshot file, and where to read it to. */
export interface SnapshotReadRequest {
  fd: number;
  sections: Section[];
}

export function removeIndexSnapshot(path: string): void {
  rmSync(path, { force: true });
}
