/**
 * Deterministic generator of the labelled recall evaluation set (see README.md beside it).
 *
 *   node test/eval/generate-dataset.ts            # writes test/eval/data/{memories,queries}.jsonl
 *   node test/eval/generate-dataset.ts --check    # fails if the committed files differ
 *
 * A fictional company ("acme") with people, teams, services and packages. Memories are written
 * the way coding agents store them; every memory that states a fact registers a fact key, and
 * queries take their relevant ids from those keys, so labels follow the text by construction.
 * Ids are UUIDv7 built from created_at and a hash of a stable key: editing one section does
 * not renumber the others, and every id is a valid TribalMemory id.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_DATA_DIR,
  type EvalMemory,
  type EvalQuery,
  QUERY_CATEGORIES,
  type QueryCategory,
  sharedContentWords,
} from "./dataset.ts";

export const DEFAULT_SEED = 20250630;
/** The "now" of the data set: a Monday. Memories span the 180 days before it. */
export const REFERENCE_DATE = "2025-06-30T17:00:00.000Z";
const REF = Date.parse(REFERENCE_DATE);
const DAY = 86_400_000;
const START = REF - 180 * DAY;

/** Minimum queries per category; the generator fails below it. */
export const MIN_PER_CATEGORY = 50;
const TARGET: Record<QueryCategory, number> = {
  "single-fact": 100,
  "multi-hop": 70,
  temporal: 72,
  corrected: 70,
  paraphrase: 80,
  "no-answer": 60,
};

// ---------------------------------------------------------------- randomness

function hash32(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32LE(0);
}

export class Rng {
  private state: number;
  readonly seed: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.state = this.seed || 1;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  shuffle<T>(xs: readonly T[]): T[] {
    const a = xs.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  sample<T>(xs: readonly T[], n: number): T[] {
    return this.shuffle(xs).slice(0, n);
  }

  /** An independent stream per section, so one section's draws never shift another's. */
  fork(label: string): Rng {
    return new Rng(hash32(`${this.seed}:${label}`));
  }
}

// ---------------------------------------------------------------- dates

const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function dayStart(ms: number): number {
  return Math.floor(ms / DAY) * DAY;
}

/** Monday 00:00 UTC of the ISO week holding `ms`. */
function weekStart(ms: number): number {
  const d = dayStart(ms);
  const dow = new Date(d).getUTCDay();
  return d - ((dow + 6) % 7) * DAY;
}

function monthStart(ms: number, offset = 0): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1);
}

