/**
 * `tribal_export` to a file: the bundle (`{"entries":[…],"manifest":{…}}`) written from the
 * lines of `GET /v1/export` (JSONL) as they arrive, counted into `count.n`. The first line is
 * the manifest; it goes last, with the count, as in `POST /v1/export` (JSON objects are
 * unordered). Read whole, as before, a large store's bundle did not fit in the MCP server's
 * memory: a 72 MB store under a 128 MB heap ended it, and at 1M memories the answer passes
 * V8's string limit.
 */
export async function* bundleOfJsonl(
  body: AsyncIterable<Uint8Array | string>,
  count: { n: number },
): AsyncGenerator<string> {
  let manifest: Record<string, unknown> | null = null;
  yield '{"entries":[';
  for await (const line of linesOf(body)) {
    if (!line.trim()) continue;
    if (manifest === null) {
      manifest = (JSON.parse(line) as { manifest?: Record<string, unknown> }).manifest ?? {};
      continue;
    }
    yield (count.n ? "," : "") + line;
    count.n++;
  }
  yield `],"manifest":${JSON.stringify({ ...manifest, memory_count: count.n })}}`;
}

/** The text's lines, split as the chunks arrive (a line may span chunks, a character too). */
async function* linesOf(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of body) {
    rest += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  rest += decoder.decode();
  if (rest) yield rest;
}
