import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "./password.ts";

describe("password hashing (scrypt)", () => {
  it("stores the parameters and a salt per hash: one password hashes differently twice, and both verify", async () => {
    const a = await hashPassword("correct horse battery");
    const b = await hashPassword("correct horse battery");
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse battery", a)).toBe(true);
    expect(await verifyPassword("correct horse battery", b)).toBe(true);
  });

  it("refuses a wrong password, a missing hash (no such user) and a malformed one", async () => {
    const h = await hashPassword("correct horse battery");
    expect(await verifyPassword("correct horse batterz", h)).toBe(false);
    expect(await verifyPassword("correct horse battery", null)).toBe(false);
    expect(await verifyPassword("correct horse battery", "scrypt$1$2$3$abc$def")).toBe(false);
    expect(await verifyPassword("correct horse battery", h.slice(0, -2))).toBe(false);
  });

  it("compares Unicode passwords after NFKC normalisation (one typed password, however composed)", async () => {
    const h = await hashPassword("caf\u00e9 au lait!!");
    expect(await verifyPassword("cafe\u0301 au lait!!", h)).toBe(true);
  });
});