function monthDay(ms: number): string {
  const d = new Date(ms);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`;
}

function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** A working-hours moment on a weekday near `ms` (weekends move to the Monday after). */
function atWork(rng: Rng, ms: number): number {
  let d = dayStart(ms);
  const dow = new Date(d).getUTCDay();
  if (dow === 6) d += 2 * DAY;
  if (dow === 0) d += DAY;
  return d + (7 * 60 + rng.int(0, 11 * 60)) * 60_000 + rng.int(0, 59) * 1000;
}

function randomTime(rng: Rng, from = START, to = REF - DAY): number {
  const t = atWork(rng, from + rng.next() * (to - from));
  return Math.min(Math.max(t, START), REF - 60_000);
}

// ---------------------------------------------------------------- corpus

interface Draft {
  key: string;
  content: string;
  tags: string[];
  sourceType?: string;
  instance: string;
  at: number;
  supersedes?: string;
  /** Fact keys this memory states; queries take relevant ids from them. */
  facts?: string[];
}

function uuidV7For(key: string, ms: number): string {
  const bytes = createHash("sha256").update(`tribal-eval:${key}`).digest().subarray(0, 16);
  const t = BigInt(ms);
  for (let i = 0; i < 6; i++) bytes[i] = Number((t >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = bytes.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

class Corpus {
  readonly memories: EvalMemory[] = [];
  readonly facts = new Map<string, string[]>();
  private readonly keys = new Set<string>();

  add(d: Draft): EvalMemory {
    if (this.keys.has(d.key)) throw new Error(`duplicate memory key ${d.key}`);
    if (!(d.at >= START && d.at < REF))
      throw new Error(`${d.key}: created_at ${new Date(d.at).toISOString()} out of range`);
    this.keys.add(d.key);
    const m: EvalMemory = {
      id: uuidV7For(d.key, d.at),
      content: d.content.replace(/\s+\n/g, "\n").trim(),
      tags: [...new Set(d.tags.map((t) => t.toLowerCase()))],
      source_type: d.sourceType ?? "auto_capture",
      source_instance: d.instance,
      created_at: new Date(d.at).toISOString(),
      ...(d.supersedes ? { supersedes: d.supersedes } : {}),
    };
    this.memories.push(m);
    for (const f of d.facts ?? []) this.facts.set(f, [...(this.facts.get(f) ?? []), m.id]);
    return m;
  }

  fact(key: string): string[] {
    return this.facts.get(key) ?? [];
  }
}

// ---------------------------------------------------------------- the world

interface City {
  name: string;
  tz: string;
  /** Names the city without its name, for paraphrase queries. */
  desc: string;
}

const CITIES: City[] = [
  { name: "Lisbon", tz: "UTC+0", desc: "Portugal's capital" },
  { name: "Berlin", tz: "UTC+1", desc: "the German capital" },
  { name: "Toronto", tz: "UTC-5", desc: "Ontario's biggest metropolis" },
  { name: "Bangalore", tz: "UTC+5:30", desc: "Karnataka's tech hub" },
  { name: "Nairobi", tz: "UTC+3", desc: "Kenya's capital" },
  { name: "Seoul", tz: "UTC+9", desc: "South Korea's capital" },
  { name: "Warsaw", tz: "UTC+1", desc: "Poland's capital" },
  { name: "Austin", tz: "UTC-6", desc: "the Texan state capital" },
  { name: "Dublin", tz: "UTC+0", desc: "Ireland's capital" },
  { name: "Melbourne", tz: "UTC+10", desc: "Victoria's largest metropolis" },
  { name: "Singapore", tz: "UTC+8", desc: "the city-state at the tip of the Malay peninsula" },
  { name: "Montreal", tz: "UTC-5", desc: "Quebec's largest metropolis" },
  { name: "Stockholm", tz: "UTC+1", desc: "Sweden's capital" },
  { name: "Madrid", tz: "UTC+1", desc: "Spain's capital" },
  { name: "Lagos", tz: "UTC+1", desc: "Nigeria's largest metropolis" },
  { name: "Guadalajara", tz: "UTC-6", desc: "Jalisco's capital" },
  { name: "Buenos Aires", tz: "UTC-3", desc: "Argentina's capital" },
  { name: "Tokyo", tz: "UTC+9", desc: "Japan's capital" },
  { name: "Amsterdam", tz: "UTC+1", desc: "the Dutch capital" },
  { name: "Cape Town", tz: "UTC+2", desc: "the South African coastal metropolis beneath Table Mountain" },
  { name: "Istanbul", tz: "UTC+3", desc: "Turkey's largest metropolis" },
  { name: "Seattle", tz: "UTC-8", desc: "the Emerald City in Washington state" },
  { name: "Denver", tz: "UTC-7", desc: "Colorado's capital" },
  { name: "Edinburgh", tz: "UTC+0", desc: "Scotland's capital" },
  { name: "Oslo", tz: "UTC+1", desc: "Norway's capital" },
  { name: "Prague", tz: "UTC+1", desc: "the Czech capital" },
  { name: "Vancouver", tz: "UTC-8", desc: "British Columbia's largest metropolis" },
  { name: "Manila", tz: "UTC+8", desc: "the Philippine capital" },
  { name: "Cairo", tz: "UTC+2", desc: "Egypt's capital" },
  { name: "Helsinki", tz: "UTC+2", desc: "Finland's capital" },
  { name: "Athens", tz: "UTC+2", desc: "Greece's capital" },
  { name: "Vienna", tz: "UTC+1", desc: "Austria's capital" },
  { name: "Hanoi", tz: "UTC+7", desc: "Vietnam's capital" },
  { name: "Accra", tz: "UTC+0", desc: "Ghana's capital" },
  { name: "Lima", tz: "UTC-5", desc: "Peru's capital" },
  { name: "Bogotá", tz: "UTC-5", desc: "Colombia's capital" },
  { name: "Copenhagen", tz: "UTC+1", desc: "Denmark's capital" },
  { name: "Brussels", tz: "UTC+1", desc: "Belgium's capital" },
];

interface Team {
  name: string;
  /** Names the team without its name, for paraphrase queries. */
  desc: string;
  channel: string;
}

const TEAMS: Team[] = [
  { name: "payments", desc: "money-movement group", channel: "#team-payments" },
  { name: "checkout", desc: "purchase funnel crew", channel: "#team-checkout" },
  { name: "identity", desc: "login and accounts group", channel: "#team-identity" },
  { name: "search", desc: "discovery crew", channel: "#team-search" },
  { name: "notifications", desc: "messaging crew", channel: "#team-notifications" },
  { name: "data", desc: "analytics engineering group", channel: "#team-data" },
  { name: "platform", desc: "shared backend foundations group", channel: "#team-platform" },
  { name: "infra", desc: "cloud operations crew", channel: "#team-infra" },
  { name: "mobile", desc: "iOS and Android crew", channel: "#team-mobile" },
  { name: "growth", desc: "acquisition and activation crew", channel: "#team-growth" },
  { name: "security", desc: "appsec crew", channel: "#team-security" },
  { name: "devex", desc: "developer productivity group", channel: "#team-devex" },
  { name: "support", desc: "customer care tooling crew", channel: "#team-support" },
];

const PEOPLE_NAMES = [
  "Alice Nguyen",
  "Bruno Costa",
  "Chen Wei",
  "Dana Okafor",
  "Elif Demir",
  "Farah Haddad",
  "Gabriel Silva",
  "Hana Kobayashi",
  "Ivan Petrov",
  "Jonas Becker",
  "Kavya Iyer",
  "Liam O'Brien",
  "Maya Goldberg",
  "Nikhil Rao",
  "Olga Novak",
  "Priya Raman",
  "Quentin Dubois",
  "Rosa Martinez",
  "Sven Lindqvist",
  "Tariq Aziz",
  "Uma Krishnan",
  "Victor Alves",
  "Wen Zhao",
  "Ximena Ruiz",
  "Yusuf Kaya",
  "Zoe Fischer",
  "Amara Mensah",
  "Ben Carter",
  "Carmen Vega",
  "Diego Morales",
  "Emma Larsen",
  "Felix Wagner",
  "Grace Kim",
  "Hugo Laurent",
  "Isla Murray",
  "Jamal Wright",
  "Keiko Sato",
  "Lucas Moreau",
  "Mei Lin",
  "Noah Schmidt",
  "Omar Farouk",
  "Paula Rossi",
  "Rafael Mendes",
  "Sara Johansson",
  "Tomás Herrera",
  "Ines Ferreira",
  "Kofi Boateng",
  "Leila Karimi",
  "Marta Kowalska",
  "Nadia Petrenko",
  "Arjun Mehta",
  "Beatriz Lopes",
];

const ROLES = [
  "backend engineer",
  "senior backend engineer",
  "staff engineer",
  "SRE",
  "frontend engineer",
  "data engineer",
  "security engineer",
  "mobile engineer",
  "product engineer",
];
const COMPANIES = [
  "Shopify",
  "Spotify",
  "a fintech startup",
  "Atlassian",
  "a consultancy",
  "Booking.com",
  "Zalando",
  "Mercado Libre",
  "Klarna",
  "a gaming studio",
  "Monzo",
  "Datadog",
  "GitLab",
  "a hospital IT department",
];

interface Person {
  name: string;
  first: string;
  handle: string;
  team: string;
  role: string;
  city: City;
  instance: string;
}

interface Service {
  name: string;
  team: string;
  /** Names the service without its words, for paraphrase queries. */
  desc: string;
  lang: string;
  db: string;
  oldDb: string;
  port: number;
  queue: string;
  topic: string;
}

const SERVICE_DEFS: Array<[string, string, string]> = [
  ["billing-service", "payments", "system that invoices subscribers every month"],
  ["ledger-api", "payments", "bookkeeping backend recording each money movement"],
  ["payout-worker", "payments", "job that sends earnings to sellers"],
  ["refund-processor", "payments", "component handing customers their money back"],
  ["tax-calculator", "payments", "component computing VAT and sales levies"],
  ["cart-service", "checkout", "shopping basket backend"],
  ["checkout-api", "checkout", "purchase flow backend"],
  ["pricing-engine", "checkout", "component deciding what products cost"],
  ["promo-codes", "checkout", "discount voucher backend"],
  ["auth-gateway", "identity", "login front door"],
  ["session-store", "identity", "place where logged-in state is kept"],
  ["user-profile-api", "identity", "backend holding account details like names and avatars"],
  ["sso-bridge", "identity", "single sign-on integration with corporate identity providers"],
  ["search-indexer", "search", "job that catalogs documents for lookup"],
  ["query-router", "search", "component dispatching lookups to shards"],
  ["autocomplete-api", "search", "type-ahead suggestion backend"],
  ["ranking-model-server", "search", "ML scorer ordering results"],
  ["email-dispatcher", "notifications", "outbound mail sender"],
  ["push-notifier", "notifications", "mobile alert sender"],
  ["sms-relay", "notifications", "text message gateway"],
  ["notification-prefs", "notifications", "backend where users choose which alerts they receive"],
  ["event-pipeline", "data", "clickstream ingestion flow"],
  ["warehouse-loader", "data", "nightly ETL into the analytics store"],
  ["metrics-aggregator", "data", "rollup job for business KPIs"],
  ["feature-store", "data", "repository of ML training attributes"],
  ["api-gateway", "platform", "public edge proxy in front of every backend"],
  ["config-service", "platform", "central settings backend"],
  ["feature-flags", "platform", "toggle system for gradual rollouts"],
  ["job-scheduler", "platform", "cron-like background task runner"],
  ["rate-limiter", "platform", "throttling component"],
  ["deploy-bot", "infra", "chatops release automation"],
  ["log-shipper", "infra", "agent forwarding container output to storage"],
  ["secrets-vault", "infra", "credential store"],
  ["dns-updater", "infra", "component syncing hostname records"],
  ["artifact-cache", "infra", "mirror for compiled build outputs"],
  ["mobile-bff", "mobile", "backend-for-frontend serving the phone apps"],
  ["app-release-bot", "mobile", "automation shipping binaries to Apple and Google marketplaces"],
  ["crash-reporter", "mobile", "component collecting fatal errors from phones"],
  ["referral-service", "growth", "invite-a-friend rewards backend"],
  ["experiment-tracker", "growth", "A/B testing bookkeeping"],
  ["onboarding-flow", "growth", "first-run signup wizard"],
  ["audit-trail", "security", "tamper-evident record of admin actions"],
  ["vuln-scanner", "security", "dependency CVE checker"],
  ["access-reviewer", "security", "quarterly permission recertification tool"],
  ["ci-runner-pool", "devex", "fleet of build machines"],
  ["docs-site", "devex", "internal handbook website"],
  ["lint-bot", "devex", "automated code style reviewer"],
  ["devbox-provisioner", "devex", "tool creating cloud development environments"],
  ["ticket-router", "support", "helpdesk triage backend"],
  ["support-console", "support", "agent-facing customer lookup UI"],
];

const DATABASES = [
  "Postgres",
  "MySQL",
  "MongoDB",
  "DynamoDB",
  "Cassandra",
  "CockroachDB",
  "ClickHouse",
  "Elasticsearch",
  "SQLite",
  "Spanner",
  "Redis",
];
const LANGS = ["Go", "TypeScript", "Python", "Rust", "Kotlin", "Java", "Elixir", "Ruby", "Scala"];
const QUEUES = ["Kafka", "RabbitMQ", "SQS", "NATS", "Google Pub/Sub", "Kinesis", "Redis Streams"];
const CI_SYSTEMS = ["Jenkins", "GitHub Actions", "Buildkite", "CircleCI", "GitLab CI"];
const OBSERVABILITY = ["Grafana", "Datadog", "Honeycomb", "Sentry", "New Relic", "Jaeger"];
const SOURCE_ROOT: Record<string, (s: string) => [string, string]> = {
  Go: (s) => [`services/${s}/`, `services/${s}/cmd/${s}/main.go`],
  TypeScript: (s) => [`services/${s}/`, `services/${s}/src/server.ts`],
  Python: (s) => [`services/${s}/`, `services/${s}/${s.replace(/-/g, "_")}/app.py`],
  Rust: (s) => [`services/${s}/`, `services/${s}/src/main.rs`],
  Kotlin: (s) => [`services/${s}/`, `services/${s}/src/main/kotlin/Application.kt`],
  Java: (s) => [`services/${s}/`, `services/${s}/src/main/java/com/acme/Application.java`],
  Elixir: (s) => [`apps/${s.replace(/-/g, "_")}/`, `apps/${s.replace(/-/g, "_")}/lib/application.ex`],
  Ruby: (s) => [`apps/${s}/`, `apps/${s}/config.ru`],
  Scala: (s) => [`services/${s}/`, `services/${s}/src/main/scala/Main.scala`],
};
const EXT: Record<string, string> = {
  Go: "go",
  TypeScript: "ts",
  Python: "py",
  Rust: "rs",
  Kotlin: "kt",
  Java: "java",
  Elixir: "ex",
  Ruby: "rb",
  Scala: "scala",
};

interface Pkg {
  name: string;
  /** What the memory says the package does (uses `ident`). */
  purpose: string;
  /** The same thing in other words, for paraphrase queries. */
  desc: string;
  ident: string;
}

const PACKAGES: Pkg[] = [
  {
    name: "@acme/http-client",
    ident: "createHttpClient",
    purpose:
      "is our thin wrapper around undici; createHttpClient() adds tracing headers and keep-alive pooling",
    desc: "makes outbound web calls with propagated trace context",
  },
  {
    name: "@acme/logger",
    ident: "createLogger",
    purpose: "is the pino preset; createLogger() redacts tokens and emails before anything is written",
    desc: "scrubs secrets from structured output lines",
  },
  {
    name: "@acme/config-loader",
    ident: "loadConfig",
    purpose: "reads YAML plus environment overrides; loadConfig() validates the result with zod",
    desc: "merges settings files with env vars and checks them against a schema",
  },
  {
    name: "@acme/ui-kit",
    ident: "Button",
    purpose: "is the React component library; Button, Modal and DataTable come from there",
    desc: "holds reusable front-end widgets",
  },
  {
    name: "@acme/flags-sdk",
    ident: "isEnabled",
    purpose:
      "is the client for feature-flags; isEnabled(flag, ctx) evaluates locally from a streamed snapshot",
    desc: "evaluates rollout toggles in-process",
  },
  {
    name: "@acme/money",
    ident: "Money.fromCents",
    purpose: "does integer-cents currency math; Money.fromCents() avoids float rounding",
    desc: "handles monetary arithmetic without floating point errors",
  },
  {
    name: "@acme/auth-middleware",
    ident: "requireAuth",
    purpose: "verifies JWTs; requireAuth(scope) is the Fastify hook every route uses",
    desc: "checks bearer tokens on incoming HTTP routes",
  },
  {
    name: "@acme/retry",
    ident: "withRetry",
    purpose: "exposes withRetry(fn, opts), which wraps a call in exponential backoff with jitter",
    desc: "re-attempts failed operations with growing delays",
  },
  {
    name: "@acme/test-fixtures",
    ident: "buildUser",
    purpose: "has factories like buildUser() and buildOrder() for tests",
    desc: "generates fake records for specs",
  },
  {
    name: "@acme/event-schemas",
    ident: "OrderPlacedV2",
    purpose: "contains the Avro schemas for Kafka topics, e.g. OrderPlacedV2",
    desc: "defines message contracts for the streaming bus",
  },
  {
    name: "@acme/date-utils",
    ident: "startOfBusinessDay",
    purpose: "has timezone-safe helpers such as startOfBusinessDay(tz)",
    desc: "does calendar math that respects time zones",
  },
  {
    name: "@acme/db-migrate",
    ident: "runMigrations",
    purpose: "is the migration runner; runMigrations() takes an advisory lock first",
    desc: "applies SQL schema changes one deploy at a time",
  },
  {
    name: "@acme/tracing",
    ident: "initTracing",
    purpose: "sets up OpenTelemetry; call initTracing() before importing anything else",
    desc: "bootstraps distributed spans and exporters",
  },
  {
    name: "@acme/queue-consumer",
    ident: "createConsumer",
    purpose: "wraps Kafka consumers; createConsumer() handles dead-letter topics and backpressure",
    desc: "reads streamed messages with a poison-message parking lot",
  },
  {
    name: "@acme/pdf-render",
    ident: "renderInvoicePdf",
    purpose: "renders invoices; renderInvoicePdf() uses headless Chromium under the hood",
    desc: "turns billing documents into printable files",
  },
  {
    name: "@acme/cache",
    ident: "cached",
    purpose: "provides cached(key, ttl, fn), a read-through Redis helper with stampede protection",
    desc: "memoizes expensive lookups in a shared store",
  },
  {
    name: "@acme/validation",
    ident: "parseOrThrow",
    purpose: "holds shared zod schemas; parseOrThrow() turns failures into 422 errors",
    desc: "checks request payload shapes",
  },
  {
    name: "@acme/i18n",
    ident: "translate",
    purpose: "loads translation bundles; translate(key, vars) falls back to English",
    desc: "localizes product text for other languages",
  },
  {
    name: "@acme/grpc-kit",
    ident: "createChannel",
    purpose: "wraps grpc-js; createChannel() sets deadlines and retries from service config",
    desc: "opens remote procedure call connections with timeouts",
  },
  {
    name: "@acme/feature-metrics",
    ident: "recordExposure",
    purpose: "sends experiment exposure events; recordExposure() batches them every 5 seconds",
    desc: "reports which variant a user saw",
  },
];

const VERBS = [
  "get",
  "create",
  "update",
  "sync",
  "reconcile",
  "validate",
  "apply",
  "compute",
  "fetch",
  "publish",
  "enqueue",
  "resolve",
  "parse",
  "render",
  "flush",
  "rotate",
  "expire",
  "refresh",
  "merge",
  "build",
];
const NOUNS = [
  "Invoice",
  "Ledger",
  "Payout",
  "Refund",
  "Cart",
  "Session",
  "Token",
  "User",
  "Profile",
  "Order",
  "Price",
  "Coupon",
  "Index",
  "Shard",
  "Query",
  "Email",
  "Template",
  "Event",
  "Batch",
  "Metric",
  "Flag",
  "Job",
  "Quota",
  "Secret",
  "Record",
  "Artifact",
  "Release",
  "Report",
  "Tenant",
  "Webhook",
];
const SUFFIXES = ["", "s", "Entries", "ById", "ForTenant", "Batch", "Async", "Snapshot"];

function identifier(rng: Rng): string {
  return `${rng.pick(VERBS)}${rng.pick(NOUNS)}${rng.pick(SUFFIXES)}`;
}

function snake(s: string): string {
  return s.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

function sourcePath(rng: Rng, svc: Service, ident: string): string {
  const dir = SOURCE_ROOT[svc.lang](svc.name)[0];
  const sub = rng.pick(["internal/", "src/", "lib/", "pkg/", "src/handlers/", "src/jobs/", "src/db/"]);
  const file =
    svc.lang === "Go" ||
    svc.lang === "Python" ||
    svc.lang === "Rust" ||
    svc.lang === "Elixir" ||
    svc.lang === "Ruby"
      ? snake(ident)
      : ident;
  return `${dir}${sub}${file}.${EXT[svc.lang]}`;
}

function testPath(rng: Rng, svc: Service): string {
  const dir = SOURCE_ROOT[svc.lang](svc.name)[0];
  const base = rng.pick([
    "orders",
    "ledger",
    "retry",
    "handlers",
    "migrations",
    "webhooks",
    "auth",
    "cache",
    "pagination",
    "export",
  ]);
  return svc.lang === "TypeScript"
    ? `${dir}test/${base}.test.ts`
    : svc.lang === "Go"
      ? `${dir}internal/${base}/${base}_test.go`
      : `${dir}tests/test_${base}.${EXT[svc.lang]}`;
}

function envName(svc: Service, what: string): string {
  return `${svc.name.replace(/-/g, "_").toUpperCase()}_${what}`;
}

interface World {
  people: Person[];
  services: Service[];
  teams: Team[];
  packages: Pkg[];
  byTeam: Map<string, Person[]>;
}

function buildWorld(rng: Rng): World {
  const cities = rng.shuffle(CITIES);
  const people: Person[] = PEOPLE_NAMES.map((name, i) => {
    const first = name.split(" ")[0];
    const last = name
      .split(" ")
      .slice(1)
      .join("")
      .replace(/[^A-Za-z]/g, "");
    const city = i < cities.length ? cities[i] : cities[rng.int(0, 11)];
    const team = TEAMS[i % TEAMS.length].name;
    const handle = `${first[0]}${last}`
      .toLowerCase()
      .normalize("NFD")
      .replace(/[^a-z]/g, "");
    const tool = rng.pick(["claude-code", "codex", "cursor", "claude-code", "claude-desktop"]);
    return {
      name,
      first,
      handle,
      team,
      role: rng.pick(ROLES),
      city,
      instance: `${tool}@${handle}-${rng.pick(["laptop", "mbp", "desktop", "devbox"])}`,
    };
  });
  const ports = rng.sample(
    Array.from({ length: 1800 }, (_, i) => 8000 + i),
    SERVICE_DEFS.length,
  );
  const services: Service[] = SERVICE_DEFS.map(([name, team, desc], i) => {
    const db = rng.pick(DATABASES);
    let oldDb = rng.pick(DATABASES);
    while (oldDb === db) oldDb = rng.pick(DATABASES);
    const queue = rng.pick(QUEUES);
    const topic = `${name.split("-")[0]}.${rng.pick(["events", "changes", "commands", "outbox", "updates"])}.v${rng.int(1, 3)}`;
    return { name, team, desc, lang: rng.pick(LANGS), db, oldDb, port: ports[i], queue, topic };
  });
  const byTeam = new Map<string, Person[]>();
  for (const p of people) byTeam.set(p.team, [...(byTeam.get(p.team) ?? []), p]);
  return { people, services, teams: TEAMS, packages: PACKAGES, byTeam };
}

// ---------------------------------------------------------------- queries

interface QueryDraft {
  query: string;
  category: QueryCategory;
  relevant: string[];
  ref?: number;
  window?: EvalQuery["window"];
}

class QueryPool {
  readonly byCategory = new Map<QueryCategory, QueryDraft[]>();

  add(q: QueryDraft): void {
    if (q.category !== "no-answer" && q.relevant.length === 0)
      throw new Error(`query without relevant ids: ${q.query}`);
    this.byCategory.set(q.category, [...(this.byCategory.get(q.category) ?? []), q]);
  }
}

/** Queries about one fact key. Skips (returns false) when nothing or too much states it. */
function factQuery(
  corpus: Corpus,
  pool: QueryPool,
  category: QueryCategory,
  keys: string[],
  query: string,
): boolean {
  const relevant: string[] = [];
  for (const k of keys) {
    const ids = corpus.fact(k);
    if (ids.length === 0 || ids.length > 2) return false;
    relevant.push(...ids);
  }
  pool.add({ query, category, relevant: [...new Set(relevant)] });
  return true;
}

function possessive(s: string): string {
  return s.endsWith("s") ? `${s}'` : `${s}'s`;
}

function capitalize(s: string): string {
  return s[0].toUpperCase() + s.slice(1);
}

// ---------------------------------------------------------------- sections

/** What each service's facts are stated by: a plain fact, a paraphrase target, a decision, or nothing. */
interface FactPlan {
  datastore: Map<string, "fact" | "migration" | "para" | "none">;
  lang: Map<string, "fact" | "para" | "none">;
  owner: Map<string, "fact" | "para" | "none">;
  testEnv: Map<string, "fact" | "para" | "none">;
  queue: Map<string, "fact" | "para" | "none">;
  oncall: Map<string, Person>;
  lead: Map<string, Person>;
  dependsOn: Map<string, Service>;
}

function planFacts(rng: Rng, w: World): FactPlan {
  const order = rng.shuffle(w.services);
  const plan: FactPlan = {
    datastore: new Map(),
    lang: new Map(),
    owner: new Map(),
    testEnv: new Map(),
    queue: new Map(),
    oncall: new Map(),
    lead: new Map(),
    dependsOn: new Map(),
  };
  for (const [i, s] of order.entries()) {
    plan.datastore.set(s.name, i < 12 ? "migration" : i < 26 ? "para" : rng.chance(0.85) ? "fact" : "none");
  }
  for (const [i, s] of rng.shuffle(w.services).entries())
    plan.lang.set(s.name, i < 14 ? "para" : rng.chance(0.8) ? "fact" : "none");
  for (const [i, s] of rng.shuffle(w.services).entries())
    plan.owner.set(s.name, i < 14 ? "para" : rng.chance(0.85) ? "fact" : "none");
  for (const [i, s] of rng.shuffle(w.services).entries())
    plan.testEnv.set(s.name, i < 12 ? "para" : rng.chance(0.5) ? "fact" : "none");
  for (const [i, s] of rng.shuffle(w.services).entries())
    plan.queue.set(s.name, i < 8 ? "para" : rng.chance(0.45) ? "fact" : "none");
  // Each person links to at most one service (on-call or lead), so "the service X is on call
  // for" names exactly one service.
  const free = rng.shuffle(w.people);
  for (const s of rng.shuffle(w.services)) {
    const teamFirst = free.findIndex((p) => p.team === s.team);
    const idx = Math.max(teamFirst, 0);
    if (free.length === 0) break;
    const p = free.splice(idx, 1)[0];
    if (plan.oncall.size < 28 && (rng.chance(0.55) || plan.lead.size >= 22)) plan.oncall.set(s.name, p);
    else if (plan.lead.size < 22) plan.lead.set(s.name, p);
    else free.push(p);
  }
  for (const s of w.services) {
    if (rng.chance(0.45)) {
      let t = rng.pick(w.services);
      while (t === s) t = rng.pick(w.services);
      plan.dependsOn.set(s.name, t);
    }
  }
  return plan;
}

const DB_REASONS = [
  "the licence change made the managed tier twice as expensive",
  "replication lag hit 40 seconds during the month-end batch",
  "we needed transactions across the two main tables",
  "JSON querying there beat maintaining a separate document store",
  "the old cluster ran out of IOPS every Monday morning",
  "nobody left on the team knew how to operate the old engine",
  "vendor support for the old version ends in September",
  "the query planner kept choosing full scans on the hot path",
  "we wanted point-in-time recovery without a custom backup script",
  "schema migrations were locking writes for minutes",
  "read traffic grew 5x after the mobile launch",
  "the restore drill took 9 hours",
  "consolidating onto one engine shrinks the on-call surface",
  "cross-region reads were too slow for users in APAC",
];

const LANG_REASONS = [
  "the old version could not keep up past 2k requests per second",
  "GC pauses were showing up in p99 latency",
  "we wanted to share types with the frontend",
  "most of the people maintaining it already write it daily",
  "the previous codebase had no owner left",
  "cold starts on the old runtime took 4 seconds",
  "memory usage dropped from 1.2 GB to 180 MB in the prototype",
];

function serviceFacts(rng: Rng, w: World, plan: FactPlan, corpus: Corpus, pool: QueryPool): void {
  const inst = (s: Service): string => {
    const ps = w.byTeam.get(s.team) ?? w.people;
    return rng.pick(ps).instance;
  };
  const add = (
    s: Service,
    attr: string,
    content: string,
    extraTags: string[] = [],
    facts: string[] = [`svc:${s.name}:${attr}`],
  ) =>
    corpus.add({
      key: `fact:${s.name}:${attr}`,
      content,
      tags: ["fact", s.name, ...extraTags],
      sourceType: rng.pick(["user_explicit", "auto_capture", "auto_capture", "import"]),
      instance: inst(s),
      at: randomTime(rng),
      facts,
    });
  const team = (s: Service): Team => w.teams.find((t) => t.name === s.team) as Team;

  for (const s of w.services) {
    if (plan.owner.get(s.name) === "fact") {
      add(
        s,
        "owner",
        rng.pick([
          `${s.name} is owned by the ${s.team} team.`,
          `Ownership: ${s.name} → ${s.team} team (${team(s).channel}).`,
          `The ${s.team} team owns ${s.name}; escalate there, not to whoever touched it last.`,
          `${s.name} sits with ${s.team}. Their Slack channel is ${team(s).channel}.`,
        ]),
        [s.team],
      );
    }
    const on = plan.oncall.get(s.name);
    if (on) {
      add(
        s,
        "oncall",
        rng.pick([
          `${on.name} is primary on-call for ${s.name} this quarter.`,
          `On-call for ${s.name}: ${on.name}. Page through PagerDuty, not Slack DMs.`,
          `${on.name} carries the ${s.name} pager this rotation.`,
          `If ${s.name} pages at night it goes to ${on.name} first.`,
        ]),
        ["on-call", on.name],
        [`svc:${s.name}:oncall`, `person:${on.name}:oncall`],
      );
    }
    const lead = plan.lead.get(s.name);
    if (lead) {
      add(
        s,
        "lead",
        rng.pick([
          `${lead.name} is the tech lead for ${s.name}.`,
          `${s.name} tech lead: ${lead.name} — route design questions to them.`,
          `Design reviews for ${s.name} go through ${lead.name}, who leads it technically.`,
        ]),
        ["tech-lead", lead.name],
        [`svc:${s.name}:lead`, `person:${lead.name}:lead`],
      );
    }
    if (plan.datastore.get(s.name) === "fact") {
      const cluster = `${s.db.toLowerCase().replace(/[^a-z]/g, "")}-${s.team}-${rng.int(1, 4)}`;
      add(
        s,
        "datastore",
        rng.pick([
          `${s.name} stores its data in ${s.db}.`,
          `${s.name} persists everything in a ${s.db} cluster (${cluster}).`,
          `Storage for ${s.name} is ${s.db}; the schema files live under ${SOURCE_ROOT[s.lang](s.name)[0]}migrations/.`,
          `${s.name} → ${s.db} (${cluster}). Credentials come from secrets-vault at startup.`,
        ]),
        [s.db],
      );
    }
    if (plan.lang.get(s.name) === "fact") {
      const other = rng.pick(LANGS.filter((l) => l !== s.lang));
      add(
        s,
        "lang",
        rng.pick([
          `${s.name} is written in ${s.lang}.`,
          `${s.name} is a ${s.lang} codebase; run its checks with the Makefile, not by hand.`,
          `Heads-up for newcomers: ${s.name} is ${s.lang}, not ${other}.`,
        ]),
        [s.lang],
      );
    }
    if (rng.chance(0.6)) {
      add(
        s,
        "port",
        rng.pick([
          `${s.name} listens on port ${s.port} locally.`,
          `Local dev: ${s.name} runs on http://localhost:${s.port}.`,
          `${s.name} binds ${s.port} in docker-compose; don't reuse that port elsewhere.`,
        ]),
      );
    }
    if (rng.chance(0.5)) {
      const [dir, entry] = SOURCE_ROOT[s.lang](s.name);
      add(
        s,
        "repo",
        rng.pick([
          `The code for ${s.name} lives in ${dir} in the monorepo; entrypoint ${entry}.`,
          `${s.name} source: ${dir} (main: ${entry}).`,
        ]),
        ["repo"],
      );
    }
    if (rng.chance(0.5)) {
      add(
        s,
        "staging",
        rng.pick([
          `Staging for ${s.name}: https://${s.name}.staging.acme.dev (healthcheck at /healthz).`,
          `${s.name} staging URL is https://${s.name}.staging.acme.dev — VPN required.`,
        ]),
        ["staging"],
      );
    }
    if (rng.chance(0.4)) {
      const code = createHash("sha1").update(s.name).digest("hex").slice(0, 9);
      add(
        s,
        "dashboard",
        rng.pick([
          `Grafana dashboard for ${s.name}: https://grafana.acme.internal/d/${code}/${s.name}`,
          `${s.name} metrics board is at https://grafana.acme.internal/d/${code}/${s.name}; the top panel is request latency.`,
        ]),
        ["grafana"],
      );
    }
    if (plan.queue.get(s.name) === "fact") {
      add(
        s,
        "queue",
        rng.pick([
          `${s.name} consumes the \`${s.topic}\` topic from ${s.queue}.`,
          `${s.name} reads events off ${s.queue} (topic \`${s.topic}\`, consumer group \`${s.name}-cg\`).`,
        ]),
        [s.queue],
      );
    }
    const dep = plan.dependsOn.get(s.name);
    if (dep) {
      add(
        s,
        "dep",
        rng.pick([
          `${s.name} calls ${dep.name} synchronously on every request.`,
          `${s.name} depends on ${dep.name}; if ${dep.name} is down, ${s.name} serves stale data.`,
          `Dependency note: ${s.name} → ${dep.name} over gRPC with a 300 ms deadline.`,
        ]),
        [dep.name],
      );
    }
    if (plan.testEnv.get(s.name) === "fact") {
      const env = envName(s, rng.pick(["DB_URL", "REDIS_URL", "FAKE_CLOCK", "TEST_TENANT", "BROKER_URL"]));
      add(
        s,
        "test-env",
        rng.pick([
          `Gotcha: ${s.name} integration tests hang unless ${env} is set; CI sets it in .github/workflows/${s.name}.yml.`,
          `${s.name} integration tests need ${env} exported, otherwise they wait forever on the first connection.`,
        ]),
        ["gotcha", "tests"],
      );
    }
  }

  // Single-fact questions, worded unlike the memories.
  for (const s of w.services) {
    const q = (attr: string, texts: string[]) =>
      factQuery(corpus, pool, "single-fact", [`svc:${s.name}:${attr}`], rng.pick(texts));
    q("owner", [
      `Which team owns ${s.name}?`,
      `Who do I escalate ${s.name} problems to?`,
      `What team is responsible for ${s.name}?`,
    ]);
    q("oncall", [`Who is on call for ${s.name}?`, `Who should I page about ${s.name}?`]);
    q("lead", [`Who leads ${s.name} technically?`, `Who is the tech lead of ${s.name}?`]);
    q("datastore", [`Which database does ${s.name} use?`, `Where does ${s.name} keep its data?`]);
    q("lang", [`What language is ${s.name} implemented in?`, `What is ${s.name} written in?`]);
    q("port", [`What port does ${s.name} run on locally?`, `Which local port is ${s.name} on?`]);
    q("repo", [`Where is the source code for ${s.name}?`, `Which folder holds ${s.name}?`]);
    q("staging", [`What is the staging URL for ${s.name}?`, `How do I reach ${s.name} in staging?`]);
    q("dashboard", [
      `Where is the Grafana dashboard for ${s.name}?`,
      `Link to the ${s.name} metrics dashboard?`,
    ]);
    q("queue", [
      `Which topic does ${s.name} consume from?`,
      `What does ${s.name} read from the message bus?`,
    ]);
    q("dep", [`What does ${s.name} depend on?`, `Which service does ${s.name} call?`]);
    q("test-env", [
      `Which environment variable do the ${s.name} integration tests need?`,
      `Why do ${s.name} integration tests hang locally?`,
    ]);
  }
}

