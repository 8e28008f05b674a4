import { ListCodes } from "./hamming-kernel.ts";
import { Int8Rescorer } from "./rescore-kernel.ts";

/**
 * In-memory vector index over the vectors persisted in sqlite-vec's `vec0` table.
 *
 * Measured on this machine: sqlite-vec's brute-force float KNN takes ~62 ms at 100k × 384, and
 * reading one vector back by rowid ~1 ms (it reads the whole 1024-vector chunk), so neither can
 * serve recall. This index keeps, per vector, a 1-bit code (sign of each dimension, 64 B at 512
 * dims) and an int8 copy with its scale (dims + 4 B): 0.6 GB at 1M × 512 where float32 would
 * take 2 GB. A query ranks candidates by Hamming distance of the codes and rescores the best few
 * hundred (at least RESCORE_MIN) with the int8 vectors.
 *
 * Past `TRAIN_AT` vectors the codes are grouped into `LIST_COUNT` inverted lists (k-modes over
 * the codes: centroids are the bitwise majority of their members), and a query scans the lists
 * whose mean vectors are nearest it until `scanBudget` codes are seen, instead of every code: a
 * full Hamming scan in JS costs ~40 ms at 1M × 512. Each list keeps its members' codes in order
 * where a WebAssembly kernel scans them (`ListCodes`). Lists only choose what is scanned; scores
 * are always recomputed, so an unlucky list assignment costs recall, never correctness. Known
 * limit: with more natural clusters than lists (the 1M synthetic corpus has 1,000 topics) a topic
 * with no centroid of its own is spread over many lists, and recall@10 fell to 0.70 there.
 */
export interface IndexHit {
  rid: number;
  score: number;
}

/**
 * Below this many vectors one list holds everything: a full scan is cheap there (3.8 ms at
 * 100k × 384 against 3.9 ms through trained lists, which cost recall@10 0.95 instead of 0.99).
 */
const TRAIN_AT = 200_000;
/** The fewest codes a query scans once the lists are trained. */
const MIN_SCAN = 20_000;
const LIST_COUNT = 256;
/**
 * The fewest candidates rescored with int8 vectors, whatever the caller asks for: measured on a
 * synthetic corpus of 1,000 near-duplicates per topic at 100k × 512, the Hamming order's top
 * 200 held 0.83 of the exact top 10 and its top 400 0.94; rescoring costs ~1 µs a candidate.
 */
const RESCORE_MIN = 1000;
const NO_SLOT = -1;
/** Lists nearest by Hamming distance whose mean vectors then decide where a vector goes. */
const PREFILTER = 8;

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bits that differ between the code at `codes[offset…]` and `q` (`ListCodes` scans lists). */
function hamming(codes: Uint32Array<ArrayBufferLike>, offset: number, q: Uint32Array): number {
  let d = 0;
  for (let j = 0; j < q.length; j++) d += popcount32(codes[offset + j] ^ q[j]);
  return d;
}

/** The arrays an index is made of: what a snapshot file holds (vector-index-snapshot.ts). */
export interface IndexArrays {
  count: number;
  rids: Int32Array<ArrayBufferLike>;
  /** The list of each slot (0 while untrained). */
  listOf: Uint16Array<ArrayBufferLike>;
  scales: Float32Array<ArrayBufferLike>;
  codes: Uint32Array<ArrayBufferLike>;
  int8: Int8Array<ArrayBufferLike>;
  /** Centroid codes, `words` per list; empty while untrained. */
  centroids: Uint32Array<ArrayBufferLike>;
  /** Each list's sum of member vectors, `dims` per list: a query ranks lists by their mean. */
  sums: Float64Array<ArrayBufferLike>;
}

