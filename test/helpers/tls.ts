import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * A self-signed certificate made at run time with the machine's openssl (P-256, one day,
 * valid for 127.0.0.1 and localhost): `cert.pem` and `key.pem` in `dir`.
 */
export function makeSelfSignedCertificate(dir: string): { certPath: string; keyPath: string } {
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { certPath, keyPath };
}
