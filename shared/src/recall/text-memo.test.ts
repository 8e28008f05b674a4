import { describe, expect, it } from "vitest";
import { memoByText } from "./text-memo.ts";

describe("memoByText", () => {
  it("derives each text once while it is kept, and forgets the oldest past its capacity", () => {
    const seen: string[] = [];
    const upper = memoByText((t) => {
      seen.push(t);
      return t.toUpperCase();
    }, 2);
    expect(upper("a")).toBe("A");
    expect(upper("b")).toBe("B");
    expect(upper("a")).toBe("A");
    expect(seen).toEqual(["a", "b"]);
    expect(upper("c")).toBe("C"); // "a" is the oldest: it goes
    expect(upper("b")).toBe("B");
    expect(upper("a")).toBe("A");
    expect(seen).toEqual(["a", "b", "c", "a"]);
  });
});