function peopleFacts(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  const expertise = rng.shuffle([
    "Kafka consumer rebalancing",
    "Postgres query plans",
    "iOS push certificates",
    "Terraform state surgery",
    "OAuth scopes",
    "CSS grid quirks",
    "Elasticsearch mappings",
    "flaky Playwright tests",
    "Kubernetes network policies",
    "Stripe webhooks",
    "GDPR deletion requests",
    "TLS certificate renewals",
    "Bazel remote caching",
    "React Native upgrades",
    "gRPC deadlines",
    "Redis eviction policies",
    "ClickHouse materialized views",
    "SAML assertions",
    "tax rounding rules",
    "currency conversion",
    "Android ProGuard rules",
    "load testing with k6",
    "accessibility audits",
    "i18n pluralization",
    "data retention policies",
    "zero-downtime migrations",
    "the Webpack to Vite migration",
    "Go generics",
    "Rust async runtimes",
    "email deliverability (SPF and DKIM)",
    "SMS carrier filtering",
    "WebSocket reconnect logic",
    "Protobuf schema evolution",
    "Snowflake cost tuning",
    "Helm chart templating",
  ]);
  w.people.forEach((p, i) => {
    const at = randomTime(rng);
    corpus.add({
      key: `person:${p.name}:city`,
      content: rng.pick([
        `${p.name} works from ${p.city.name} (${p.city.tz}).`,
        `${p.name} lives in ${p.city.name}, ${p.city.tz}, so expect replies late in the day for Americas folks.`,
        `${p.first} (${p.name}) is remote in ${p.city.name}; mornings overlap with the rest of ${p.team}.`,
      ]),
      tags: ["person", p.name, "location"],
      sourceType: "user_explicit",
      instance: p.instance,
      at,
      facts: [`person:${p.name}:city`],
    });
    if (rng.chance(0.7)) {
      corpus.add({
        key: `person:${p.name}:handle`,
        content: rng.pick([
          `${p.name}'s GitHub handle is @${p.handle}.`,
          `GitHub: @${p.handle} is ${p.name}.`,
          `${p.name} goes by @${p.handle} on GitHub and in CODEOWNERS.`,
        ]),
        tags: ["person", p.name, "github"],
        instance: rng.pick(w.people).instance,
        at: randomTime(rng),
        facts: [`person:${p.name}:handle`],
      });
    }
    if (rng.chance(0.6)) {
      const joinAt = randomTime(rng, START, REF - 20 * DAY);
      corpus.add({
        key: `person:${p.name}:joined`,
        content: rng.pick([
          `${p.name} joined the ${p.team} team in ${MONTHS[new Date(joinAt).getUTCMonth()]} after ${rng.int(2, 9)} years at ${rng.pick(COMPANIES)}.`,
          `New on ${p.team}: ${p.name}, ${p.role}, previously at ${rng.pick(COMPANIES)}. Buddy: ${rng.pick(w.byTeam.get(p.team) ?? w.people).first}.`,
        ]),
        tags: ["person", p.name, "onboarding", p.team],
        instance: rng.pick(w.byTeam.get(p.team) ?? w.people).instance,
        at: joinAt,
        facts: [`person:${p.name}:joined`],
      });
    }
    if (i < expertise.length) {
      corpus.add({
        key: `person:${p.name}:expertise`,
        content: rng.pick([
          `${p.name} is the go-to person for ${expertise[i]}.`,
          `For anything about ${expertise[i]}, ask ${p.name} — they untangled it last year.`,
          `${p.first} ${p.name.split(" ").slice(1).join(" ")} knows ${expertise[i]} better than anyone here.`,
        ]),
        tags: ["person", p.name, "expertise"],
        instance: rng.pick(w.people).instance,
        at: randomTime(rng),
        facts: [`person:${p.name}:expertise`],
      });
      factQuery(
        corpus,
        pool,
        "single-fact",
        [`person:${p.name}:expertise`],
        rng.pick([`Who knows the most about ${expertise[i]}?`, `Who should I ask about ${expertise[i]}?`]),
      );
    }
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`person:${p.name}:city`],
      rng.pick([
        `Where is ${p.name} based?`,
        `Which city does ${p.name} work from?`,
        `What time zone is ${p.name} in?`,
      ]),
    );
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`person:${p.name}:handle`],
      rng.pick([`What is ${p.name}'s GitHub username?`, `How do I mention ${p.name} on GitHub?`]),
    );
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`person:${p.name}:joined`],
      rng.pick([`When did ${p.name} join, and where from?`, `Where did ${p.name} work before joining?`]),
    );
  });

  // One engineering manager per team.
  for (const t of w.teams) {
    const members = w.byTeam.get(t.name) ?? [];
    const em = members[0];
    corpus.add({
      key: `team:${t.name}:em`,
      content: rng.pick([
        `${em.name} is the engineering manager for ${t.name}.`,
        `${t.name} EM: ${em.name}. 1:1s are on Thursdays.`,
        `${em.name} heads up ${t.name}; headcount and roadmap questions go to them.`,
      ]),
      tags: ["team", t.name, em.name],
      sourceType: "user_explicit",
      instance: em.instance,
      at: randomTime(rng),
      facts: [`team:${t.name}:em`, `person:${em.name}:em`],
    });
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`team:${t.name}:em`],
      rng.pick([`Who manages the ${t.name} team?`, `Who is the ${t.name} engineering manager?`]),
    );
  }

  // Package facts.
  const maintainers = rng.sample(w.people, w.packages.length);
  w.packages.forEach((pkg, i) => {
    const m = maintainers[i];
    corpus.add({
      key: `pkg:${pkg.name}:purpose`,
      content: `${pkg.name} ${pkg.purpose}.`,
      tags: ["package", pkg.name],
      instance: rng.pick(w.people).instance,
      at: randomTime(rng),
      facts: [`pkg:${pkg.name}:purpose`],
    });
    corpus.add({
      key: `pkg:${pkg.name}:maintainer`,
      content: rng.pick([
        `${pkg.name} is maintained by ${m.name}; send breaking changes their way first.`,
        `Maintainer of ${pkg.name}: ${m.name}.`,
        `${m.name} owns the ${pkg.name} package and cuts its releases.`,
      ]),
      tags: ["package", pkg.name, m.name],
      instance: m.instance,
      at: randomTime(rng),
      facts: [`pkg:${pkg.name}:maintainer`, `person:${m.name}:maintains`],
    });
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`pkg:${pkg.name}:maintainer`],
      rng.pick([`Who maintains ${pkg.name}?`, `Who cuts releases of ${pkg.name}?`]),
    );
    if (rng.chance(0.5)) {
      const major = rng.int(1, 5);
      corpus.add({
        key: `pkg:${pkg.name}:pin`,
        content: `Pin ${pkg.name} to ^${major}.x for now — ${major + 1}.0 changed ${pkg.ident} to return a Promise and half the callers don't await it.`,
        tags: ["package", pkg.name, "gotcha"],
        instance: rng.pick(w.people).instance,
        at: randomTime(rng),
        facts: [`pkg:${pkg.name}:pin`],
      });
      factQuery(
        corpus,
        pool,
        "single-fact",
        [`pkg:${pkg.name}:pin`],
        `Why shouldn't we upgrade ${pkg.name} to the next major version yet?`,
      );
    }
  });
}

