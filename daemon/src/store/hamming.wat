;; The Hamming scan of vector-index.ts's lists (hamming-kernel.ts embeds its binary; the test
;; beside it checks the two still agree). One instance per list, each with its own memory:
;;   [0, stride)              the query's code
;;   [stride, …)              the list's codes, `stride` bytes each (64-bit words, zero-padded)
;;   dist                     scratch: one u16 distance per code, placed by the caller
;; i64.popcnt is one instruction: ~10x the JS popcount over 100k × 512-bit codes.
(module
  (memory (export "memory") 1)
  ;; dist[i] = popcount(code i xor query), for the n codes from byte `codes`, `pairs` i64 words each
  (func (export "hamming") (param $codes i32) (param $n i32) (param $pairs i32) (param $dist i32)
    (local $stride i32) (local $end i32) (local $j i32) (local $d i64)
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
        (local.set $dist (i32.add (local.get $dist) (i32.const 2)))
        (local.set $codes (i32.add (local.get $codes) (local.get $stride)))
        (br $code)))))
