/** The `embedding:` config for the openai provider and the errors that say what to set. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadDaemonConfig } from "@tribalmemory/shared/config/config";
import { chooseEmbedder } from "@tribalmemory/shared/embed/select-embedder";
import { TribalError } from "@tribalmemory/shared/errors";
import { afterAll, describe, expect, it } from "vitest";
import { tempHome } from "../helpers/daemon.ts";

const { home, cleanup } = tempHome("tm-embed-config-");
afterAll(cleanup);

function withFile(name: string, yaml: string, env: Record<string, string> = {}) {
  const configPath = join(home, name);
  writeFileSync(configPath, yaml);
  return loadDaemonConfig({ configPath }, { TRIBAL_MEMORY_HOME: home, ...env });
}

async function rejection(p: Promise<unknown> | undefined): Promise<TribalError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TribalError) return err;
    throw err;
  }
  throw new Error("expected a TribalError");
}

describe("embedding config", () => {
  it("maps base_url, model, dimensions, batch_size and timeout; the key comes from the environment only", () => {
    const yaml = `embedding:
  provider: openai
  base_url: http://127.0.0.1:11434/v1
  model: nomic-embed-text
  dimensions: 256
  batch_size: 16
  timeout: 2.5
  query_prefix: "search_query: "
  passage_prefix: "search_document: "
`;
    const c = withFile("openai.yaml", yaml, { OPENAI_API_KEY: "sk-openai" });
    expect(c.embedding.provider).toBe("openai");
    expect(c.embedding.openai).toEqual({
      baseUrl: "http://127.0.0.1:11434/v1",
      model: "nomic-embed-text",
      apiKey: "sk-openai",
      dimensions: 256,
      batchSize: 16,
      timeoutMs: 2500,
      queryPrefix: "search_query: ",
      passagePrefix: "search_document: ",
    });
    const both = withFile("openai.yaml", yaml, {
      OPENAI_API_KEY: "sk-openai",
      TRIBAL_MEMORY_EMBEDDING_API_KEY: "sk-tribal",
      TRIBAL_MEMORY_EMBEDDING_MODEL: "mxbai-embed-large",
    });
    expect(both.embedding.openai).toMatchObject({ apiKey: "sk-tribal", model: "mxbai-embed-large" });
    expect(chooseEmbedder(both)?.describe).toBe(
      "mxbai-embed-large via http://127.0.0.1:11434/v1 (OpenAI-compatible)",
    );
  });

  it("an api_key in the file, or a base_url that is not a URL, is CONFIG_INVALID", () => {
    for (const bad of ["  base_url: localhost:11434\n", "  api_key: sk-in-the-file\n"]) {
      let err: unknown;
      try {
        withFile("bad.yaml", `embedding:\n  provider: openai\n  model: m\n${bad}`);
      } catch (e) {
        err = e;
      }
      expect((err as TribalError).code).toBe("CONFIG_INVALID");
    }
  });

  it("a misspelt TRIBAL_MEMORY_EMBEDDING is CONFIG_INVALID, not a silent fall back to the offline model", () => {
    let err: unknown;
    try {
      loadDaemonConfig({}, { TRIBAL_MEMORY_HOME: home, TRIBAL_MEMORY_EMBEDDING: "opneai" });
    } catch (e) {
      err = e;
    }
    expect((err as TribalError).code).toBe("CONFIG_INVALID");
    expect((err as TribalError).message).toContain("openai");
  });

  it("openai without base_url and model fails to load with CONFIG_INVALID naming both keys", async () => {
    const c = withFile("empty.yaml", "embedding:\n  provider: openai\n");
    const err = await rejection(chooseEmbedder(c)?.load());
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message).toContain("embedding.base_url and embedding.model");
  });

  it("bge-small-en-v1.5 asked for without its weights says to run models pull", async () => {
    const c = withFile("bge.yaml", "embedding:\n  provider: bge-small-en-v1.5\n");
    const err = await rejection(chooseEmbedder(c)?.load());
    expect(err.code).toBe("MODEL_FILE_MISSING");
    expect(err.message).toContain("tribalmemory models pull bge-small-en-v1.5");
  });
});