function multiHop(rng: Rng, w: World, plan: FactPlan, corpus: Corpus, pool: QueryPool): void {
  const attrs: Array<[string, (svcRef: string) => string[]]> = [
    ["datastore", (r) => [`What database backs ${r}?`, `Where does ${r} store its data?`]],
    ["lang", (r) => [`Which language is ${r} written in?`, `What is ${r} implemented in?`]],
    ["port", (r) => [`Which local port does ${r} listen on?`]],
    ["owner", (r) => [`Which team owns ${r}?`]],
    ["staging", (r) => [`What is the staging URL of ${r}?`]],
    ["queue", (r) => [`Which topic does ${r} consume?`]],
    ["repo", (r) => [`Where is the code of ${r}?`]],
  ];
  for (const [svc, p] of plan.oncall) {
    for (const [attr, texts] of rng.sample(attrs, 3)) {
      factQuery(
        corpus,
        pool,
        "multi-hop",
        [`svc:${svc}:oncall`, `svc:${svc}:${attr}`],
        rng.pick(
          texts(
            rng.pick([`the service ${p.name} is on call for`, `the service whose pager ${p.name} carries`]),
          ),
        ),
      );
    }
  }
  for (const [svc, p] of plan.lead) {
    for (const [attr, texts] of rng.sample(attrs, 3)) {
      factQuery(
        corpus,
        pool,
        "multi-hop",
        [`svc:${svc}:lead`, `svc:${svc}:${attr}`],
        rng.pick(texts(rng.pick([`the service ${p.name} is tech lead for`, `the service led by ${p.name}`]))),
      );
    }
  }
  for (const [svc, dep] of plan.dependsOn) {
    const [attr, texts] = rng.pick(attrs);
    factQuery(
      corpus,
      pool,
      "multi-hop",
      [`svc:${svc}:dep`, `svc:${dep.name}:${attr}`],
      rng.pick(texts(`the service that ${svc} depends on`)),
    );
  }
  for (const pkg of w.packages) {
    const m = corpus.fact(`pkg:${pkg.name}:maintainer`);
    if (m.length === 0) continue;
    const maint = w.people.find((p) => corpus.fact(`person:${p.name}:maintains`).includes(m[0])) as Person;
    const [attr, text] = rng.pick([
      ["city", `Where is the maintainer of ${pkg.name} based?`],
      ["handle", `What is the GitHub handle of whoever maintains ${pkg.name}?`],
      ["expertise", `What topic is the ${pkg.name} maintainer the go-to person for?`],
    ] as const);
    factQuery(
      corpus,
      pool,
      "multi-hop",
      [`pkg:${pkg.name}:maintainer`, `person:${maint.name}:${attr}`],
      text,
    );
  }
  for (const t of w.teams) {
    const em = (w.byTeam.get(t.name) ?? [])[0];
    factQuery(
      corpus,
      pool,
      "multi-hop",
      [`team:${t.name}:em`, `person:${em.name}:city`],
      rng.pick([
        `In which city does the ${t.name} engineering manager live?`,
        `What time zone is the manager of ${t.name} in?`,
      ]),
    );
  }
}

// Paraphrase pairs: memory and question share no content word (checked below).
const PREF_PARAPHRASES: Array<[string, string]> = [
  [
    "{P} prefers squash merges so main stays one commit per PR.",
    "Which teammate likes collapsing a branch into a single changeset when integrating?",
  ],
  ["{P} refuses to join meetings before 10am.", "Which colleague avoids early calls?"],
  ["{P} insists on pull requests under 200 lines.", "Who wants code reviews kept tiny?"],
  [
    "{P} writes every commit message in the imperative mood.",
    "Which engineer phrases change descriptions as commands?",
  ],
  [
    "{P} hates mocks and asks for fakes or real containers instead.",
    "Who objects to stubbed dependencies in automated testing?",
  ],
  ["{P} mutes Slack after 6pm.", "Which coworker goes unreachable on chat in the evening?"],
  [
    "{P} likes pairing over video rather than async review.",
    "Who enjoys collaborative programming sessions on a call?",
  ],
  [
    "{P} keeps a dark theme and a 120-column limit in the editor.",
    "Whose IDE setup uses a black background and wide lines?",
  ],
  ["{P} documents every architectural choice in an ADR.", "Who records design decisions in written records?"],
  [
    "{P} asks for screenshots in every UI pull request.",
    "Who wants images attached when front-end changes go up for review?",
  ],
  [
    "{P} likes standups written in the channel instead of spoken.",
    "Which colleague favours text daily check-ins?",
  ],
  [
    "{P} always runs the full test suite locally before pushing.",
    "Who verifies everything on their own machine prior to uploading changes?",
  ],
  ["{P} prefers British spelling in user-facing copy.", "Who wants UK English in product text?"],
  ["{P} takes Fridays off every other week.", "Which colleague skips the final workday biweekly?"],
  ["{P} wants every alert to link a runbook.", "Who insists that pages include a troubleshooting guide?"],
  [
    "{P} reaches for Rust whenever performance matters.",
    "Which developer picks a memory-safe systems programming language when speed counts?",
  ],
  ["{P} reviews pull requests only after lunch.", "Which colleague looks at code changes in the afternoon?"],
  [
    "{P} wants feature flags deleted within two sprints of full rollout.",
    "Who insists toggles get cleaned up soon after launch?",
  ],
];

const PREF_GENERAL: Array<[string, string]> = [
  [
    "{P} prefers tabs over spaces in Go files but two spaces everywhere else.",
    "What indentation does {P} want?",
  ],
  ["{P} likes rebase-and-merge; please don't squash their PRs.", "How does {P} want their PRs merged?"],
  [
    "{P} wants PR descriptions to include a testing section with the exact commands run.",
    "What does {P} expect in a PR description?",
  ],
  ["{P} prefers async Slack threads over ad-hoc calls.", "Does {P} like quick calls or written threads?"],
  ["{P} prefers table-driven tests.", "What style of tests does {P} like?"],
  ["{P} likes early returns instead of nested if/else.", "What control-flow style does {P} prefer?"],
  ["{P} prefers raw SQL with sqlc over an ORM.", "Does {P} want an ORM or SQL?"],
  [
    "{P} asked that we use conventional commit prefixes (feat:, fix:, chore:).",
    "What commit message format does {P} ask for?",
  ],
  ["{P} uses Neovim; pair with them over tmate, not VS Code Live Share.", "How do I pair with {P}?"],
  [
    "{P} prefers Result-style error returns over exceptions in TypeScript.",
    "How does {P} want errors handled in TypeScript?",
  ],
  [
    "{P} prefers descriptive names over abbreviations like cfg or svc.",
    "What naming style does {P} push for?",
  ],
  [
    "{P} prefers Biome over ESLint + Prettier for new packages.",
    "Which linter does {P} want for new packages?",
  ],
  [
    "{P} dislikes long-lived branches and prefers dark-launching behind flags.",
    "What is {P}'s view on long-running branches?",
  ],
  ["{P} prefers Loom videos for design walkthroughs.", "How does {P} like design walkthroughs shared?"],
  [
    "{P} wants snake_case column names and camelCase in the API layer.",
    "What naming convention does {P} want for columns and API fields?",
  ],
  [
    "{P} prefers dependency upgrades batched weekly via Renovate.",
    "How does {P} want dependency upgrades done?",
  ],
  [
    "{P} likes property-based tests for parsers (fast-check).",
    "What kind of tests does {P} want for parsers?",
  ],
  [
    "{P} prefers Mermaid diagrams in the repo over Figma boards for architecture docs.",
    "Where does {P} want architecture diagrams?",
  ],
  ["{P} wants logs as JSON with a request_id on every line.", "What log format does {P} want?"],
  [
    "{P} prefers integration tests against real Postgres in Docker over SQLite in-memory.",
    "What database should {P}'s integration tests run against?",
  ],
  ["{P} likes to be tagged on anything touching money rounding.", "When should I tag {P} on a PR?"],
  ["{P} prefers GraphQL for the mobile APIs but REST everywhere else.", "What API style does {P} prefer?"],
  ["{P} asks that TODOs carry an issue number.", "What does {P} require for TODO comments?"],
  ["{P} prefers deploying on Tuesday mornings, never late in the week.", "When does {P} like to deploy?"],
];

const HAND_PARAPHRASES: Array<[string, string, string[]]> = [
  [
    "We dropped Jenkins for Buildkite because jobs sat in the queue for twenty minutes.",
    "Why did we abandon the old self-hosted CI server?",
    ["decision", "ci"],
  ],
  [
    "Standup moved from 9:30 to 10:15 so people in Lisbon and Nairobi can attend.",
    "Why was the daily sync pushed later?",
    ["process"],
  ],
  [
    "Linear replaced Jira for the platform backlog in April.",
    "Which ticket tracker does the shared backend foundations group use now?",
    ["tools"],
  ],
  [
    "Code freeze starts December 15th and lasts until January 3rd.",
    "When does the holiday change moratorium begin?",
    ["process", "release"],
  ],
  [
    "Production access now requires a hardware security key (YubiKey).",
    "What do engineers need to log into live servers?",
    ["security"],
  ],
  [
    "Our AWS bill dropped 18% after batch jobs moved to spot instances.",
    "How much cheaper did cloud costs get once background work ran on preemptible machines?",
    ["cost"],
  ],
  [
    "On-call switched from weekly rotations to follow-the-sun handoffs between Berlin and Seattle.",
    "How does pager duty get passed around now across time zones?",
    ["on-call", "process"],
  ],
  [
    "New hires get a Linux laptop unless they ask for a MacBook.",
    "What computer does a newcomer receive by default?",
    ["onboarding"],
  ],
  [
    "All internal services must talk over mTLS by the end of Q3.",
    "What's the deadline for mutual certificate authentication between our backends?",
    ["security", "decision"],
  ],
  [
    "Retrospectives happen every second Thursday in the big meeting room.",
    "How often do we hold sprint look-backs?",
    ["process"],
  ],
  [
    "We standardised on OpenTelemetry; vendor SDKs for tracing are banned in new code.",
    "Which observability instrumentation library is mandatory going forward?",
    ["decision", "observability"],
  ],
  [
    "Customer data must stay in eu-west-1; never replicate it to us-east regions.",
    "Where is user personal information allowed to be stored geographically?",
    ["compliance"],
  ],
  [
    "Renovate replaced Dependabot because it groups upgrades better.",
    "Which bot now opens library bump requests?",
    ["tools", "dependencies"],
  ],
  [
    "The design system's primary colour changed from #1f6feb to #0b5cad in the rebrand.",
    "What is the new main brand hue after the visual refresh?",
    ["design"],
  ],
  [
    "Interviews use a take-home exercise capped at three hours, reviewed by two engineers.",
    "What is the maximum duration of the hiring assignment candidates complete offline?",
    ["hiring"],
  ],
  [
    "The office Wi-Fi password rotates on the first Monday of each month.",
    "How often does the wireless network passphrase change at the workplace?",
    ["office"],
  ],
  [
    "Hackathon week is the last week of May; no sprint commitments then.",
    "When is the innovation event this spring?",
    ["events"],
  ],
  [
    "Expense reports over 500 EUR need director approval.",
    "Who must sign off on large reimbursement claims?",
    ["finance"],
  ],
];

