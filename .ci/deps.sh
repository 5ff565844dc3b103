#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium, its WebDriver (chromium-driver) and CJK
# fonts (so Chinese text renders in screenshots) for the browser tests, and PostgreSQL for
# the suite's PostgreSQL run and the several-node test. Installs what is missing, then
# starts PostgreSQL on loopback with the role the tests use (baton / baton, CREATEDB).
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL: Debian's cluster, started if it is not running (containers have no init).
version=$(ls /etc/postgresql | sort -V | tail -1)
if ! $sudo pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    $sudo pg_ctlcluster "$version" main start
fi
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
as_postgres psql -qAt -c "SELECT 1 FROM pg_roles WHERE rolname = 'baton'" | grep -q 1 \
    || as_postgres psql -q -c "CREATE ROLE baton LOGIN PASSWORD 'baton' CREATEDB"