export class VectorIndex {
  readonly dims: number;
  readonly words: number;
  private capacity = 0;
  private count = 0;
  private rids: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private scales: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private codes: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  private int8: Int8Array<ArrayBufferLike> = new Int8Array(0);
  private listOf: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
  /** Position of each slot within its list's members. */
  private posInList: Int32Array<ArrayBufferLike> = new Int32Array(0);
  /** Slot of each rid (rowids are dense integers), NO_SLOT when not indexed. */
  private slotOfRid = new Int32Array(0);
  private centroids: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  /** Per list, the sum of its members' vectors (kept as members come and go). */
  private sums: Float64Array<ArrayBufferLike> = new Float64Array(0);
  /** While training places every vector: the sample's mean vector per list. */
  private assignMeans: Float64Array | null = null;
  private members: Int32Array[] = [new Int32Array(0)];
  private memberCount: number[] = [0];
  /**
   * Each list's members' codes, in member order, where the WebAssembly kernel scans them
   * (hamming-kernel.ts). Read through `codes` by slot, a list's members lie all over it: at
   * 1M × 512 the scan of 62.5k codes took 17 ms (a cache and TLB miss per code on this VM).
   * Gathered at a list's first scan (null until then): copying 1M codes as a snapshot is
   * adopted held the index back by ~0.5 s at start.
   */
  private memberCodes: (ListCodes | null)[] = [];
  /** Rescores candidates with their int8 vectors (rescore-kernel.ts); made at the first search. */
  private rescorer: Int8Rescorer | null = null;
  /** Deferred training (bulk loads train once at the end). */
  private autoTrain = true;
  /** Size at which the lists are trained, and the fewest codes a query scans. */
  private readonly trainAt: number;

  constructor(dims: number, options: { trainAt?: number } = {}) {
    this.dims = dims;
    this.words = Math.ceil(dims / 32);
    this.trainAt = options.trainAt ?? TRAIN_AT;
    this.emptyLists([0]);
  }

  get size(): number {
    return this.count;
  }

  /** The largest rowid indexed (0 when empty). */
  maxRid(): number {
    let max = 0;
    for (let s = 0; s < this.count; s++) max = Math.max(max, this.rids[s]);
    return max;
  }

  /** Inverted lists in use (1 until trained). */
  get listCount(): number {
    return this.members.length;
  }

  has(rid: number): boolean {
    return rid < this.slotOfRid.length && this.slotOfRid[rid] !== NO_SLOT;
  }

  upsert(rid: number, vector: Float32Array | number[]): void {
    let slot = this.has(rid) ? this.slotOfRid[rid] : NO_SLOT;
    const d = this.dims;
    const w = this.words;
    if (slot === NO_SLOT) {
      if (this.count === this.capacity) this.grow(Math.max(1024, Math.ceil(this.capacity * 1.25)));
      slot = this.count++;
      this.rids[slot] = rid;
      this.mapRid(rid, slot);
    } else {
      this.leaveList(slot);
    }
    let max = 0;
    for (let i = 0; i < d; i++) max = Math.max(max, Math.abs(vector[i]));
    const scale = max / 127 || 1;
    this.scales[slot] = scale;
    const o8 = slot * d;
    const oc = slot * w;
    this.codes.fill(0, oc, oc + w);
    for (let i = 0; i < d; i++) {
      const x = vector[i];
      this.int8[o8 + i] = Math.round(x / scale);
      if (x > 0) this.codes[oc + (i >>> 5)] |= 1 << (i & 31);
    }
    this.joinList(slot, this.nearestList(slot));
    if (this.autoTrain && this.centroids.length === 0 && this.count >= this.trainAt) this.train();
  }

  remove(rid: number): void {
    if (!this.has(rid)) return;
    const slot = this.slotOfRid[rid];
    this.leaveList(slot);
    const last = this.count - 1;
    if (slot !== last) {
      // Move the last slot into the hole.
      const lastRid = this.rids[last];
      const list = this.listOf[last];
      this.int8.copyWithin(slot * this.dims, last * this.dims, (last + 1) * this.dims);
      this.codes.copyWithin(slot * this.words, last * this.words, (last + 1) * this.words);
      this.scales[slot] = this.scales[last];
      this.rids[slot] = lastRid;
      this.slotOfRid[lastRid] = slot;
      this.listOf[slot] = list;
      this.posInList[slot] = this.posInList[last];
      this.members[list][this.posInList[slot]] = slot;
    }
    this.slotOfRid[rid] = NO_SLOT;
    this.count--;
  }

  clear(): void {
    this.slotOfRid.fill(NO_SLOT);
    this.count = 0;
    this.centroids = new Uint32Array(0);
    this.sums = new Float64Array(0);
    this.emptyLists([0]);
  }

