/**
 * A loopback server that speaks the OpenAI embeddings protocol (`POST /v1/embeddings`, Bearer
 * key, `{object: "list", data: [{object: "embedding", index, embedding}], model, usage}`), with
 * bag-of-words vectors (a word lands in a bucket hashed with the model name), so texts that
 * share words are near and two models disagree. Failures can be queued: 429s, hangs.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface EmbeddingsCall {
  model: string;
  inputs: string[];
  authorization: string | null;
}

export interface OpenAiCompatibleServer {
  baseUrl: string;
  calls: EmbeddingsCall[];
  /** Answer the next `n` requests with 429 and this Retry-After (seconds). */
  rateLimitNext(n: number, retryAfter?: string): void;
  /** Never answer the next `n` requests. */
  hangNext(n: number): void;
  close(): Promise<void>;
}

export function bagOfWordsVector(model: string, text: string, dims: number): number[] {
  const v = Array.from({ length: dims }, () => 0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const h = createHash("sha256").update(`${model}\u0000${word}`).digest();
    v[h.readUInt32LE(0) % dims] += 1;
  }
  if (!v.some((x) => x !== 0)) v[0] = 1;
  return v;
}

/** `models`: name → vector size; `apiKey`: the one key accepted (null: no auth). */
export async function startOpenAiCompatibleServer(options: {
  models: Record<string, number>;
  apiKey: string | null;
}): Promise<OpenAiCompatibleServer> {
  const calls: EmbeddingsCall[] = [];
  let rateLimited = 0;
  let retryAfter = "0";
  let hanging = 0;
  const hung: ServerResponse[] = [];
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    if (req.method !== "POST" || req.url !== "/v1/embeddings") {
      return json(res, 404, {
        error: { message: `no route ${req.method} ${req.url}`, type: "invalid_request_error" },
      });
    }
    if (hanging > 0) {
      hanging--;
      hung.push(res);
      return;
    }
    if (rateLimited > 0) {
      rateLimited--;
      return json(
        res,
        429,
        { error: { message: "Rate limit reached", type: "rate_limit_error" } },
        { "retry-after": retryAfter },
      );
    }
    const authorization = req.headers.authorization ?? null;
    if (options.apiKey !== null && authorization !== `Bearer ${options.apiKey}`) {
      return json(res, 401, {
        error: { message: "Incorrect API key provided.", type: "invalid_request_error" },
      });
    }
    const body = JSON.parse(raw) as { model: string; input: string | string[] };
    const inputs = typeof body.input === "string" ? [body.input] : body.input;
    calls.push({ model: body.model, inputs, authorization });
    const dims = options.models[body.model];
    if (dims === undefined) {
      return json(res, 404, {
        error: { message: `model "${body.model}" not found`, type: "invalid_request_error" },
      });
    }
    json(res, 200, {
      object: "list",
      data: inputs.map((text, index) => ({
        object: "embedding",
        index,
        embedding: bagOfWordsVector(body.model, text, dims),
      })),
      model: body.model,
      usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    calls,
    rateLimitNext(n, after = "0") {
      rateLimited = n;
      retryAfter = after;
    },
    hangNext(n) {
      hanging = n;
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
