/** pgvector's text form: `[x,y,…]`, non-finite components written as 0. */
export function vectorText(v: Float32Array): string {
  let s = "[";
  for (let i = 0; i < v.length; i++) s += (i ? "," : "") + (Number.isFinite(v[i]) ? v[i] : 0);
  return `${s}]`;
}

export function parseVector(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(",").map(Number));
}