  /** Cosine (dot of unit vectors) of the query with each given rid that is indexed. */
  scoreRids(query: Float32Array, rids: Iterable<number>): IndexHit[] {
    const slots: number[] = [];
    for (const rid of rids) if (this.has(rid)) slots.push(this.slotOfRid[rid]);
    return this.rescore(query, slots, slots.length);
  }

  /**
   * The `candidates` nearest after rescoring, with the int8 vectors, the nearest by Hamming
   * distance of the 1-bit codes (at least RESCORE_MIN of them), best first. With `allowed`, only
   * those rids are considered (every one of them, lists aside); without, the lists nearest the
   * query until `scanBudget` codes.
   */
  search(query: Float32Array, candidates: number, allowed: Iterable<number> | null = null): IndexHit[] {
    if (this.count === 0) return [];
    const q = new Uint32Array(this.words);
    for (let i = 0; i < this.dims; i++) if (query[i] > 0) q[i >>> 5] |= 1 << (i & 31);
    const { slots, n } = allowed
      ? this.nearestOf(q, this.slotsOf(allowed), candidates)
      : this.nearestInLists(q, this.probe(query), candidates);
    return this.rescore(query, slots, n)
      .sort((a, b) => b.score - a.score)
      .slice(0, candidates);
  }

  /** How many codes a query scans through trained lists: a sixteenth (62.5k at 1M), at least 20k. */
  scanBudget(): number {
    return Math.max(Math.min(this.trainAt, MIN_SCAN), Math.ceil(this.count / 16));
  }

  /** The first `n` of `slots` with their int8 vectors' dot with the query. */
  private rescore(query: Float32Array, slots: ArrayLike<number>, n: number): IndexHit[] {
    this.rescorer ??= new Int8Rescorer(this.dims);
    const scores = this.rescorer.score(query, this.int8, this.scales, slots, n);
    const hits: IndexHit[] = new Array(n);
    for (let c = 0; c < n; c++) hits[c] = { rid: this.rids[slots[c]], score: scores[c] };
    return hits;
  }

  private slotsOf(rids: Iterable<number>): Int32Array {
    const out: number[] = [];
    for (const rid of rids) if (this.has(rid)) out.push(this.slotOfRid[rid]);
    return Int32Array.from(out);
  }

  /** A count per Hamming distance a code can have (ListCodes pads codes to 64-bit words). */
  private distanceCounts(): Uint32Array {
    return new Uint32Array(Math.ceil(this.words / 2) * 64 + 1);
  }

  /** The Hamming distance within which `want` of `total` codes lie (`hist`: codes per distance). */
  private threshold(
    hist: Uint32Array,
    total: number,
    candidates: number,
  ): { threshold: number; limit: number } {
    const want = Math.min(Math.max(candidates, RESCORE_MIN), total);
    let threshold = 0;
    for (let acc = 0; threshold < hist.length - 1; threshold++) {
      acc += hist[threshold];
      if (acc >= want) break;
    }
    // Ties at the threshold are taken in scan order, up to twice what was wanted.
    return { threshold, limit: want * 2 };
  }

  /** Of the given slots, those nearest `q` by Hamming distance (JS: a filter's scattered rows). */
  private nearestOf(q: Uint32Array, slots: Int32Array, candidates: number): { slots: Int32Array; n: number } {
    const dist = new Uint16Array(slots.length);
    const hist = this.distanceCounts();
    for (let s = 0; s < slots.length; s++) {
      dist[s] = hamming(this.codes, slots[s] * this.words, q);
      hist[dist[s]]++;
    }
    const { threshold, limit } = this.threshold(hist, slots.length, candidates);
    const out = new Int32Array(Math.min(limit, slots.length));
    let n = 0;
    for (let s = 0; s < slots.length && n < out.length; s++) if (dist[s] <= threshold) out[n++] = slots[s];
    return { slots: out, n };
  }

