;; The int8 rescoring of vector-index.ts (rescore-kernel.ts embeds its binary;
;; wasm-kernel.test.ts checks the two still agree). Memory, laid out by the caller:
;;   query      `dims` i16: the query, scaled to integers
;;   vectors    `n` int8 vectors, `dims` bytes each (`dims` a multiple of 8, zero-padded)
;;   out        one i32 per vector
;; i32x4.dot_i16x8_s multiplies and adds 8 pairs at once: the JS loop did one.
(module
  (memory (export "memory") 1)
  ;; out[i] = Σ_j vector_i[j] × query[j]
  (func (export "dots") (param $vectors i32) (param $n i32) (param $dims i32) (param $query i32) (param $out i32)
    (local $end i32) (local $j i32) (local $acc v128)
    (local.set $end (i32.add (local.get $vectors) (i32.mul (local.get $n) (local.get $dims))))
    (block $done
      (loop $vector
        (br_if $done (i32.ge_u (local.get $vectors) (local.get $end)))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (loop $chunk
          (local.set $acc
            (i32x4.add (local.get $acc)
              (i32x4.dot_i16x8_s
                (v128.load8x8_s (i32.add (local.get $vectors) (local.get $j)))
                (v128.load (i32.add (local.get $query) (i32.shl (local.get $j) (i32.const 1)))))))
          (local.set $j (i32.add (local.get $j) (i32.const 8)))
          (br_if $chunk (i32.lt_u (local.get $j) (local.get $dims))))
        (i32.store (local.get $out)
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
            (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $vectors (i32.add (local.get $vectors) (local.get $dims)))
        (br $vector)))))
