// temporary: session-option micro-benchmark (deleted afterwards)
import { InferenceSession, Tensor } from "onnxruntime-node";
const [model, configsJson, reps = "3", singleN = "40"] = process.argv.slice(2);
const configs = JSON.parse(configsJson);
function feeds(b, s) {
  const ids = new BigInt64Array(b * s).map((_, i) => BigInt(1000 + ((i * 7919) % 20000)));
  const ones = new BigInt64Array(b * s).fill(1n);
  return { input_ids: new Tensor("int64", ids, [b, s]), attention_mask: new Tensor("int64", ones, [b, s]), token_type_ids: new Tensor("int64", new BigInt64Array(b * s), [b, s]) };
}
const sessions = [];
for (const c of configs) {
  const { name, model: m, ...opts } = c;
  sessions.push([name, await InferenceSession.create(m ?? model, { executionProviders: ["cpu"], interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all", ...opts })]);
}
const single = feeds(1, 52), b10 = feeds(10, 48), b32 = feeds(32, 48);
const res = Object.fromEntries(configs.map((c) => [c.name, { p50: [], min: [], cpu: [], b10: [], b10cpu: [], b32: [], b32cpu: [] }]));
async function timed(s, f, n) {
  const c0 = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < n; i++) await s.run(f);
  const c1 = process.cpuUsage(c0);
  return [(performance.now() - t) / n, (c1.user + c1.system) / 1000 / n];
}
for (let r = 0; r < Number(reps); r++) {
  for (const [name, s] of sessions) {
    for (let i = 0; i < 3; i++) await s.run(single);
    const lat = [];
    const c0 = process.cpuUsage();
    for (let i = 0; i < Number(singleN); i++) { const t = performance.now(); await s.run(single); lat.push(performance.now() - t); }
    const c1 = process.cpuUsage(c0);
    lat.sort((a, b) => a - b);
    res[name].p50.push(lat[lat.length >> 1]); res[name].min.push(lat[0]); res[name].cpu.push((c1.user + c1.system) / 1000 / lat.length);
    let [w, c] = await timed(s, b10, 3); res[name].b10.push(10000 / w); res[name].b10cpu.push(10000 / c);
    [w, c] = await timed(s, b32, 1); res[name].b32.push(32000 / w); res[name].b32cpu.push(32000 / c);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const f = (x) => x.toFixed(0).padStart(4);
for (const [name, r] of Object.entries(res)) console.log(name.padEnd(22), "single p50", med(r.p50).toFixed(1), "min", Math.min(...r.min).toFixed(1), "cpu/run", med(r.cpu).toFixed(1), "ms | texts/s wall(per-cpu-s): 10x48", f(med(r.b10)), `(${f(med(r.b10cpu))})`, "32x48", f(med(r.b32)), `(${f(med(r.b32cpu))})`);
