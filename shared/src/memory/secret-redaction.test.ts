import { describe, expect, it } from "vitest";
import { redactSecrets } from "./secret-redaction.ts";

// Fixtures are assembled at run time so secret scanners do not flag this file.
const j = (...parts: string[]) => parts.join("");
const AWS_ID = j("AKIA", "IOSFODNN7", "EXAMPLE");
const AWS_SECRET = j("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY");
const GHP = j("ghp_", "16C7e42F292c6912E7710c838347Ae178B4a");
const GHO = j("gho_", "16C7e42F292c6912E7710c838347Ae178B4a");
const GH_PAT = j("github_pat_", "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU");
const OPENAI = j("sk-", "proj-", "Ab3dEf5hIj7lMn9pQr1tUv3xYz5AbCdEf");
const OPENAI_LEGACY = j("sk-", "T3BlbkFJ", "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8");
const ANTHROPIC = j("sk-ant-", "api03-", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-_AbCdEf");
const SLACK = j("xoxb-", "1234567890-", "0987654321-", "AbCdEfGhIjKlMnOpQrStUvWx");
const GOOGLE = j("AIza", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY");
const STRIPE = j("sk_", "live_", "4eC39HqLyjWDarjtT1zdp7dc");
const JWT = j(
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
  ".",
  "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0",
  ".",
  "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
);
const TM = j("tm_", "live_", "Qm9vZ2llV29vZ2llQm9vZ2llV29vZ2ll");
const PEM = j(
  "-----BEGIN RSA PRIVATE KEY-----\n",
  "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi..Z1BjP5CE/Wm/Rr500P\n",
  "RK+Lh9x5eJPo5CAZ3/ANBE0sTK0ZsDGMak2m1g7s0mgmo3T+S2G4U8Y8F0s\n",
  "-----END RSA PRIVATE KEY-----",
);

describe("redactSecrets: finds", () => {
  const cases: [string, string, string][] = [
    ["aws_access_key", `export AWS_ACCESS_KEY_ID=${AWS_ID}`, AWS_ID],
    ["aws_secret_key", `aws_secret_access_key = ${AWS_SECRET}`, AWS_SECRET],
    ["github_token", `git clone https://github.com/o/r with token ${GHP}`, GHP],
    ["github_token", `oauth ${GHO} expires soon`, GHO],
    ["github_token", `use ${GH_PAT} for CI`, GH_PAT],
    ["openai_key", `OPENAI key is ${OPENAI}`, OPENAI],
    ["openai_key", `old key ${OPENAI_LEGACY}`, OPENAI_LEGACY],
    ["anthropic_key", `claude key ${ANTHROPIC} in .env`, ANTHROPIC],
    ["slack_token", `bot token ${SLACK}`, SLACK],
    ["google_api_key", `maps key=${GOOGLE}`, GOOGLE],
    ["stripe_key", `stripe ${STRIPE}`, STRIPE],
    ["jwt", `session cookie ${JWT}`, JWT],
    ["tribalmemory_key", `relay key ${TM}`, TM],
    ["private_key", `deploy key:\n${PEM}\nend`, "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi"],
    ["url_password", "DATABASE_URL=postgres://app:Xk8s9Qp2w@db.internal:5432/prod", "Xk8s9Qp2w"],
    [
      "bearer_token",
      "curl -H 'Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0'",
      "9f8e7d6c5b4a39281706",
    ],
    ["password", "mysql -u root password=hunter2 --host db", "hunter2"],
    ["password", 'config: {"api_key": "a1b2c3d4e5"}', "a1b2c3d4e5"],
    ["password", "DB_PASSWORD: S3cr3t!pass", "S3cr3t!pass"],
    ["password", "client_secret = 'abcdefghijklmnop'", "abcdefghijklmnop"],
  ];
  for (const [kind, text, secret] of cases) {
    it(`${kind} in "${text.slice(0, 40).replace(/\n/g, " ")}…"`, () => {
      const r = redactSecrets(text);
      expect(r.text).not.toContain(secret);
      expect(r.text).toContain(`[REDACTED:${kind}]`);
      expect(r.redacted).toEqual([{ kind, count: 1 }]);
    });
  }

  it("keeps the name of an assigned credential and the user of a URL", () => {
    expect(redactSecrets("password=hunter2").text).toBe("password=[REDACTED:password]");
    expect(redactSecrets("https://deploy:Zq7wPl2x@git.example.com/repo.git").text).toBe(
      "https://deploy:[REDACTED:url_password]@git.example.com/repo.git",
    );
  });

  it("counts several secrets of several kinds and reports each kind once", () => {
    const r = redactSecrets(`${AWS_ID} and ${AWS_ID.replace("EXAMPLE", "EXAMPL2")} plus ${GHP}`);
    expect(r.redacted).toEqual([
      { kind: "aws_access_key", count: 2 },
      { kind: "github_token", count: 1 },
    ]);
  });

  it("reports an assignment holding a vendor key as the vendor's kind, once", () => {
    const r = redactSecrets(`OPENAI_API_KEY=${OPENAI}`);
    expect(r.text).toBe("OPENAI_API_KEY=[REDACTED:openai_key]");
    expect(r.redacted).toEqual([{ kind: "openai_key", count: 1 }]);
  });

  it("redacts an unterminated private key block to the end", () => {
    const r = redactSecrets(`key follows ${PEM.split("-----END")[0]}`);
    expect(r.text).toBe("key follows [REDACTED:private_key]");
  });

  it("is idempotent: redacted text stays as it is", () => {
    const once = redactSecrets(`password=hunter2 ${GHP} Bearer ${JWT}`).text;
    expect(redactSecrets(once)).toEqual({ text: once, redacted: [] });
  });
});

describe("redactSecrets: leaves alone", () => {
  const negatives = [
    "We decided to use pnpm workspaces; the deploy runs every Tuesday at 9am.",
    "Memory id 01890a5d-ac96-774b-bcce-b302099a8057 was superseded by 3f2504e0-4f89-11d3-9a0c-0305e82c3301.",
    "Fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8 (short 9fceb02).",
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= is the integrity hash of the tarball.",
    "Checksum c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2 matches.",
    "Password: reset it every ninety days via the portal.",
    "The password policy requires twelve characters; the token bucket refills at 10/s.",
    "Set max_token=512 and timeout=30 in the sampler config.",
    "Use scikit-learn, not sk-learn-pipelines-for-text-classification.",
    "The bearer of this note is Alice; Bearer authentication is configured in nginx.",
    "Connect with postgres://localhost:5432/app or git@github.com:org/repo.git.",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a compose variable reference, as written
    "Reference the secret as password=${DB_PASSWORD} in compose, never inline.",
    "api_key: <your key here>",
    "PWD=/home/alice/src OLDPWD=/home/alice",
    "Base64 of the logo: iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
    "AKIA is the prefix of AWS access keys; ghp_ starts GitHub tokens.",
  ];
  for (const text of negatives) {
    it(`"${text.slice(0, 50)}…"`, () => {
      expect(redactSecrets(text)).toEqual({ text, redacted: [] });
    });
  }
});
