;; The Hamming scan of vector-index.ts's lists (hamming-kernel.ts embeds its binary;
;; wasm-kernel.test.ts checks the two still agree). One instance per list, each with its own memory:
;;   [0, stride)              the query's code
;;   [stride, …)              the list's codes, `stride` bytes each (64-bit words, zero-padded)
;;   dist, hist, picked       scratch, placed by the caller: one u16 distance per code, one u32
;;                            count per distance, the positions `select` picks
;; i64.popcnt is one instruction: ~10x the JS popcount over 100k × 512-bit codes.
(module
  (memory (export "memory") 1)
  ;; dist[i] = popcount(code i xor query), for the n codes from byte `codes`, `pairs` i64 words
  ;; each; hist[dist[i]] += 1
  (func (export "hamming") (param $codes i32) (param $n i32) (param $pairs i32) (param $dist i32) (param $hist i32)
    (local $stride i32) (local $end i32) (local $j i32) (local $d i64) (local $bin i32)
    (local.set $stride (i32.shl (local.get $pairs) (i32.const 3)))
    (local.set $end (i32.add (local.get $codes) (i32.mul (local.get $n) (local.get $stride))))
    (block $done
      (loop $code
        (br_if $done (i32.ge_u (local.get $codes) (local.get $end)))
        (local.set $d (i64.const 0))
        (local.set $j (i32.const 0))
        (loop $word
          (local.set $d
            (i64.add (local.get $d)
              (i64.popcnt
                (i64.xor
                  (i64.load (i32.add (local.get $codes) (local.get $j)))
                  (i64.load (local.get $j))))))
          (local.set $j (i32.add (local.get $j) (i32.const 8)))
          (br_if $word (i32.lt_u (local.get $j) (local.get $stride))))
        (i32.store16 (local.get $dist) (i32.wrap_i64 (local.get $d)))
        (local.set $bin (i32.add (local.get $hist) (i32.shl (i32.wrap_i64 (local.get $d)) (i32.const 2))))
        (i32.store (local.get $bin) (i32.add (i32.load (local.get $bin)) (i32.const 1)))
        (local.set $dist (i32.add (local.get $dist) (i32.const 2)))
        (local.set $codes (i32.add (local.get $codes) (local.get $stride)))
        (br $code))))
  ;; The positions i < n whose dist[i] ≤ threshold, in order, at most `limit` of them, written
  ;; as u32 from byte `out`; returns how many
  (func (export "select") (param $dist i32) (param $n i32) (param $threshold i32) (param $out i32) (param $limit i32) (result i32)
    (local $i i32) (local $count i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (br_if $done (i32.ge_u (local.get $count) (local.get $limit)))
        (if (i32.le_u (i32.load16_u (i32.add (local.get $dist) (i32.shl (local.get $i) (i32.const 1)))) (local.get $threshold))
          (then
            (i32.store (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))) (local.get $i))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $count)))