  /** The members of `lists` nearest `q` by Hamming distance, scanned and picked by the kernel. */
  private nearestInLists(
    q: Uint32Array,
    lists: number[],
    candidates: number,
  ): { slots: Int32Array; n: number } {
    const hist = this.distanceCounts();
    let total = 0;
    for (const l of lists) {
      (this.memberCodes[l] ?? this.gatherCodes(l)).scan(q, this.memberCount[l], hist);
      total += this.memberCount[l];
    }
    const { threshold, limit } = this.threshold(hist, total, candidates);
    const out = new Int32Array(Math.min(limit, total));
    let n = 0;
    for (const l of lists) {
      if (n >= out.length) break;
      const members = this.members[l];
      const picked = (this.memberCodes[l] as ListCodes).select(
        this.memberCount[l],
        threshold,
        out.length - n,
      );
      for (let i = 0; i < picked.length; i++) out[n++] = members[picked[i]];
    }
    return { slots: out, n };
  }

  /** List `l`'s members' codes, copied in member order (kept up to date from then on). */
  private gatherCodes(l: number): ListCodes {
    const members = this.members[l];
    const codes = new ListCodes(this.words, members.length);
    for (let pos = 0; pos < this.memberCount[l]; pos++) codes.set(pos, this.codes, members[pos] * this.words);
    this.memberCodes[l] = codes;
    return codes;
  }

  /** The lists nearest the query, nearest first, until their members meet the scan budget. */
  private probe(query: Float32Array): number[] {
    const lists = this.members.length;
    if (lists === 1) return [0];
    // Lists by the query's dot with their mean vector (ranking them by the Hamming distance of
    // the centroid codes lost 7 points of recall@10 in the index's test).
    const dims = this.dims;
    const sums = this.sums;
    const order = Array.from({ length: lists }, (_, l) => {
      let d = 0;
      for (let i = 0, o = l * dims; i < dims; i++) d -= sums[o + i] * query[i];
      return { l, d: d / Math.max(1, this.memberCount[l]) };
    }).sort((a, b) => a.d - b.d);
    const budget = Math.min(this.count, this.scanBudget());
    const out: number[] = [];
    let n = 0;
    for (const { l } of order) {
      if (n >= budget) break;
      out.push(l);
      n += this.memberCount[l];
    }
    return out;
  }

