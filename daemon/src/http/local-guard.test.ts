import { tmpdir } from "node:os";
import { join } from "node:path";
import { refuseMediaType } from "@tribalmemory/shared/http/server-basics";
import { describe, expect, it } from "vitest";
import { checkLocalRequest, type GuardedRequest, type LocalGuardPolicy } from "./local-guard.ts";

const TOKEN = "a".repeat(64);
const policy = (over: Partial<LocalGuardPolicy> = {}): LocalGuardPolicy => ({
  port: () => 18790,
  bindHost: "127.0.0.1",
  allowedHosts: [],
  allowedOrigins: [],
  token: TOKEN,
  tokenPath: join(tmpdir(), "tm-guard-home", "local-token"),
  tokenEverywhere: false,
  ...over,
});
const req = (
  headers: GuardedRequest["headers"],
  method = "GET",
  routeUrl = "/v1/health",
): GuardedRequest => ({
  method,
  routeUrl,
  headers: { host: "127.0.0.1:18790", ...headers },
});
const codeOf = (r: GuardedRequest, p = policy()) => checkLocalRequest(r, p)?.code ?? "ok";

describe("checkLocalRequest", () => {
  it("refuses a missing or malformed Host", () => {
    expect(codeOf({ method: "GET", routeUrl: "/v1/health", headers: {} })).toBe("HOST_NOT_ALLOWED");
    expect(codeOf(req({ host: "a b" }))).toBe("HOST_NOT_ALLOWED");
    expect(codeOf(req({ host: "[::1" }))).toBe("HOST_NOT_ALLOWED");
  });

  it("accepts configured hosts by name, or by name and port when the entry names one", () => {
    const p = policy({ allowedHosts: ["box.lan", "other.lan:9000"] });
    expect(codeOf(req({ host: "box.lan:1234" }), p)).toBe("ok");
    expect(codeOf(req({ host: "other.lan:9000" }), p)).toBe("ok");
    expect(codeOf(req({ host: "other.lan:9001" }), p)).toBe("HOST_NOT_ALLOWED");
    expect(codeOf(req({ host: "evil.box.lan" }), p)).toBe("HOST_NOT_ALLOWED");
  });

  it("accepts the literal address it listens on, never a wildcard", () => {
    expect(codeOf(req({ host: "192.168.1.5:18790" }), policy({ bindHost: "192.168.1.5" }))).toBe("ok");
    expect(codeOf(req({ host: "0.0.0.0:18790" }), policy({ bindHost: "0.0.0.0" }))).toBe("HOST_NOT_ALLOWED");
  });

  it("allows only loopback http origins on its own port, plus configured ones", () => {
    expect(codeOf(req({ origin: "http://127.0.0.1:18790" }))).toBe("ok");
    expect(codeOf(req({ origin: "http://[::1]:18790" }))).toBe("ok");
    expect(codeOf(req({ origin: "https://127.0.0.1:18790" }))).toBe("ORIGIN_NOT_ALLOWED");
    expect(codeOf(req({ origin: "http://127.0.0.1" }))).toBe("ORIGIN_NOT_ALLOWED");
    expect(codeOf(req({ origin: "null" }))).toBe("ORIGIN_NOT_ALLOWED");
    expect(codeOf(req({ origin: "" }))).toBe("ORIGIN_NOT_ALLOWED");
    const p = policy({ allowedOrigins: ["https://console.example/"] });
    expect(codeOf(req({ origin: "https://console.example" }), p)).toBe("ok");
    expect(codeOf(req({ origin: "https://console.example:8443" }), p)).toBe("ORIGIN_NOT_ALLOWED");
  });

  it("refuses cross-site and same-site fetches that carry no Origin", () => {
    expect(codeOf(req({ "sec-fetch-site": "same-site" }))).toBe("ORIGIN_NOT_ALLOWED");
    expect(codeOf(req({ "sec-fetch-site": "none" }))).toBe("ok");
    expect(codeOf(req({ "sec-fetch-site": "same-origin" }))).toBe("ok");
  });

  it("asks for the token on shutdown, export (GET, HEAD, POST) and import only, unless it guards everything", () => {
    for (const [method, url] of [
      ["POST", "/v1/shutdown"],
      ["GET", "/v1/export"],
      ["HEAD", "/v1/export"],
      ["POST", "/v1/export"],
      ["POST", "/v1/import"],
    ]) {
      expect(codeOf(req({}, method, url))).toBe("LOCAL_TOKEN_REQUIRED");
      expect(codeOf(req({ authorization: `bearer ${TOKEN}` }, method, url))).toBe("ok");
      expect(codeOf(req({ "x-tribal-token": TOKEN }, method, url))).toBe("ok");
    }
    expect(codeOf(req({}, "POST", "/v1/remember"))).toBe("ok");
    expect(codeOf(req({}, "GET", undefined as unknown as string))).toBe("ok");
    const everywhere = policy({ tokenEverywhere: true });
    expect(codeOf(req({}, "POST", "/v1/remember"), everywhere)).toBe("LOCAL_TOKEN_REQUIRED");
    expect(codeOf(req({}, "GET", undefined as unknown as string), everywhere)).toBe("LOCAL_TOKEN_REQUIRED");
    expect(codeOf(req({ "x-tribal-token": TOKEN }, "POST", "/v1/remember"), everywhere)).toBe("ok");
  });

  it("checks Host before Origin before the token", () => {
    expect(
      codeOf(req({ host: "evil.example", origin: "https://evil.example" }, "POST", "/v1/shutdown")),
    ).toBe("HOST_NOT_ALLOWED");
    expect(codeOf(req({ origin: "https://evil.example" }, "POST", "/v1/shutdown"))).toBe(
      "ORIGIN_NOT_ALLOWED",
    );
  });
});

describe("refuseMediaType", () => {
  it("takes JSON everywhere, JSONL only on import, and no parameter but charset=utf-8", () => {
    const ok = (h: string | undefined, url = "/v1/remember") => refuseMediaType(h, url) === null;
    expect(ok("application/json")).toBe(true);
    expect(ok("Application/JSON; charset=UTF-8")).toBe(true);
    expect(ok("application/json; charset=latin1")).toBe(false);
    expect(ok("application/json; a=ndjson")).toBe(false);
    expect(ok("application/x-ndjson")).toBe(false);
    expect(ok("application/x-ndjson", "/v1/import")).toBe(true);
    expect(ok("application/jsonl; charset=utf-8", "/v1/import")).toBe(true);
    expect(ok("text/plain; a=ndjson", "/v1/import")).toBe(false);
    expect(ok(undefined)).toBe(false);
  });
});
