#!/usr/bin/env bash
# K-fold cross-validation of Baton's intent classifier on a training set alone: how design
# choices and defaults are picked without looking at the set the README reports.
#
#   benches/cv.sh TRAIN.jsonl [K] [-- extra `baton eval intents` arguments]
#   benches/cv.sh ../shared/data/smp2017/train.jsonl 5
#   benches/cv.sh ../shared/data/smp2017/train.jsonl 5 -- --no-encoder
#
# Splits TRAIN into K stratified folds (fixed seed, so every run sees the same folds), trains
# on K−1 and tests on the one left, and prints each fold's accuracy and the pooled accuracy.
# Needs python3 and a release build (built here; BATON=<binary> runs another build instead, to
# compare two builds on the same folds). Embeddings are cached in target/cv/embeddings, so only
# the first run embeds the texts. Folds and per-fold JSON reports go to target/cv.
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:?usage: benches/cv.sh TRAIN.jsonl [K] [-- eval arguments]}
k=${2:-5}
shift $(($# >= 2 ? 2 : 1))
[[ "${1:-}" == "--" ]] && shift
out="target/cv"
mkdir -p "${out}"
baton=${BATON:-target/release/baton}
[[ -z "${BATON:-}" ]] && cargo build --release --quiet
export RAYON_NUM_THREADS=1

python3 - "${train}" "${k}" "${out}" <<'PY'
import collections, json, random, sys
path, k, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
by_label = collections.defaultdict(list)
for r in rows:
    by_label[r["label"]].append(r)
random.seed(7)
folds = [[] for _ in range(k)]
# Labels in order of first appearance: the same file gives the same folds.
for group in by_label.values():
    random.shuffle(group)
    for i, r in enumerate(group):
        folds[i % k].append(r)
for f in range(k):
    with open(f"{out}/train{f}.jsonl", "w", encoding="utf-8") as t:
        for g in range(k):
            if g != f:
                t.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in folds[g])
    with open(f"{out}/test{f}.jsonl", "w", encoding="utf-8") as t:
        t.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in folds[f])
PY

for ((f = 0; f < k; f++)); do
    echo "== fold $((f + 1)) of ${k}" >&2
    "${baton}" eval intents --train "${out}/train${f}.jsonl" --test "${out}/test${f}.jsonl" \
        --embedding-cache "${out}/embeddings" "$@" > "${out}/fold${f}.json"
done

python3 - "${out}" "${k}" <<'PY'
import json, sys
out, k = sys.argv[1], int(sys.argv[2])
reports = [json.load(open(f"{out}/fold{f}.json")) for f in range(k)]
right = sum(r["accuracy"] * r["n_test"] for r in reports)
total = sum(r["n_test"] for r in reports)
print(json.dumps({
    "folds": [round(r["accuracy"], 4) for r in reports],
    "accuracy": round(right / total, 4),
    "n": total,
}))
PY
