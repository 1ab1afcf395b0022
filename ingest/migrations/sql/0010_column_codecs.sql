-- runstream tables, version 10: column codecs of the raw metric points.
-- Statements are separated by a line holding only ';'. Every statement is idempotent.
--
-- Points are sorted (experiment_id, run_id, key, step, timestamp, value), so within one
-- series step grows by a near-constant stride and timestamp by a near-constant interval:
-- DoubleDelta turns both into runs of zeros, which ZSTD then squeezes. Values of one series
-- are neighbours too: Gorilla stores the XOR with the previous value (the sign, exponent
-- and leading mantissa bits of a smooth curve repeat; a float32 value widened to Float64
-- ends in 29 zero bits). The string columns keep the default codec (LZ4): sorted, they
-- are already a fraction of a byte per point, and ZSTD made them larger.
-- Measured by `python -m bench.storage` (docs/benchmarks.md).
--
-- Only the codec changes (no type is named, so a migration that changes a type or adds a
-- column beside this one is unaffected); it is a metadata change, not a mutation. Parts
-- written before it keep their codec until a merge rewrites them: existing data is left
-- to merges (`OPTIMIZE TABLE metrics FINAL` rewrites it at once, at the cost of a full
-- rewrite of the table).
ALTER TABLE metrics MODIFY COLUMN step CODEC(DoubleDelta, ZSTD(1))
;
ALTER TABLE metrics MODIFY COLUMN timestamp CODEC(DoubleDelta, ZSTD(1))
;
ALTER TABLE metrics MODIFY COLUMN value CODEC(Gorilla, ZSTD(1))
