#!/usr/bin/env bash
# Baton against the peers a practitioner would otherwise pick, on the same public data, in
# one run: `baton eval` for Baton (with the configured encoders — multilingual-e5-small for
# Chinese when installed — and, for reference, without them), and
# benches/peers.py for scikit-learn TF-IDF + logistic regression, fastText and BM25 alone.
#
#   benches/compare.sh [OUT_DIR]        # default OUT_DIR: target/compare
#
# Needs: a release build (built here), models/install.sh done, and the peers installed
# (see benches/peers.py; PYTHON names the interpreter that has them). Data comes from ../shared/data. Every result is a JSON file in
# OUT_DIR; the README's comparison table is read off them. Embeddings are cached in
# OUT_DIR/embeddings, so a second run skips the encoder's bulk work (delete it to time a
# cold run).
set -euo pipefail
cd "$(dirname "$0")/.."
data="../shared/data"
out="${1:-target/compare}"
if [[ ! -d "${data}" ]]; then
    echo "no ${data}: the public datasets are needed for this comparison" >&2
    exit 1
fi
mkdir -p "${out}"
cargo build --release --quiet
baton="target/release/baton"
# Single-threaded matrix products, one worker per core: the encoder's fastest set-up here.
export RAYON_NUM_THREADS=1
cache=(--embedding-cache "${out}/embeddings")

intents() { # name train test [valid]
    local name=$1 train=$2 test=$3 valid=${4:-}
    local extra=()
    [[ -n "${valid}" ]] && extra=(--valid "${data}/${name}/${valid}")
    echo "== baton eval intents: ${name}" >&2
    "${baton}" eval intents --train "${data}/${name}/${train}" --test "${data}/${name}/${test}" \
        "${extra[@]}" "${cache[@]}" --report "${out}/${name}-report" > "${out}/${name}.json"
    "${baton}" eval intents --train "${data}/${name}/${train}" --test "${data}/${name}/${test}" \
        "${extra[@]}" --no-encoder > "${out}/${name}-ngram.json"
}
intents clinc150 train.jsonl test.jsonl valid.jsonl
intents banking77 train.jsonl test.jsonl
intents smp2017 train.jsonl valid.jsonl

for name in stackfaq bq_faq; do
    echo "== baton eval kb: ${name}" >&2
    "${baton}" eval kb --faqs "${data}/${name}/faqs.jsonl" --queries "${data}/${name}/queries.jsonl" \
        "${cache[@]}" > "${out}/${name}.json"
done

# For reference, Chinese read by the English model as well (the default when
# multilingual-e5-small is not installed).
echo "== baton eval, Chinese with the English model (--single-encoder)" >&2
"${baton}" eval intents --train "${data}/smp2017/train.jsonl" --test "${data}/smp2017/valid.jsonl" \
    --single-encoder "${cache[@]}" > "${out}/smp2017-minilm.json"
"${baton}" eval kb --faqs "${data}/bq_faq/faqs.jsonl" --queries "${data}/bq_faq/queries.jsonl" \
    --single-encoder "${cache[@]}" > "${out}/bq_faq-minilm.json"

echo "== peers" >&2
"${PYTHON:-python3}" benches/peers.py --data "${data}" > "${out}/peers.json"
echo "results in ${out}" >&2
