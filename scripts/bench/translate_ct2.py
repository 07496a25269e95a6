#!/usr/bin/env python3
"""Translates BPE pieces with CTranslate2 and reports the time (for scripts/bench/translate).

Usage: python bench_translate_ct2.py CT2_DIR PIECES_IN PIECES_OUT BEAM BATCH THREADS [LENGTH_PENALTY [COMPUTE_TYPE]]

PIECES_IN holds `nmt bpe apply` output (one sentence per line, pieces separated by spaces);
PIECES_OUT gets the translated pieces in the same form, for `nmt bpe decode`. Prints
`SECONDS <s>` for the translation alone (model loading excluded, as for nmt's time it is not —
nmt's figure includes process start and model load, so the comparison favours CTranslate2).
"""
import sys, time
import ctranslate2

model_dir, pieces_in, pieces_out, beam, batch, threads = sys.argv[1:7]
length_penalty = float(sys.argv[7]) if len(sys.argv) > 7 else 1.0
compute_type = sys.argv[8] if len(sys.argv) > 8 else "float32"  # or int8 (weights quantized on load)
beam, batch, threads = int(beam), int(batch), int(threads)
with open(pieces_in, encoding="utf-8") as f:
    sources = [line.split() for line in f.read().split("\n")[:-1]]
translator = ctranslate2.Translator(model_dir, device="cpu", compute_type=compute_type,
                                    inter_threads=1, intra_threads=threads)
start = time.perf_counter()
results = translator.translate_batch(
    sources, max_batch_size=batch, batch_type="examples", beam_size=beam,
    length_penalty=length_penalty, disable_unk=True, max_decoding_length=256)
seconds = time.perf_counter() - start
with open(pieces_out, "w", encoding="utf-8") as f:
    for r in results:
        f.write(" ".join(r.hypotheses[0]) + "\n")
print(f"SECONDS {seconds:.3f}")