function paraphrases(rng: Rng, w: World, plan: FactPlan, corpus: Corpus, pool: QueryPool): void {
  /** Adds the memory only if some variant shares no content word with the question. */
  const pair = (
    key: string,
    variants: string[],
    query: string,
    tags: string[],
    instance: string,
    facts: string[] = [key],
    at = randomTime(rng),
  ) => {
    for (const content of rng.shuffle(variants)) {
      if (sharedContentWords(query, content).length > 0) continue;
      const m = corpus.add({
        key,
        content,
        tags,
        instance,
        at,
        facts,
        sourceType: rng.pick(["user_explicit", "auto_capture"]),
      });
      return m;
    }
    return null;
  };
  const candidates: QueryDraft[] = [];
  const ask = (m: EvalMemory | null, query: string) => {
    if (m) candidates.push({ query, category: "paraphrase", relevant: [m.id] });
  };
  const inst = (s: Service) => rng.pick(w.byTeam.get(s.team) ?? w.people).instance;

  for (const s of w.services) {
    const mode = plan.datastore.get(s.name);
    if (mode === "para") {
      const q = rng.pick([
        `Which database did the ${s.desc} switch to?`,
        `What storage engine is the ${s.desc} on after its move?`,
      ]);
      const variants = DB_REASONS.flatMap((r) => [
        `${s.name} moved from ${s.oldDb} to ${s.db} because ${r}.`,
        `${s.name} left ${s.oldDb} for ${s.db}; ${r}.`,
      ]);
      const m = pair(
        `para:${s.name}:datastore`,
        rng.sample(variants, 8),
        q,
        ["decision", s.name, s.db],
        inst(s),
        [`svc:${s.name}:datastore`],
      );
      if (m) ask(m, q);
      else {
        // Still state the fact so multi-hop questions about it have an answer.
        corpus.add({
          key: `para-fallback:${s.name}:datastore`,
          content: `${s.name} moved from ${s.oldDb} to ${s.db}.`,
          tags: ["decision", s.name],
          instance: inst(s),
          at: randomTime(rng),
          facts: [`svc:${s.name}:datastore`],
        });
      }
    }
    if (plan.lang.get(s.name) === "para") {
      const old = rng.pick(LANGS.filter((l) => l !== s.lang));
      const q = rng.pick([
        `What programming language is the ${s.desc} implemented in now?`,
        `Which language did we port the ${s.desc} to?`,
      ]);
      const variants = LANG_REASONS.flatMap((r) => [
        `${s.name} was rewritten in ${s.lang} because ${r}; the ${old} version is archived.`,
        `We rebuilt ${s.name} in ${s.lang} — ${r}.`,
      ]);
      const m = pair(
        `para:${s.name}:lang`,
        rng.sample(variants, 8),
        q,
        ["decision", s.name, s.lang],
        inst(s),
        [`svc:${s.name}:lang`],
      );
      if (m) ask(m, q);
      else
        corpus.add({
          key: `para-fallback:${s.name}:lang`,
          content: `${s.name} was rewritten in ${s.lang}.`,
          tags: [s.name],
          instance: inst(s),
          at: randomTime(rng),
          facts: [`svc:${s.name}:lang`],
        });
    }
    if (plan.owner.get(s.name) === "para") {
      const q = rng.pick([`Which group maintains the ${s.desc}?`, `Whose responsibility is the ${s.desc}?`]);
      const m = pair(
        `para:${s.name}:owner`,
        [
          `${s.name} belongs to the ${s.team} team.`,
          `${s.name} is ${/^[aeiou]/.test(s.team) ? "an" : "a"} ${s.team} service.`,
          `Ownership of ${s.name} sits with ${s.team}.`,
        ],
        q,
        ["fact", s.name, s.team],
        inst(s),
        [`svc:${s.name}:owner`],
      );
      if (m) ask(m, q);
      else
        corpus.add({
          key: `para-fallback:${s.name}:owner`,
          content: `${s.name} is owned by ${s.team}.`,
          tags: [s.name],
          instance: inst(s),
          at: randomTime(rng),
          facts: [`svc:${s.name}:owner`],
        });
    }
    if (plan.testEnv.get(s.name) === "para") {
      const env = envName(s, rng.pick(["DB_URL", "REDIS_URL", "FAKE_CLOCK", "TEST_TENANT", "BROKER_URL"]));
      const q = rng.pick([
        `Why would the end-to-end suite of the ${s.desc} freeze?`,
        `What makes the ${possessive(s.desc)} slow checks stall on a laptop?`,
      ]);
      const m = pair(
        `para:${s.name}:test-env`,
        [
          `${s.name} integration tests hang unless ${env} is set.`,
          `Gotcha: ${s.name} integration tests block forever without ${env}.`,
        ],
        q,
        ["gotcha", s.name],
        inst(s),
        [`svc:${s.name}:test-env`],
      );
      ask(m, q);
    }
    if (plan.queue.get(s.name) === "para") {
      const q = `Which message broker does the ${s.desc} listen to?`;
      const m = pair(
        `para:${s.name}:queue`,
        [
          `${s.name} consumes ${s.topic} from ${s.queue}.`,
          `${s.name} reads the ${s.topic} stream on ${s.queue}.`,
        ],
        q,
        ["fact", s.name, s.queue],
        inst(s),
        [`svc:${s.name}:queue`],
      );
      ask(m, q);
    }
  }

  // Cities that exactly one person lives in.
  const cityCount = new Map<string, number>();
  for (const p of w.people) cityCount.set(p.city.name, (cityCount.get(p.city.name) ?? 0) + 1);
  // Capped per kind so no single template dominates the category.
  for (const p of rng
    .sample(w.people, w.people.length)
    .filter((x) => cityCount.get(x.city.name) === 1)
    .slice(0, 12)) {
    const ids = corpus.fact(`person:${p.name}:city`);
    const m = corpus.memories.find((x) => x.id === ids[0]) as EvalMemory;
    const q = rng.pick([
      `Which engineer is based in ${p.city.desc}?`,
      `Who on staff lives in ${p.city.desc}?`,
    ]);
    if (sharedContentWords(q, m.content).length === 0)
      candidates.push({ query: q, category: "paraphrase", relevant: ids });
  }

  // Engineering managers, described by their team's nickname.
  for (const t of rng.sample(w.teams, 10)) {
    const ids = corpus.fact(`team:${t.name}:em`);
    const m = corpus.memories.find((x) => x.id === ids[0]) as EvalMemory;
    const q = rng.pick([`Who runs the ${t.desc}?`, `Who is the boss of the ${t.desc}?`]);
    if (sharedContentWords(q, m.content).length === 0)
      candidates.push({ query: q, category: "paraphrase", relevant: ids });
  }

  // Packages, described by what they do.
  for (const pkg of w.packages) {
    const ids = corpus.fact(`pkg:${pkg.name}:purpose`);
    const m = corpus.memories.find((x) => x.id === ids[0]) as EvalMemory;
    const q = rng.pick([`Which internal library ${pkg.desc}?`, `What in-house module ${pkg.desc}?`]);
    if (sharedContentWords(q, m.content).length === 0)
      candidates.push({ query: q, category: "paraphrase", relevant: ids });
  }

  // Preferences: each reserved statement belongs to one person only.
  const prefPeople = rng.sample(w.people, PREF_PARAPHRASES.length);
  PREF_PARAPHRASES.forEach(([mem, q], i) => {
    const p = prefPeople[i];
    const m = pair(`para:pref:${i}`, [mem.replaceAll("{P}", p.name)], q, ["preference", p.name], p.instance, [
      `person:${p.name}:pref-para`,
    ]);
    ask(m, q);
  });

  HAND_PARAPHRASES.forEach(([mem, q, tags], i) => {
    const m = pair(`para:hand:${i}`, [mem], q, ["note", ...tags], rng.pick(w.people).instance);
    if (!m)
      throw new Error(`hand-written paraphrase ${i} shares words: ${sharedContentWords(q, mem).join(", ")}`);
    ask(m, q);
  });

  for (const c of candidates) pool.add(c);
}

function preferences(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  for (const p of w.people) {
    const picks = rng.sample(PREF_GENERAL, rng.int(2, 3));
    picks.forEach(([mem, q], i) => {
      const key = `pref:${p.name}:${PREF_GENERAL.indexOf(picks[i])}`;
      corpus.add({
        key,
        content: rng.pick(["", "Note: ", "Preference: ", "FYI "]) + mem.replaceAll("{P}", p.name),
        tags: ["preference", p.name],
        sourceType: rng.pick(["user_explicit", "auto_capture"]),
        instance: rng.chance(0.6) ? p.instance : rng.pick(w.people).instance,
        at: randomTime(rng),
        facts: [key],
      });
      if (rng.chance(0.35)) factQuery(corpus, pool, "single-fact", [key], q.replaceAll("{P}", p.name));
    });
  }
}

function decisions(rng: Rng, w: World, plan: FactPlan, corpus: Corpus, pool: QueryPool): void {
  for (const s of w.services) {
    if (plan.datastore.get(s.name) !== "migration") continue;
    const reason = rng.pick(DB_REASONS);
    const owner = rng.pick(w.byTeam.get(s.team) ?? w.people);
    const m = corpus.add({
      key: `decision:${s.name}:datastore`,
      content: rng.pick([
        `We decided to move ${s.name} from ${s.oldDb} to ${s.db} because ${reason}.`,
        `Decision (${s.team}): ${s.name} migrates off ${s.oldDb} onto ${s.db}. Reason: ${reason}. ${owner.name} drives the cutover.`,
        `After a long thread we agreed: ${s.name} goes to ${s.db}. ${capitalize(reason)}, and staying on ${s.oldDb} was not worth it.`,
      ]),
      tags: ["decision", s.name, s.db, s.oldDb],
      sourceType: "user_explicit",
      instance: owner.instance,
      at: randomTime(rng),
      facts: [`svc:${s.name}:datastore`, `svc:${s.name}:db-reason`],
    });
    void m;
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`svc:${s.name}:db-reason`],
      rng.pick([
        `Why did ${s.name} leave ${s.oldDb}?`,
        `What was the reason for moving ${s.name} off ${s.oldDb}?`,
      ]),
    );
  }

  // CI, tracing and package decisions per team: distractors with the same shape.
  for (const t of w.teams) {
    const [from, to] = rng.sample(CI_SYSTEMS, 2);
    const who = rng.pick(w.byTeam.get(t.name) ?? w.people);
    corpus.add({
      key: `decision:${t.name}:ci`,
      content: rng.pick([
        `We're moving ${t.name}'s CI from ${from} to ${to}: ${rng.pick(["builds queued behind other teams' jobs", "the plugin ecosystem broke on every upgrade", "we want ephemeral runners per PR", "self-hosted agents idled 80% of the time"])}.`,
        `Decision: ${t.name} pipelines move to ${to}; ${from} jobs get switched off once parity is reached.`,
      ]),
      tags: ["decision", "ci", t.name, to],
      sourceType: "user_explicit",
      instance: who.instance,
      at: randomTime(rng),
      facts: [`team:${t.name}:ci`],
    });
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`team:${t.name}:ci`],
      rng.pick([`Which CI system is ${t.name} moving to?`, `What will ${t.name} run its pipelines on?`]),
    );
    if (rng.chance(0.7)) {
      const [o1, o2] = rng.sample(OBSERVABILITY, 2);
      corpus.add({
        key: `decision:${t.name}:observability`,
        content: `We decided ${t.name} services send traces to ${o2} instead of ${o1}; ${rng.pick(["sampling was too coarse before", "the old bill doubled", "we need tail-based sampling", "dashboards there are shared with support"])}.`,
        tags: ["decision", "observability", t.name, o2],
        sourceType: "user_explicit",
        instance: who.instance,
        at: randomTime(rng),
        facts: [`team:${t.name}:observability`],
      });
      factQuery(
        corpus,
        pool,
        "single-fact",
        [`team:${t.name}:observability`],
        `Where do ${t.name} traces go now?`,
      );
    }
  }
  const pkgs = rng.shuffle(w.packages);
  for (let i = 0; i + 1 < 10; i += 2) {
    const [a, b] = [pkgs[i], pkgs[i + 1]];
    corpus.add({
      key: `decision:deprecate:${a.name}`,
      content: `We decided to deprecate the old ${a.name.replace("@acme/", "@acme/legacy-")} in favour of ${b.name}; removal is planned for the end of Q3.`,
      tags: ["decision", "deprecation", a.name, b.name],
      sourceType: "user_explicit",
      instance: rng.pick(w.people).instance,
      at: randomTime(rng),
      facts: [`pkg:${a.name}:legacy-replacement`],
    });
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`pkg:${a.name}:legacy-replacement`],
      `What replaces ${a.name.replace("@acme/", "@acme/legacy-")}?`,
    );
  }
  // Review rules on paths.
  for (const s of rng.sample(w.services, 16)) {
    const t = rng.pick(w.teams.filter((x) => x.name !== s.team));
    const path = `${SOURCE_ROOT[s.lang](s.name)[0]}${rng.pick(["migrations/", "src/auth/", "api/openapi.yaml", "src/money/", "deploy/", "proto/"])}`;
    corpus.add({
      key: `decision:review:${s.name}`,
      content: `We agreed that every PR touching ${path} needs a review from the ${t.name} team as well.`,
      tags: ["decision", "code-review", s.name, t.name],
      sourceType: "user_explicit",
      instance: rng.pick(w.people).instance,
      at: randomTime(rng),
      facts: [`path:${path}:review`],
    });
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`path:${path}:review`],
      `Who has to review changes under ${path}?`,
    );
  }
}

interface CorrectionKind {
  name: string;
  /** v1 statement, correction of `old` to `now`, and the question. */
  first: (e: string, v: string) => string;
  fix: (e: string, old: string, now: string) => string;
  query: (e: string) => string;
  values: (rng: Rng, e: string) => string[];
  entity: "service" | "team" | "person" | "package";
}

