/**
 * The parsers that take bytes from outside — a change from the wire, a JSONL import, an agent's
 * transcript line — fuzzed: whatever they are given, they return a value or throw a
 * TribalError (a coded refusal), never a TypeError, RangeError or an Automerge panic.
 */

import { TribalError } from "@tribalmemory/shared/errors";
import { createMemoryDoc, newActorId } from "@tribalmemory/shared/memory/document";
import { newMemoryId } from "@tribalmemory/shared/memory/ids";
import { BundleEntry } from "@tribalmemory/shared/memory/schemas";
import { openJsonlImport } from "@tribalmemory/shared/service/portability";
import { parseTranscriptLine } from "@tribalmemory/shared/sessions/transcript-records";
import { decodeWireChange } from "@tribalmemory/shared/sync/apply";
import { WireChange } from "@tribalmemory/shared/sync/protocol";
import { sampleMemory } from "@tribalmemory/shared/testing/sample-memory";
import fc from "fast-check";
import { expect, it } from "vitest";
import { arbitraryOf } from "./zod-arbitrary.ts";

const RUNS = Math.max(1, Math.round(Number(process.env.FUZZ_RUNS ?? 1) * 400));
const SEED = Number(process.env.FUZZ_SEED ?? 8);
const run = <T>(arb: fc.Arbitrary<T>, fn: (v: T) => void, runs = RUNS) =>
  fc.assert(fc.property(arb, fn), { numRuns: runs, seed: SEED });

/** Calls fn; anything thrown must be a TribalError with a code. */
function onlyCoded(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TribalError) || typeof err.code !== "string") {
      throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    }
  }
}

function realChange() {
  const id = newMemoryId();
  const { change } = createMemoryDoc(
    sampleMemory({
      id,
      content: "a memory to mangle",
      source_type: "user_explicit",
      source_instance: "fuzz",
      tags: ["a"],
    }),
    newActorId(),
  );
  return { id, change };
}

it("decodeWireChange turns mangled, truncated or forged changes into SYNC_INVALID_CHANGE, never another error", () => {
  const { id, change } = realChange();
  const good = Buffer.from(change.bytes);
  expect(
    decodeWireChange({ doc_id: id, hash: change.hash, deps: [], bytes: good.toString("base64") }).hash,
  ).toBe(change.hash);
  const mangled = fc
    .tuple(
      fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(good.length),
      fc.boolean(),
    )
    .map(([flips, cut, truncate]) => {
      const b = Buffer.from(good);
      for (const [i, v] of flips) b[i] = v;
      return (truncate ? b.subarray(0, cut) : b).toString("base64");
    });
  const bytes = fc.oneof(
    mangled,
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("base64")),
    fc.constantFrom("", "AA==", "hW9Kgw==", good.toString("base64")),
  );
  const hash = fc.oneof(fc.constant(change.hash), fc.stringMatching(/^[0-9a-f]{64}$/));
  const deps = fc.oneof(
    fc.constant([] as string[]),
    fc.array(fc.stringMatching(/^[0-9a-f]{64}$/), { maxLength: 3 }),
    fc.constant([change.hash]),
  );
  run(fc.record({ doc_id: fc.constantFrom(id, newMemoryId()), hash, deps, bytes }), (w) => {
    // Only what passes the wire schema reaches the decoder.
    const parsed = WireChange.safeParse(w);
    if (parsed.success) onlyCoded(() => decodeWireChange(parsed.data));
  });
  // Schema-shaped wire changes from the schema itself.
  run(arbitraryOf(WireChange), (w) => {
    const parsed = WireChange.safeParse(w);
    if (parsed.success) onlyCoded(() => decodeWireChange(parsed.data));
  });
});

it("the JSONL import reader (any bytes, any chunking) yields items or throws a coded error, never another", async () => {
  const line = fc.oneof(
    arbitraryOf(BundleEntry).map((v) => JSON.stringify(v)),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.constantFrom(
      '{"manifest":{}}',
      '{"manifest":{"schema_version":"1.0"}}',
      '{"manifest":null}',
      "{",
      "\uFEFF{}",
      "\r",
      "[]",
    ),
    fc.string({ maxLength: 80 }),
  );
  const body = fc
    .tuple(
      fc.array(line, { maxLength: 8 }),
      fc.constantFrom("\n", "\r\n"),
      fc.uint8Array({ maxLength: 8 }),
      fc.nat(8),
    )
    .map(([ls, sep, junkBytes, at]) => {
      const text = Buffer.from(ls.join(sep), "utf8");
      const cut = Math.min(at * 16, text.length);
      return Buffer.concat([text.subarray(0, cut), Buffer.from(junkBytes), text.subarray(cut)]);
    });
  const chunked = fc.tuple(body, fc.array(fc.nat(64), { maxLength: 6 })).map(([buf, cuts]) => {
    const points = [...new Set(cuts.map((c) => Math.min(c * 7, buf.length)))].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const p of [...points, buf.length]) {
      chunks.push(buf.subarray(prev, p));
      prev = p;
    }
    return chunks;
  });
  await fc.assert(
    fc.asyncProperty(chunked, fc.constantFrom(64, 4096), async (chunks, maxLineBytes) => {
      async function* stream() {
        yield* chunks;
      }
      try {
        const source = await openJsonlImport(stream(), { maxBytes: 2048, maxLineBytes });
        for await (const item of source.items)
          if (item.value !== undefined) BundleEntry.safeParse(item.value);
      } catch (err) {
        if (!(err instanceof TribalError))
          throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      }
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

it("transcript lines of either format parse to a message or a skip, never an exception", () => {
  const content = fc.oneof(
    fc.string(),
    fc.jsonValue({ maxDepth: 3 }),
    fc.array(
      fc.record(
        {
          type: fc.constantFrom("text", "input_text", "output_text", "tool_use", "image"),
          text: fc.oneof(fc.string(), fc.jsonValue()),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
  );
  const claude = fc.record(
    {
      type: fc.oneof(fc.constantFrom("user", "assistant", "summary", "system"), fc.jsonValue()),
      isMeta: fc.oneof(fc.boolean(), fc.jsonValue()),
      uuid: fc.oneof(fc.uuid(), fc.jsonValue()),
      timestamp: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.jsonValue(),
      ),
      message: fc.oneof(
        fc.record(
          { role: fc.oneof(fc.constantFrom("user", "assistant"), fc.jsonValue()), content },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  );
  const codexItem = fc.record(
    {
      type: fc.oneof(fc.constant("message"), fc.jsonValue()),
      role: fc.oneof(fc.constantFrom("user", "assistant", "developer"), fc.jsonValue()),
      content,
    },
    { requiredKeys: [] },
  );
  const codex = fc.oneof(
    codexItem,
    fc.record(
      {
        type: fc.oneof(fc.constant("response_item"), fc.jsonValue()),
        payload: fc.oneof(codexItem, fc.jsonValue()),
        timestamp: fc.jsonValue(),
      },
      { requiredKeys: [] },
    ),
  );
  const lineArb = fc.oneof(
    claude.map((r) => JSON.stringify(r)),
    codex.map((r) => JSON.stringify(r)),
    fc.string({ maxLength: 100 }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
  );
  run(fc.tuple(lineArb, fc.constantFrom("claude-code" as const, "codex" as const)), ([line, format]) => {
    onlyCoded(() => {
      const r = parseTranscriptLine(line, format);
      if (r.kind === "message") expect(typeof r.message.content).toBe("string");
    });
  });
});
