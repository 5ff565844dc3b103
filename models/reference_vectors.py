"""Writes tests/fixtures/minilm_reference.json: sentence-transformers' own embeddings of a few
sentences with all-MiniLM-L6-v2, which Baton's encoder must reproduce within 1e-4.

    python3 -m pip install sentence-transformers
    python3 models/reference_vectors.py models/all-MiniLM-L6-v2 > tests/fixtures/minilm_reference.json
"""
import json
import sys

from sentence_transformers import SentenceTransformer

SENTENCES = [
    "Where is my order?",
    "How long does a refund take to reach my credit card?",
    "我的订单到哪里了",
    "I'd like to speak to a human, please!!!",
    "a",
    "Can I return a sofa that was delivered damaged, and who pays for the pickup? "
    "The box was crushed and one leg is broken; order 20261111-0042.",
]

model = SentenceTransformer(sys.argv[1], device="cpu")
vectors = model.encode(SENTENCES, normalize_embeddings=False, convert_to_numpy=True)
json.dump(
    {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "library": "sentence-transformers",
        "sentences": [
            {"text": s, "vector": [round(float(x), 7) for x in v]}
            for s, v in zip(SENTENCES, vectors)
        ],
    },
    sys.stdout,
    ensure_ascii=False,
)