const CORRECTION_KINDS: CorrectionKind[] = [
  {
    name: "staging-db-host",
    entity: "service",
    first: (e, v) => `Staging database host for ${e} is ${v}.`,
    fix: (e, o, n) => `${e}'s staging DB host is ${n}, not ${o} (that box was decommissioned).`,
    query: (e) => `What is the staging database host for ${e}?`,
    values: (rng, e) =>
      rng
        .sample([1, 2, 3, 4, 5, 6, 7, 8, 9], 3)
        .map((n) => `${rng.pick(["pg", "db", "sql"])}-staging-${n}.${e.split("-")[0]}.internal`),
  },
  {
    name: "alert-channel",
    entity: "service",
    first: (e, v) => `Alerts for ${e} go to ${v}.`,
    fix: (e, o, n) => `${e} alerts were moved to ${n}; ${o} is archived.`,
    query: (e) => `Which Slack channel gets ${e} alerts?`,
    values: (_rng, e) => [`#${e}-alerts`, `#${e.split("-")[0]}-oncall`, `#alerts-${e.split("-")[0]}`],
  },
  {
    name: "nightly-schedule",
    entity: "service",
    first: (e, v) => `The nightly ${e} reconciliation job runs at ${v} UTC.`,
    fix: (e, o, n) => `${e} nightly reconciliation runs at ${n} UTC since the DST change, not ${o}.`,
    query: (e) => `When does the nightly ${e} reconciliation run?`,
    values: (rng) => rng.sample(["01:00", "02:00", "02:30", "03:30", "04:15", "05:00"], 3),
  },
  {
    name: "api-key-env",
    entity: "service",
    first: (e, v) => `${e} reads its third-party API key from ${v}.`,
    fix: (e, o, n) =>
      `the variable ${e} reads its third-party API key from is ${n}; ${o} was the name before the config refactor.`,
    query: (e) => `Which environment variable holds the third-party API key for ${e}?`,
    values: (rng, e) =>
      rng
        .sample(["API_KEY", "VENDOR_KEY", "PROVIDER_TOKEN", "UPSTREAM_API_KEY", "PARTNER_SECRET"], 3)
        .map((x) => `${e.replace(/-/g, "_").toUpperCase()}_${x}`),
  },
  {
    name: "backup-bucket",
    entity: "service",
    first: (e, v) => `Backups for ${e} go to ${v}.`,
    fix: (e, o, n) => `${e} backups land in ${n} now — ${o} was the pre-migration bucket.`,
    query: (e) => `Where do ${e} backups go?`,
    values: (rng, e) =>
      rng
        .sample(["eu-west-1", "eu-central-1", "us-east-2", "ap-southeast-1"], 3)
        .map((r) => `s3://acme-backups-${r}/${e}/`),
  },
  {
    name: "body-limit",
    entity: "service",
    first: (e, v) => `${e} rejects request bodies over ${v}.`,
    fix: (e, o, n) => `the body limit on ${e} is ${n}; ${o} was the old default.`,
    query: (e) => `What is the request body limit on ${e}?`,
    values: (rng) => rng.sample(["1 MB", "2 MB", "5 MB", "10 MB", "25 MB"], 3),
  },
  {
    name: "pool-size",
    entity: "service",
    first: (e, v) => `${e} uses a database connection pool of ${v}.`,
    fix: (e, o, n) => `${e}'s pool size is ${n}; ${o} exhausted max_connections during the load test.`,
    query: (e) => `How big is ${e}'s connection pool?`,
    values: (rng) => rng.sample(["10", "16", "20", "25", "40", "64"], 3),
  },
  {
    name: "runbook",
    entity: "service",
    first: (e, v) => `Runbook for ${e}: ${v}`,
    fix: (e, o, n) => `the ${e} runbook is at ${n}; ${o} is stale.`,
    query: (e) => `Where is the runbook for ${e}?`,
    values: (_rng, e) => [
      `https://wiki.acme.internal/runbooks/${e}`,
      `https://runbooks.acme.dev/${e}`,
      `https://github.com/acme/runbooks/blob/main/${e}.md`,
    ],
  },
  {
    name: "deploy-days",
    entity: "team",
    first: (e, v) => `The ${e} team deploys only on ${v}.`,
    fix: (e, o, n) => `${e} deploy days are now ${n}; the ${o} rule is gone.`,
    query: (e) => `On which days can the ${e} team deploy?`,
    values: (rng) =>
      rng.sample(
        [
          "Tuesdays and Thursdays",
          "Monday to Wednesday",
          "any weekday except Friday",
          "Mondays and Wednesdays",
        ],
        3,
      ),
  },
  {
    name: "standup-time",
    entity: "team",
    first: (e, v) => `${e} standup is at ${v} UTC.`,
    fix: (e, o, n) => `${e} standup moved to ${n} UTC (it used to be ${o}).`,
    query: (e) => `What time is the ${e} standup?`,
    values: (rng) => rng.sample(["08:45", "09:30", "10:15", "14:00", "15:30"], 3),
  },
  {
    name: "leave-return",
    entity: "person",
    first: (e, v) => `${e} is on parental leave until ${v}.`,
    fix: (e, o, n) => `${e} is back on ${n}, not ${o}.`,
    query: (e) => `When is ${e} back from leave?`,
    values: (rng) => rng.sample(["July 14", "July 28", "August 4", "August 18", "September 1"], 3),
  },
  {
    name: "min-version",
    entity: "package",
    first: (e, v) => `Everyone should be on ${e} ${v} or newer.`,
    fix: (e, o, n) => `the minimum ${e} is ${n}; ${o} still has the socket leak.`,
    query: (e) => `What is the minimum supported version of ${e}?`,
    values: (rng) => {
      const major = rng.int(1, 4);
      // Each correction raises the minimum.
      return rng
        .sample([1, 2, 3, 4, 5, 6], 3)
        .sort((a, b) => a - b)
        .map((m) => `${major}.${m}.${rng.int(0, 9)}`);
    },
  },
];

const CORRECTION_PREFIXES = [
  "Correction: ",
  "Update: ",
  "Scratch that — ",
  "I was wrong earlier: ",
  "Fixing my earlier note: ",
  "Heads-up, this changed: ",
  "Actually, ",
];

function corrections(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  const entitiesOf = (k: CorrectionKind): string[] =>
    k.entity === "service"
      ? w.services.map((s) => s.name)
      : k.entity === "team"
        ? w.teams.map((t) => t.name)
        : k.entity === "person"
          ? w.people.map((p) => p.name)
          : w.packages.map((p) => p.name);
  const chains: Array<[CorrectionKind, string]> = [];
  for (const k of CORRECTION_KINDS) {
    const n = k.entity === "service" ? 7 : k.entity === "package" ? 5 : 5;
    for (const e of rng.sample(entitiesOf(k), n)) chains.push([k, e]);
  }
  for (const [k, e] of rng.shuffle(chains).slice(0, TARGET.corrected)) {
    const values = k.values(rng, e);
    const length = rng.chance(0.25) ? 3 : 2;
    const who = rng.pick(w.people);
    let at = randomTime(rng, START, START + 100 * DAY);
    const key = `corr:${k.name}:${e}`;
    let prev = corpus.add({
      key: `${key}:v1`,
      content: k.first(e, values[0]),
      tags: ["fact", k.name, e],
      sourceType: rng.pick(["auto_capture", "user_explicit"]),
      instance: who.instance,
      at,
      facts: [`${key}:v1`],
    });
    for (let v = 1; v < length; v++) {
      at = randomTime(rng, at + 3 * DAY, Math.min(at + 40 * DAY, REF - DAY));
      const prefix = rng.pick(CORRECTION_PREFIXES);
      const body = k.fix(e, values[v - 1], values[v]);
      prev = corpus.add({
        key: `${key}:v${v + 1}`,
        content:
          prefix +
          (prefix.endsWith(": ") || prefix.endsWith("— ") || prefix === "Actually, "
            ? body
            : capitalize(body)),
        tags: ["correction", k.name, e],
        sourceType: "correction",
        instance: rng.chance(0.5) ? who.instance : rng.pick(w.people).instance,
        at,
        supersedes: prev.id,
        facts: [`${key}:v${v + 1}`],
      });
    }
    pool.add({ query: k.query(e), category: "corrected", relevant: [prev.id] });
  }
}

interface TopicKind {
  name: string;
  phrases: (s: string) => string[];
  items: Array<(s: string) => string>;
  exclude?: string[];
}

const TOPIC_KINDS: TopicKind[] = [
  {
    name: "rate-limits",
    exclude: ["api-gateway", "rate-limiter"],
    phrases: (s) => [`rate limiting on ${s}`, `the ${s} rate limits`],
    items: [
      (s) =>
        `We decided to raise the per-client rate limit on ${s} from 100 to 300 requests per second for the partner launch.`,
      (s) => `Decision: anonymous traffic to ${s} gets its own, stricter rate limit (20 rps per IP).`,
      (s) =>
        `We agreed to move ${s} rate limiting out of the service and into the api-gateway config; the in-process limiter will be deleted.`,
      (s) =>
        `Rate limits on ${s} now answer 429 with a Retry-After header instead of 503 — agreed in the API review.`,
    ],
  },
  {
    name: "retries",
    phrases: (s) => [`the ${s} retry policy`, `retries in ${s}`],
    items: [
      (s) =>
        `We decided ${s} retries idempotent calls at most 3 times with exponential backoff starting at 200 ms.`,
      (s) => `Decision: ${s} stops retrying on 4xx responses entirely; only 5xx and timeouts are retried.`,
      (s) => `Agreed to add jitter to ${s} retries after the thundering-herd incident.`,
      (s) => `We decided ${s} will use a retry budget (10% of requests) instead of per-call retry counts.`,
    ],
  },
  {
    name: "caching",
    phrases: (s) => [`caching in ${s}`, `the ${s} cache`],
    items: [
      (s) => `We decided to cache ${s} responses for 60 seconds in the shared cache.`,
      (s) => `Decision: the ${s} cache TTL drops to 10 seconds because stale values confused customers.`,
      (s) => `We agreed to add stale-while-revalidate to the ${s} cache so cold starts stop spiking latency.`,
      (s) => `Decision: caching for ${s} moves from an in-process LRU to the shared cache cluster.`,
    ],
  },
  {
    name: "deploys",
    exclude: ["deploy-bot"],
    phrases: (s) => [`how ${s} gets deployed`, `${s} deploys`],
    items: [
      (s) => `We decided deploys of ${s} need two approvals from now on.`,
      (s) =>
        `Decision: ${s} ships via canary — 5% for 30 minutes, then full rollout if the error rate stays flat.`,
      (s) => `We agreed to freeze ${s} deploys on Fridays after 14:00 UTC.`,
      (s) => `Decision: ${s} moves to continuous deployment from main; release branches are retired.`,
    ],
  },
  {
    name: "api-versioning",
    phrases: (s) => [`versioning of the ${s} API`, `the ${s} API versions`],
    items: [
      (s) => `We decided the ${s} API gets a /v2 path prefix instead of header-based versioning.`,
      (s) => `Decision: ${s} /v1 endpoints are deprecated and send a Sunset header; removal in 90 days.`,
      (s) => `Agreed: breaking changes to the ${s} API need an RFC and one release of overlap.`,
      (s) => `We decided ${s} will generate its OpenAPI spec from code instead of hand-editing the YAML.`,
    ],
  },
  {
    name: "logging",
    exclude: ["log-shipper"],
    phrases: (s) => [`${s} logging`, `log volume from ${s}`],
    items: [
      (s) => `We decided to sample ${s} debug logs at 1% in production.`,
      (s) => `Decision: ${s} stops logging full request bodies; only ids and sizes from now on.`,
      (s) => `We agreed to cut ${s} log retention to 14 days to get under the ingest quota.`,
      (s) => `Decision: ${s} access logs move from info to debug level.`,
    ],
  },
  {
    name: "alerting",
    phrases: (s) => [`${s} alerting`, `alerts for ${s}`],
    items: [
      (s) => `We decided ${s} pages only on SLO burn rate, not on raw error counts.`,
      (s) => `Decision: the ${s} latency alert threshold goes from p99 > 800 ms to p99 > 1.2 s.`,
      (s) => `We agreed that ${s} alerts outside business hours go to the secondary before the primary.`,
      (s) => `Decision: noisy ${s} disk-space alerts are downgraded to tickets.`,
    ],
  },
  {
    name: "schema",
    phrases: (s) => [`the ${s} schema`, `${s} table design`],
    items: [
      (s) =>
        `We decided to add a nullable archived_at column to the main ${s} table instead of a status enum.`,
      (s) => `Decision: ${s} splits its wide events table into events and event_payloads.`,
      (s) => `We agreed ${s} migrations must stay backward compatible for one release (expand/contract).`,
      (s) => `Decision: ${s} switches primary keys from serial integers to UUIDv7.`,
    ],
  },
  {
    name: "load-testing",
    phrases: (s) => [`load testing ${s}`, `${s} load tests`],
    items: [
      (s) => `We decided ${s} gets a weekly k6 load test against staging at 2x peak traffic.`,
      (s) => `Decision: ${s} load tests must pass before any release that touches the hot path.`,
      (s) => `We agreed to load test ${s} with production-shaped traffic replayed from last month's logs.`,
      (s) => `Decision: ${s} load-test results get posted to #perf next to the previous run.`,
    ],
  },
  {
    name: "dependency-upgrades",
    phrases: (s) => [`${s} dependency upgrades`, `upgrading dependencies in ${s}`],
    items: [
      (s) => `We decided ${s} takes dependency upgrades weekly through Renovate, grouped by ecosystem.`,
      (s) => `Decision: ${s} pins its ORM to the current major until the migration is done.`,
      (s) => `We agreed ${s} upgrades its runtime within one month of each LTS release.`,
      (s) => `Decision: security patches for ${s} dependencies merge automatically when CI is green.`,
    ],
  },
];

interface Window {
  expression: string;
  after: number;
  before: number;
  ref: number;
}

/** Time expressions that pick out `target`'s time, with the reference date they are asked at. */
function timeWindows(rng: Rng, target: number): Window[] {
  const day = dayStart(target);
  const wk = weekStart(target);
  const d = new Date(target);
  const out: Window[] = [];
  const work = (ms: number) => dayStart(ms) + rng.int(9, 17) * 3_600_000 + rng.int(0, 59) * 60_000;
  out.push({ expression: "yesterday", after: day, before: day + DAY, ref: work(day + DAY) });
  out.push({
    expression: "last week",
    after: wk,
    before: wk + 7 * DAY,
    ref: work(wk + 7 * DAY + rng.int(0, 4) * DAY),
  });
  out.push({
    expression: "two weeks ago",
    after: wk,
    before: wk + 7 * DAY,
    ref: work(wk + 14 * DAY + rng.int(0, 4) * DAY),
  });
  const n = rng.int(2, 5);
  out.push({ expression: `${n} days ago`, after: day, before: day + DAY, ref: work(day + n * DAY) });
  if (d.getUTCDay() >= 1 && d.getUTCDay() <= 3) {
    out.push({
      expression: "earlier this week",
      after: wk,
      before: day + DAY,
      ref: work(day + rng.int(1, 5 - d.getUTCDay()) * DAY),
    });
  }
  const ms = monthStart(target);
  const next = monthStart(target, 1);
  const month = MONTHS[d.getUTCMonth()];
  out.push({ expression: "last month", after: ms, before: next, ref: work(next + rng.int(2, 20) * DAY) });
  out.push({ expression: `in ${month}`, after: ms, before: next, ref: REF });
  out.push({ expression: `on ${monthDay(target)}`, after: day, before: day + DAY, ref: REF });
  if (d.getUTCDate() <= 10)
    out.push({ expression: `in early ${month}`, after: ms, before: ms + 10 * DAY, ref: REF });
  if (d.getUTCDate() >= 20)
    out.push({ expression: `in late ${month}`, after: ms + 19 * DAY, before: next, ref: REF });
  return out.filter((x) => x.ref < REF + DAY && x.ref > target);
}