  /**
   * The list for a slot's vector: the few lists whose centroid codes are nearest by Hamming
   * distance, then of those the one whose mean vector has the largest dot with it, the measure
   * queries rank lists by (Hamming alone put neighbours in lists the query did not probe:
   * recall@10 0.91 at 100k × 384).
   */
  private nearestList(slot: number): number {
    const lists = this.centroids.length / this.words;
    if (lists <= 1) return 0;
    const w = this.words;
    const offset = slot * w;
    const near: number[] = [];
    const nearD: number[] = [];
    for (let l = 0; l < lists; l++) {
      let d = 0;
      for (let j = 0; j < w; j++) d += popcount32(this.centroids[l * w + j] ^ this.codes[offset + j]);
      if (near.length === PREFILTER && d >= nearD[PREFILTER - 1]) continue;
      let at = near.length;
      while (at > 0 && nearD[at - 1] > d) at--;
      near.splice(at, 0, l);
      nearD.splice(at, 0, d);
      if (near.length > PREFILTER) {
        near.pop();
        nearD.pop();
      }
    }
    const means = this.assignMeans;
    if (!means && this.sums.length === 0) return near[0];
    const dims = this.dims;
    const o = slot * dims;
    let best = near[0];
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const l of near) {
      const count = means ? 1 : this.memberCount[l];
      if (count === 0) continue;
      const m = means ?? this.sums;
      let dot = 0;
      for (let i = 0, c = l * dims; i < dims; i++) dot += this.int8[o + i] * m[c + i];
      if (dot / count > bestScore) {
        bestScore = dot / count;
        best = l;
      }
    }
    return best;
  }

  /** Empty lists with room for `capacities[l]` members each. */
  private emptyLists(capacities: number[]): void {
    this.members = capacities.map((c) => new Int32Array(c));
    this.memberCodes = capacities.map(() => null);
    this.memberCount = capacities.map(() => 0);
  }

  private joinList(slot: number, list: number): void {
    let m = this.members[list];
    const c = this.memberCount[list];
    const w = this.words;
    if (c === m.length) {
      const bigger = new Int32Array(Math.max(64, Math.ceil(m.length * 1.5)));
      bigger.set(m);
      m = bigger;
      this.members[list] = m;
      this.memberCodes[list]?.reserve(bigger.length);
    }
    m[c] = slot;
    this.memberCodes[list]?.set(c, this.codes, slot * w);
    this.memberCount[list] = c + 1;
    this.listOf[slot] = list;
    this.posInList[slot] = c;
    this.addToSum(slot, list, 1);
  }

  private addToSum(slot: number, list: number, sign: 1 | -1): void {
    if (this.sums.length === 0) return;
    const d = this.dims;
    const scale = this.scales[slot] * sign;
    for (let i = 0, o = slot * d, m = list * d; i < d; i++) this.sums[m + i] += this.int8[o + i] * scale;
  }

  private leaveList(slot: number): void {
    const list = this.listOf[slot];
    this.addToSum(slot, list, -1);
    const m = this.members[list];
    const last = --this.memberCount[list];
    const pos = this.posInList[slot];
    if (pos !== last) {
      m[pos] = m[last];
      this.posInList[m[pos]] = pos;
      this.memberCodes[list]?.move(pos, last);
    }
  }

  private mapRid(rid: number, slot: number): void {
    if (rid >= this.slotOfRid.length) {
      const bigger = new Int32Array(Math.max(1024, rid + 1, Math.ceil(this.slotOfRid.length * 1.25)));
      bigger.fill(NO_SLOT);
      bigger.set(this.slotOfRid);
      this.slotOfRid = bigger;
    }
    this.slotOfRid[rid] = slot;
  }

  /**
   * Groups the codes into lists: k-modes over a sample (assign each to the nearest centroid by
   * Hamming distance, centroid = majority bit of its members), then every code to its nearest.
   */
  train(): void {
    const n = this.count;
    const w = this.words;
    const d = this.dims;
    const lists = Math.min(LIST_COUNT, Math.max(1, Math.floor(n / 64)));
    if (lists < 2) return;
    const sampleSize = Math.min(n, 16_384);
    const stride = n / sampleSize;
    const sample = Int32Array.from({ length: sampleSize }, (_, i) => Math.floor(i * stride));
    const centroids = new Uint32Array(lists * w);
    for (let l = 0; l < lists; l++) {
      const s = sample[Math.floor((l * sampleSize) / lists)];
      centroids.set(this.codes.subarray(s * w, (s + 1) * w), l * w);
    }
    const assign = new Uint16Array(sampleSize);
    const ones = new Int32Array(lists * d);
    const sizes = new Int32Array(lists);
    for (let iter = 0; iter < 6; iter++) {
      this.centroids = centroids;
      for (let i = 0; i < sampleSize; i++) assign[i] = this.nearestList(sample[i]);
      ones.fill(0);
      sizes.fill(0);
      for (let i = 0; i < sampleSize; i++) {
        const l = assign[i];
        const o = sample[i] * w;
        sizes[l]++;
        for (let b = 0; b < d; b++) if (this.codes[o + (b >>> 5)] & (1 << (b & 31))) ones[l * d + b]++;
      }
      centroids.fill(0);
      for (let l = 0; l < lists; l++) {
        if (sizes[l] === 0) {
          // An empty list restarts at a sample far from nothing in particular: spread them.
          const s = sample[(iter * 7919 + l * 104729) % sampleSize];
          centroids.set(this.codes.subarray(s * w, (s + 1) * w), l * w);
          continue;
        }
        for (let b = 0; b < d; b++)
          if (ones[l * d + b] * 2 > sizes[l]) centroids[l * w + (b >>> 5)] |= 1 << (b & 31);
      }
    }
    this.centroids = centroids;
    // The sample's mean vector per list places every vector; then the lists' own sums take over.
    const means = new Float64Array(lists * d);
    for (let i = 0; i < sampleSize; i++) {
      const s = sample[i];
      const scale = this.scales[s] / Math.max(1, sizes[assign[i]]);
      for (let b = 0, o = s * d, m = assign[i] * d; b < d; b++) means[m + b] += this.int8[o + b] * scale;
    }
    this.emptyLists(new Array(lists).fill(Math.ceil((n / lists) * 1.5) + 16));
    this.sums = new Float64Array(lists * d);
    this.assignMeans = means;
    try {
      for (let s = 0; s < n; s++) this.joinList(s, this.nearestList(s));
    } finally {
      this.assignMeans = null;
    }
  }

  /** Loads many vectors (a rebuild): lists are trained once, at the end. */
  bulkLoad(rows: Iterable<[number, Float32Array]>): void {
    this.autoTrain = false;
    try {
      for (const [rid, v] of rows) this.upsert(rid, v);
    } finally {
      this.autoTrain = true;
    }
    if (this.count >= this.trainAt) this.train();
  }

  /** The index's arrays, trimmed to its size (for a snapshot). */
  arrays(): IndexArrays {
    const n = this.count;
    return {
      count: n,
      rids: this.rids.subarray(0, n),
      listOf: this.listOf.subarray(0, n),
      scales: this.scales.subarray(0, n),
      codes: this.codes.subarray(0, n * this.words),
      int8: this.int8.subarray(0, n * this.dims),
      centroids: this.centroids,
      sums: this.sums,
    };
  }

  /** Adopt arrays read from a snapshot (sized with headroom: see `allocate`). */
  adopt(a: IndexArrays): void {
    this.count = a.count;
    this.capacity = a.rids.length;
    this.rids = a.rids;
    this.listOf = a.listOf;
    this.scales = a.scales;
    this.codes = a.codes;
    this.int8 = a.int8;
    this.centroids = a.centroids;
    this.posInList = new Int32Array(this.capacity);
    let maxRid = 0;
    for (let s = 0; s < a.count; s++) maxRid = Math.max(maxRid, a.rids[s]);
    this.slotOfRid = new Int32Array(maxRid + 1025).fill(NO_SLOT);
    const lists = Math.max(1, a.centroids.length / this.words);
    const sizes = new Int32Array(lists);
    for (let s = 0; s < a.count; s++) sizes[a.listOf[s]]++;
    this.emptyLists(Array.from(sizes, (size) => Math.ceil(size * 1.25) + 16));
    this.sums = new Float64Array(0); // saved already: not summed again
    for (let s = 0; s < a.count; s++) {
      this.slotOfRid[a.rids[s]] = s;
      this.joinList(s, a.listOf[s]);
    }
    this.sums = a.sums;
  }

  /**
   * Empty arrays for `count` vectors plus headroom, for a snapshot to be read into: in
   * SharedArrayBuffers, so a worker thread fills them (vector-snapshot-reader.ts).
   */
  allocate(count: number, lists: number): IndexArrays {
    const cap = count + Math.max(1024, Math.ceil(count / 16));
    const buffer = (bytes: number) => new SharedArrayBuffer(bytes);
    const centroids = lists > 1 ? lists : 0;
    return {
      count,
      rids: new Int32Array(buffer(cap * 4)),
      listOf: new Uint16Array(buffer(cap * 2)),
      scales: new Float32Array(buffer(cap * 4)),
      codes: new Uint32Array(buffer(cap * this.words * 4)),
      int8: new Int8Array(buffer(cap * this.dims)),
      centroids: new Uint32Array(buffer(centroids * this.words * 4)),
      sums: new Float64Array(buffer(centroids * this.dims * 8)),
    };
  }

  private grow(capacity: number): void {
    const n = this.count;
    const copy = <T extends Int32Array | Uint32Array | Int8Array | Float32Array | Uint16Array>(
      old: T,
      make: (len: number) => T,
      per: number,
    ): T => {
      const next = make(capacity * per);
      next.set(old.subarray(0, n * per) as never);
      return next;
    };
    this.rids = copy(this.rids, (l) => new Int32Array(l), 1);
    this.scales = copy(this.scales, (l) => new Float32Array(l), 1);
    this.listOf = copy(this.listOf, (l) => new Uint16Array(l), 1);
    this.posInList = copy(this.posInList, (l) => new Int32Array(l), 1);
    this.codes = copy(this.codes, (l) => new Uint32Array(l), this.words);
    this.int8 = copy(this.int8, (l) => new Int8Array(l), this.dims);
    this.capacity = capacity;
  }
}
