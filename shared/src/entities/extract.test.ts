import { describe, expect, it } from "vitest";
import { extractEntities, lookupNames } from "./extract.ts";

const names = (text: string) => extractEntities(text).map((e) => `${e.type}:${e.name}`);

describe("extractEntities", () => {
  it("finds services, scoped packages, paths, URLs and code identifiers, case-folded", () => {
    const found = names(
      "billing-service calls @acme/http-client; see services/billing/src/db.ts and https://billing.acme.dev/health. resolveQuota() reads BILLING_DB_URL and max_connections.",
    );
    // Exactly these, of the kinds the text holds (free-standing `name:` words are another test's).
    expect(found.filter((n) => !n.startsWith("name:")).sort()).toEqual([
      "identifier:billing_db_url",
      "identifier:max_connections",
      "identifier:resolvequota",
      "package:@acme/http-client",
      "path:services/billing/src/db.ts",
      "service:billing-service",
      "url:https://billing.acme.dev/health",
    ]);
  });

  it("finds people with a first-name alias, and places after a place cue", () => {
    const [person, place] = extractEntities("Our lead is Hana Kobayashi; she works from Melbourne now.");
    expect(person).toEqual({ name: "hana kobayashi", type: "person", aliases: ["hana"] });
    expect(place).toEqual({ name: "melbourne", type: "place", aliases: [] });
  });

  it("does not take sentence-initial words, weekdays or common hyphenated words for names", () => {
    expect(names("Yesterday we shipped it. The on-call rotation changes on Tuesdays.")).toEqual([]);
  });

  it("gives a scoped package its bare name as an alias, so either spelling finds it", () => {
    expect(lookupNames(extractEntities("Upgrade @acme/ui-kit"))).toEqual(["@acme/ui-kit", "ui-kit"]);
  });
});