function temporal(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  let made = 0;
  for (const kind of TOPIC_KINDS) {
    const services = rng.sample(
      w.services.filter((s) => !(kind.exclude ?? []).includes(s.name)),
      3,
    );
    for (const s of services) {
      const items = rng.sample(kind.items, 3);
      const d1 = randomTime(rng, START + 3 * DAY, START + 40 * DAY);
      const d2 = randomTime(rng, d1 + 36 * DAY, d1 + 60 * DAY);
      const d3 = randomTime(rng, d2 + 36 * DAY, Math.min(d2 + 60 * DAY, REF - 3 * DAY));
      const dates = [d1, d2, d3];
      const team = w.byTeam.get(s.team) ?? w.people;
      const mems = items.map((item, i) => {
        let content = item(s.name);
        const r = rng.next();
        if (r < 0.2) content = `${content} (${rng.pick(team).first} to follow up.)`;
        else if (r < 0.35) content = `${WEEKDAYS[new Date(dates[i]).getUTCDay()]} sync: ${content}`;
        return corpus.add({
          key: `topic:${kind.name}:${s.name}:${i}`,
          content,
          tags: ["decision", kind.name, s.name],
          sourceType: rng.pick(["user_explicit", "auto_capture", "session"]),
          instance: rng.pick(team).instance,
          at: dates[i],
        });
      });
      const targets = rng.sample([0, 1, 2], made % 5 === 4 ? 3 : 2);
      for (const ti of targets) {
        const windows = timeWindows(rng, dates[ti]).filter((win) =>
          dates.every((dt, j) =>
            j === ti
              ? dt >= win.after && dt < win.before
              : dt < win.after - 3 * DAY || dt >= win.before + 3 * DAY,
          ),
        );
        if (windows.length === 0) continue;
        const win = rng.pick(windows);
        const topic = rng.pick(kind.phrases(s.name));
        const query = rng.pick([
          `What did we decide about ${topic} ${win.expression}?`,
          `What was agreed ${win.expression} on ${topic}?`,
          `${capitalize(win.expression)}, what changed regarding ${topic}?`,
          `Remind me what we settled ${win.expression} about ${topic}.`,
        ]);
        pool.add({
          query,
          category: "temporal",
          relevant: [mems[ti].id],
          ref: win.ref,
          window: {
            after: new Date(win.after).toISOString(),
            before: new Date(win.before).toISOString(),
            expression: win.expression,
          },
        });
        made++;
      }
    }
  }
}

const OUTAGE_CAUSES = [
  "an expired TLS certificate on the internal load balancer",
  "a full disk on the primary after log rotation stopped",
  "a bad config push that set the pool size to 0",
  "a DNS change that pointed the service at the old cluster",
  "a memory leak in the new JSON serializer",
  "a missing index after the weekend migration",
  "an upstream vendor timing out for 20 minutes",
  "a feature flag that enabled the new code path for 100% instead of 1%",
  "a runaway cron job saturating the database",
  "a Kubernetes node pool upgrade evicting every replica at once",
];
const FEATURES = [
  "invoice PDF layout",
  "one-click reorder",
  "passwordless login",
  "typo-tolerant search",
  "weekly digest emails",
  "SMS fallback for 2FA",
  "dark mode in the support console",
  "split payments",
  "saved carts",
  "team invites",
  "bulk refunds",
  "usage-based pricing page",
  "new onboarding checklist",
  "price alerts",
  "offline mode in the app",
  "CSV export of ledgers",
  "smart retries for payouts",
  "referral leaderboard",
  "audit log export",
  "query suggestions",
  "regional tax display",
  "push notification batching",
  "self-serve SSO setup",
  "gift cards",
  "promo stacking rules",
];

function events(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  const features = rng.shuffle(FEATURES);
  let f = 0;
  for (let i = 0; i < 320; i++) {
    const s = rng.pick(w.services);
    const p = rng.pick(w.byTeam.get(s.team) ?? w.people);
    const p2 = rng.pick(w.people);
    const at = randomTime(rng, START + 8 * DAY);
    const lastFriday = dayStart(at) - ((new Date(at).getUTCDay() + 2) % 7 || 7) * DAY;
    let recent = dayStart(at) - rng.int(0, 4) * DAY;
    while ([0, 6].includes(new Date(recent).getUTCDay())) recent -= DAY;
    const ver = `v${rng.int(1, 9)}.${rng.int(0, 40)}.${rng.int(0, 9)}`;
    const pct = rng.int(3, 40);
    const facts: string[] = [];
    let content: string;
    switch (rng.int(0, 11)) {
      case 0:
        content = `On Friday we rolled back ${s.name} ${ver} after the error rate jumped to ${pct}%. ${p.name} is looking into it.`;
        break;
      case 1: {
        const cause = rng.pick(OUTAGE_CAUSES);
        content = `${monthDay(recent)}: ${s.name} had a ${rng.int(5, 90)}-minute partial outage caused by ${cause}. Postmortem doc is in the incidents folder.`;
        break;
      }
      case 2: {
        const feature = features[f++ % features.length];
        const flag = `${snake(feature.replace(/[^A-Za-z0-9 ]/g, "")).replace(/ +/g, "_")}_enabled`;
        content = `Yesterday ${p.name} shipped ${feature} in ${s.name} behind the \`${flag}\` flag; rollout starts at 5%.`;
        if (f <= features.length) facts.push(`feature:${feature}:flag`);
        break;
      }
      case 3:
        content = `This morning the ${s.name} canary caught a memory leak in ${identifier(rng)}; rollout of ${ver} is paused.`;
        break;
      case 4:
        content = `${p.name} ran the quarterly game day on ${monthDay(recent)}: failing over ${s.name} took ${rng.int(2, 25)} minutes, target is 5.`;
        break;
      case 5:
        content = `Last ${WEEKDAYS[rng.int(1, 5)]}'s planning: ${s.team} committed to ${rng.pick(["cutting p99 latency in half", `finishing the ${s.name} migration`, "removing three legacy endpoints", "shipping the public API beta", "getting test runtime under 10 minutes"])} this quarter.`;
        break;
      case 6:
        content = `Mobile release ${ver.replace("v", "")} went out on ${monthDay(recent)} with ${rng.pick(FEATURES)}; ${s.name} needed a config bump for it.`;
        break;
      case 7: {
        const back = monthDay(at + rng.int(5, 20) * DAY);
        content = `${p.name} is out from ${monthDay(at + DAY)} to ${back}; ${p2.name} covers ${s.name} reviews meanwhile.`;
        break;
      }
      case 8:
        content = `Hotfix for ${s.name} deployed at ${rng.int(0, 23).toString().padStart(2, "0")}:${rng.pick(["05", "20", "35", "50"])} UTC on ${WEEKDAYS[new Date(lastFriday).getUTCDay()]}: ${rng.pick(["null check in the webhook handler", "timeout raised for the vendor call", "pagination cursor off-by-one", "missing tenant filter in the export query", "wrong currency on refunds"])}.`;
        break;
      case 9:
        content = `On ${monthDay(recent)} we rotated the ${rng.pick(["database password", "signing key", "webhook secret", "service account token"])} for ${s.name} after it showed up in a CI log.`;
        break;
      case 10:
        content = `${s.name} finished moving to ${rng.pick(["eu-central-1", "us-east-2", "the new VPC", "ARM nodes", "the shared cluster"])} on ${isoDay(recent)}; ${p.name} will delete the old resources next week.`;
        break;
      default:
        content = `Incident review on ${WEEKDAYS[new Date(lastFriday).getUTCDay()]}: the ${s.name} pager storm came from ${rng.pick(OUTAGE_CAUSES)}. Action items are assigned to ${p.name}.`;
    }
    const m = corpus.add({
      key: `event:${i}`,
      content,
      tags: ["event", s.name],
      sourceType: rng.pick(["auto_capture", "session", "user_explicit"]),
      instance: p.instance,
      at,
      facts,
    });
    void m;
  }
  for (const feature of features) {
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`feature:${feature}:flag`],
      rng.pick([`Which flag gates ${feature}?`, `What is the feature flag for ${feature} called?`]),
    );
  }
}

const CAUSES_502 = [
  "an idle timeout of 60 s on the load balancer that was shorter than the pods' keep-alive",
  "a missing readiness probe, so traffic hit pods before the cache was warm",
  "a DNS TTL of 0 that overloaded CoreDNS",
  "a connection pool of 5 shared by 40 workers",
  "TLS session resumption being disabled after the proxy upgrade",
  "the sidecar starting after the app and dropping the first requests",
  "HTTP/2 max concurrent streams set to 10 on the upstream",
  "an unbounded regex on the user-agent header",
  "graceful shutdown ignoring SIGTERM, so in-flight requests were cut",
  "header size over 8 KB because of a huge tracing baggage entry",
];

function longTurns(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  const causes = new Map<string, string>();
  const pool502 = rng.shuffle(CAUSES_502);
  for (let i = 0; i < 330; i++) {
    const s = rng.pick(w.services);
    let s2 = rng.pick(w.services);
    while (s2 === s) s2 = rng.pick(w.services);
    const p = rng.pick(w.byTeam.get(s.team) ?? w.people);
    const pkg = rng.pick(w.packages);
    const ident = identifier(rng);
    const path = sourcePath(rng, s, ident);
    const tpath = testPath(rng, s);
    const target = rng.int(300, 1450);
    const asks = [
      `can you figure out why the ${s.name} integration tests are flaky on CI?`,
      `please refactor ${ident} in ${path} so it stops allocating on every call.`,
      `summarize what we changed in ${s.name} this week for the changelog.`,
      `help me debug the 502s coming from ${s.name} behind the gateway.`,
      `why is ${s.name} p99 latency up since the last deploy?`,
      `add cursor pagination to the list endpoint in ${s.name}.`,
      `upgrade ${pkg.name} in ${s.name} and fix whatever breaks.`,
      `write a migration that backfills the tenant_id column for ${s.name}.`,
      `review ${p.name}'s PR #${rng.int(1000, 9999)} against ${s.name}.`,
      `set up local dev for ${s.name} on my machine.`,
    ];
    const askIdx = rng.int(0, asks.length - 1);
    const bodies = [
      () =>
        `I traced the problem to ${ident} in ${path}: it retries without jitter, so every pod hits ${s2.name} at the same moment.`,
      () =>
        `The fixture in ${tpath} seeds ${rng.int(2, 50)}k rows before every case, which is why the suite takes ${rng.int(40, 300)} seconds.`,
      () =>
        `I bumped ${pkg.name} from ${rng.int(1, 3)}.${rng.int(0, 9)}.${rng.int(0, 9)} to ${rng.int(4, 6)}.${rng.int(0, 9)}.0; the changelog mentions a fix for keep-alive sockets.`,
      () =>
        `${p.name} pointed out in review that ${ident} is also called from ${s2.name}, so I kept the old signature.`,
      () =>
        `Running \`${rng.pick(["make test-integration", `pnpm test --filter ${s.name}`, "go test ./... -run TestRetry -count=50", "pytest -k webhook -x"])}\` locally reproduces it about one time in five.`,
      () => `The flame graph shows most time in JSON serialization inside ${identifier(rng)}.`,
      () => `I added a regression test in ${tpath} that fails on main and passes with the fix.`,
      () =>
        `There is a TODO from @${rng.pick(w.people).handle} in ${path} saying the timeout was a temporary hack.`,
      () =>
        `Connection resets happen only when ${s2.name} restarts, which points at missing graceful shutdown on their side.`,
      () => `I left the change behind the existing flag so it can be turned off without a deploy.`,
      () => `CI is green: ${rng.int(200, 2000)} passed, ${rng.int(0, 12)} skipped.`,
      () =>
        `The migration is split into expand and contract steps so old pods keep working during the rollout.`,
      () => `Memory grows by about ${rng.int(5, 80)} MB per hour until the pod is OOM-killed.`,
      () =>
        `The error only shows up for tenants with more than ${rng.int(2, 90)}k records, so staging never caught it.`,
      () => `I checked the ${rng.pick(OBSERVABILITY)} traces: the slow span is the call to ${s2.name}.`,
      () => `The lockfile had two copies of ${pkg.name}, which broke instanceof checks across the boundary.`,
      () =>
        `I wrote the steps down in docs/${s.name}/local-dev.md so the next person does not have to rediscover them.`,
      () =>
        `${p.first} asked to keep the change small, so the cleanup of ${identifier(rng)} goes into a follow-up PR.`,
      () => `Benchmarks before/after: ${rng.int(20, 90)} ms vs ${rng.int(3, 19)} ms median on the hot path.`,
      () =>
        `The flakiness comes from a shared temp directory between parallel workers; each worker now gets its own.`,
      () =>
        `Note that ${s2.name} returns 409 on duplicate idempotency keys, which our client treated as a hard failure.`,
      () =>
        `I had to regenerate the client from the OpenAPI spec because the ${s2.name} response shape changed.`,
      () =>
        `${pkg.name}'s ${pkg.ident} was being called with the wrong options object; TypeScript did not catch it because of an any cast.`,
      () => `The p99 regression lines up exactly with the deploy that turned on verbose tracing.`,
    ];
    let buried: string | null = null;
    if (askIdx === 3 && !causes.has(s.name) && causes.size < pool502.length) {
      const cause = pool502[causes.size];
      causes.set(s.name, cause);
      buried = `The root cause of the ${s.name} 502s was ${cause}.`;
    }
    const parts: string[] = [];
    const style = rng.int(0, 2);
    const header =
      style === 0
        ? `User: ${capitalize(asks[askIdx])}\nAssistant:`
        : style === 1
          ? `Session summary (${s.name}): the user asked me to ${asks[askIdx].replace(/^can you /, "").replace(/\?$/, ".")}`
          : `Notes from pairing with ${p.name} on ${s.name}:`;
    parts.push(header);
    const order = rng.shuffle(bodies);
    let len = header.length;
    let j = 0;
    const buriedAt = buried ? rng.int(1, 3) : -1;
    while (len < target && j < order.length) {
      const sentence = parts.length === buriedAt && buried ? buried : order[j++]();
      parts.push(sentence);
      len += sentence.length + 1;
    }
    if (buried && !parts.includes(buried)) parts.push(buried);
    const closer = rng.pick([
      `Next step: ${p.name} reviews, then we ship it behind the flag.`,
      `I opened PR #${rng.int(1000, 9999)} with the fix.`,
      "Let me know if you want me to backport it to the release branch.",
      `Open question for ${p.first}: do we also need this in ${s2.name}?`,
    ]);
    parts.push(closer);
    let content = style === 0 ? `${parts[0]} ${parts.slice(1).join(" ")}` : parts.join(" ");
    while (content.length > 1500) {
      // Drop filler sentences (never the buried fact) until it fits.
      const idx = parts.findIndex((x, k) => k > 0 && x !== buried && x !== closer);
      parts.splice(idx, 1);
      content = style === 0 ? `${parts[0]} ${parts.slice(1).join(" ")}` : parts.join(" ");
    }
    corpus.add({
      key: `turn:${i}`,
      content,
      tags: ["session", s.name],
      sourceType: "session",
      instance: p.instance,
      at: randomTime(rng),
      facts: buried ? [`svc:${s.name}:502-cause`] : [],
    });
  }
  for (const [svc] of causes) {
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`svc:${svc}:502-cause`],
      rng.pick([`What caused the 502 errors from ${svc}?`, `Why was ${svc} returning 502s?`]),
    );
  }
}

function tips(rng: Rng, w: World, corpus: Corpus, pool: QueryPool): void {
  const metricsDone = new Set<string>();
  const flakyDone = new Set<string>();
  for (let i = 0; i < 480; i++) {
    const s = rng.pick(w.services);
    let s2 = rng.pick(w.services);
    while (s2 === s) s2 = rng.pick(w.services);
    const p = rng.pick(w.people);
    const ident = identifier(rng);
    const path = sourcePath(rng, s, ident);
    const pkg = rng.pick(w.packages);
    const facts: string[] = [];
    let content: string;
    const kind = rng.int(0, 14);
    switch (kind) {
      case 0:
        content = `To regenerate the ${s.name} API client run \`pnpm --filter @acme/${s.name}-client codegen\` (needs Java for openapi-generator).`;
        break;
      case 1:
        content = `TODO(@${p.handle}): delete ${ident} in ${path} once ${s2.name} stops calling it.`;
        break;
      case 2: {
        if (flakyDone.has(s.name)) {
          content = `${s.name} test runs are slower on ARM runners; nobody has profiled why yet.`;
          break;
        }
        flakyDone.add(s.name);
        const variant = `${ident}${rng.pick(["Concurrent", "Timeout", "Retry", "Pagination", "Rollback"])}`;
        const test =
          s.lang === "Go"
            ? `Test${capitalize(variant)}`
            : s.lang === "TypeScript"
              ? `${variant} handles ${rng.pick(["retries", "empty pages", "timeouts"])}`
              : `test_${snake(variant)}`;
        content = `The flaky test \`${test}\` in ${s.name} is quarantined; tracking issue #${rng.int(100, 4000)}.`;
        facts.push(`svc:${s.name}:flaky-test`);
        break;
      }
      case 3:
        content = `${path} is generated by ${rng.pick(["sqlc", "protoc", "openapi-generator", "prisma", "wire"])} — edit the source definitions instead, your changes will be overwritten.`;
        break;
      case 4:
        content = `Tail ${s.name} logs with \`stern ${s.name} --since 10m\`; add \`-o json | jq\` for the structured fields.`;
        break;
      case 5:
        content = `Local dev for ${s.name}: \`docker compose up ${s.name} ${s2.name}\`, then \`make seed\`.`;
        break;
      case 6:
        content = `Never run \`make reset-db\` from the ${s.name} folder with prod credentials — it truncates every table.`;
        break;
      case 7:
        content = `${ident}() in ${path} swallows errors from ${s2.name}; wrap it with withRetry from @acme/retry before relying on it.`;
        break;
      case 8: {
        if (metricsDone.has(s.name)) {
          content = `${s.name} exposes Prometheus metrics on /metrics, but most of them are unused.`;
          break;
        }
        metricsDone.add(s.name);
        const metric = `${s.name.replace(/-/g, "_")}_${rng.pick(["queue_lag_seconds", "inflight_requests", "db_pool_wait_seconds", "webhook_failures_total", "cache_hit_ratio"])}`;
        content = `${s.name} exposes Prometheus metrics on /metrics; the one to watch during incidents is \`${metric}\`.`;
        facts.push(`svc:${s.name}:key-metric`);
        break;
      }
      case 9:
        content = `Set ${envName(s, "SQL_DEBUG")}=1 to get verbose SQL logging from ${s.name}.`;
        break;
      case 10:
        content = `Review checklist for ${s.name}: migrations reversible, metrics for new endpoints, feature flag for anything risky, ${rng.pick(["changelog entry", "load test link", "runbook update", "security review for auth changes"])}.`;
        break;
      case 11:
        content = `${p.name} knows the history of ${ident} in ${s.name}; ask before refactoring it.`;
        break;
      case 12:
        content = `Heads-up: ${pkg.name} ${rng.int(1, 6)}.${rng.int(0, 9)} logs a deprecation warning for ${pkg.ident} options; harmless, fix tracked in #${rng.int(100, 4000)}.`;
        break;
      case 13:
        content = `The ${s.name} Makefile's \`make dev\` target needs GNU make 4; macOS ships 3.81, so \`brew install make\` and use gmake.`;
        break;
      default:
        content = `${s.name} ${rng.pick(["unit tests", "contract tests", "e2e tests"])} run with \`${rng.pick(["make test", "pnpm vitest run", "go test ./...", "pytest -q", "cargo nextest run", "mix test"])}\`; ${rng.pick(["they need Docker running", "they take about two minutes", "set CI=1 to skip the slow ones", "run them twice if the first one times out on cold caches"])}.`;
    }
    corpus.add({
      key: `tip:${i}`,
      content,
      tags: ["tip", s.name],
      sourceType: rng.pick(["auto_capture", "user_explicit", "session"]),
      instance: p.instance,
      at: randomTime(rng),
      facts,
    });
  }
  for (const s of metricsDone)
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`svc:${s}:key-metric`],
      rng.pick([
        `Which metric should I watch for ${s} during an incident?`,
        `What's the key Prometheus metric for ${s}?`,
      ]),
    );
  for (const s of flakyDone)
    factQuery(
      corpus,
      pool,
      "single-fact",
      [`svc:${s}:flaky-test`],
      rng.pick([
        `Which ${s} test is quarantined for flakiness?`,
        `Is there a quarantined flaky test in ${s}?`,
      ]),
    );
}

const MISSING_SERVICES = [
  "fraud-scoring",
  "inventory-sync",
  "geo-locator",
  "video-transcoder",
  "loyalty-points",
  "chat-gateway",
  "contract-signer",
  "shipping-quotes",
  "warranty-claims",
  "image-resizer",
  "calendar-sync",
  "survey-engine",
  "kyc-verifier",
  "webhook-relay",
  "invoice-ocr",
];
const MISSING_PEOPLE = [
  "Harriet Bloom",
  "Mateo Quispe",
  "Sofia Lindgren",
  "Yara Haddou",
  "Oskar Wilk",
  "Nia Thompson",
  "Ravi Shankar",
  "Elena Sokolova",
  "Tobias Frank",
  "Aisha Bello",
];

function noAnswer(rng: Rng, w: World, pool: QueryPool): void {
  const qs: string[] = [];
  for (const s of MISSING_SERVICES) {
    qs.push(
      rng.pick([
        `Which team owns the ${s} service?`,
        `Who is on call for ${s}?`,
        `What database does ${s} use?`,
        `What port does ${s} listen on locally?`,
        `Why did we move ${s} to a new datastore?`,
        `What is the staging URL for ${s}?`,
      ]),
    );
  }
  for (const p of MISSING_PEOPLE) {
    qs.push(
      rng.pick([
        `Where is ${p} based?`,
        `What is ${p}'s GitHub handle?`,
        `Which service is ${p} tech lead for?`,
        `How does ${p} like PRs merged?`,
      ]),
    );
  }
  for (const s of rng.sample(w.services, 15)) {
    qs.push(
      rng.pick([
        `What is the uptime SLA for ${s.name}?`,
        `How much does ${s.name} cost per month in cloud spend?`,
        `Who originally wrote ${s.name}?`,
        `How many replicas does ${s.name} run in production?`,
      ]),
    );
  }
  for (const p of rng.sample(w.people, 10)) {
    qs.push(
      rng.pick([
        `When is ${p.name}'s birthday?`,
        `What is ${p.name}'s favourite programming book?`,
        `Which university did ${p.name} attend?`,
      ]),
    );
  }
  for (const pkg of rng.sample(w.packages, 6))
    qs.push(
      rng.pick([
        `What license is ${pkg.name} published under?`,
        `How many weekly downloads does ${pkg.name} get?`,
      ]),
    );
  qs.push(
    "What is the capital of Australia?",
    "How many moons does Jupiter have?",
    "Who won the 2018 World Cup?",
    "What's a good recipe for banana bread?",
  );
  for (const q of qs) pool.add({ query: q, category: "no-answer", relevant: [] });
}

// ---------------------------------------------------------------- assembly

export function generateDataset(seed = DEFAULT_SEED): { memories: EvalMemory[]; queries: EvalQuery[] } {
  const rng = new Rng(seed);
  const world = buildWorld(rng.fork("world"));
  const plan = planFacts(rng.fork("plan"), world);
  const corpus = new Corpus();
  const pool = new QueryPool();
  serviceFacts(rng.fork("service-facts"), world, plan, corpus, pool);
  peopleFacts(rng.fork("people"), world, corpus, pool);
  decisions(rng.fork("decisions"), world, plan, corpus, pool);
  paraphrases(rng.fork("paraphrase"), world, plan, corpus, pool);
  multiHop(rng.fork("multi-hop"), world, plan, corpus, pool);
  preferences(rng.fork("preferences"), world, corpus, pool);
  corrections(rng.fork("corrections"), world, corpus, pool);
  temporal(rng.fork("temporal"), world, corpus, pool);
  events(rng.fork("events"), world, corpus, pool);
  longTurns(rng.fork("turns"), world, corpus, pool);
  tips(rng.fork("tips"), world, corpus, pool);
  noAnswer(rng.fork("no-answer"), world, pool);

  if (process.env.EVAL_DEBUG) for (const [c, l] of pool.byCategory) console.error(c, l.length);
  const pick = rng.fork("query-selection");
  const queries: EvalQuery[] = [];
  for (const category of QUERY_CATEGORIES) {
    const all = pool.byCategory.get(category) ?? [];
    const chosen = pick.sample(all, Math.min(all.length, TARGET[category]));
    chosen.forEach((q, i) => {
      queries.push({
        id: `q-${category}-${String(i + 1).padStart(3, "0")}`,
        query: q.query,
        category,
        relevant_ids: q.relevant,
        reference_date: new Date(q.ref ?? REF).toISOString(),
        ...(q.window ? { window: q.window } : {}),
      });
    });
  }
  const memories = corpus.memories
    .slice()
    .sort((a, b) =>
      a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1,
    );
  const problems = validateDataset({ memories, queries });
  if (problems.length > 0)
    throw new Error(`generated data set is invalid:\n${problems.slice(0, 20).join("\n")}`);
  return { memories, queries };
}

/** The invariants the labels rely on; returns one line per violation. */
export function validateDataset(data: { memories: EvalMemory[]; queries: EvalQuery[] }): string[] {
  const problems: string[] = [];
  const byId = new Map(data.memories.map((m) => [m.id, m]));
  if (byId.size !== data.memories.length) problems.push("duplicate memory ids");
  const superseded = new Set(data.memories.filter((m) => m.supersedes).map((m) => m.supersedes as string));
  for (const m of data.memories) {
    if (m.supersedes && !byId.has(m.supersedes)) problems.push(`${m.id} supersedes unknown ${m.supersedes}`);
    if (m.supersedes && (byId.get(m.supersedes) as EvalMemory).created_at >= m.created_at)
      problems.push(`${m.id} is older than the memory it corrects`);
    const t = Date.parse(m.created_at);
    if (!(t >= START && t < REF)) problems.push(`${m.id} created_at out of range`);
  }
  const counts = new Map<string, number>();
  for (const q of data.queries) {
    counts.set(q.category, (counts.get(q.category) ?? 0) + 1);
    for (const id of q.relevant_ids) {
      if (!byId.has(id)) problems.push(`${q.id}: unknown relevant id ${id}`);
      if (superseded.has(id)) problems.push(`${q.id}: relevant ${id} is superseded`);
    }
    if ((q.category === "no-answer") !== (q.relevant_ids.length === 0))
      problems.push(`${q.id}: relevant_ids do not fit ${q.category}`);
    if (q.category === "multi-hop" && q.relevant_ids.length < 2)
      problems.push(`${q.id}: multi-hop needs two memories`);
    if (q.category === "paraphrase") {
      for (const id of q.relevant_ids) {
        const shared = sharedContentWords(q.query, (byId.get(id) as EvalMemory).content);
        if (shared.length > 0) problems.push(`${q.id}: shares ${shared.join(",")} with its answer`);
      }
    }
    if (q.category === "temporal") {
      if (!q.window) problems.push(`${q.id}: temporal query without window`);
      else
        for (const id of q.relevant_ids) {
          const t = (byId.get(id) as EvalMemory).created_at;
          if (t < q.window.after || t >= q.window.before)
            problems.push(`${q.id}: relevant memory outside its window`);
        }
    }
  }
  for (const c of QUERY_CATEGORIES)
    if ((counts.get(c) ?? 0) < MIN_PER_CATEGORY) problems.push(`only ${counts.get(c) ?? 0} ${c} queries`);
  if (data.memories.length < 2000) problems.push(`only ${data.memories.length} memories`);
  return problems;
}

export function toJsonl(rows: readonly object[]): string {
  return `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`;
}

function main(): void {
  const args = process.argv.slice(2);
  const seedAt = args.indexOf("--seed");
  const outAt = args.indexOf("--out");
  const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : DEFAULT_SEED;
  const out = outAt >= 0 ? args[outAt + 1] : DEFAULT_DATA_DIR;
  const { memories, queries } = generateDataset(seed);
  const files = { "memories.jsonl": toJsonl(memories), "queries.jsonl": toJsonl(queries) };
  if (args.includes("--check")) {
    for (const [name, text] of Object.entries(files)) {
      if (readFileSync(join(out, name), "utf8") !== text) {
        console.error(`${name} differs from the generator's output; run node test/eval/generate-dataset.ts`);
        process.exit(1);
      }
    }
    console.log("data set matches the generator");
    return;
  }
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text);
  const per = new Map<string, number>();
  for (const q of queries) per.set(q.category, (per.get(q.category) ?? 0) + 1);
  const bytes = Object.values(files).reduce((a, t) => a + Buffer.byteLength(t), 0);
  console.log(
    `${memories.length} memories, ${queries.length} queries (${[...per].map(([c, n]) => `${c} ${n}`).join(", ")}), ${(bytes / 1e6).toFixed(2)} MB → ${out}`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
