#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (Debian packages),
# makes sure a MariaDB server is there (MYSQL_URL if given, else a private mariadbd on a
# temporary data dir and port), then runs formatting, lint, and every test in the workspace.
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    extra arguments for `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
pkg_installed libpcap-dev || need_pkgs+=(libpcap-dev)
have ipfixDump || need_pkgs+=(libfixbuf-tools)
have tshark || need_pkgs+=(tshark)
have softflowd || need_pkgs+=(softflowd)
have docker-compose || docker compose version >/dev/null 2>&1 || need_pkgs+=(docker-compose)
if [ -z "${MYSQL_URL:-}" ]; then have mariadbd || have mysqld || need_pkgs+=(mariadb-server); fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

dbdir=""
cleanup() { if [ -n "$dbdir" ]; then scripts/mariadb-private.sh stop "$dbdir" || true; rm -rf "$dbdir"; fi; }
trap cleanup EXIT
if [ -z "${MYSQL_URL:-}" ]; then
  dbdir=$(mktemp -d "${TMPDIR:-/tmp}/pdns-test-db.XXXXXX")
  line=$(scripts/mariadb-private.sh start "$dbdir")
  export "${line?}"
  echo "== private MariaDB at ${MYSQL_URL}"
else
  echo "== using MYSQL_URL from the environment"
fi

if [ -d ../shared/corpus ]; then
  echo "== whole-corpus tests: ../shared/corpus found"
else
  echo "== whole-corpus tests: ../shared/corpus NOT found; they will say so and test tests/data only"
fi

echo "== docker-compose.yml validates (no engine needed)"
if docker compose version >/dev/null 2>&1; then docker compose -f docker-compose.yml config -q
else docker-compose -f docker-compose.yml config -q; fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build (binaries the integration tests run)"
cargo build --workspace --bins --locked
echo "== cargo test"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --workspace --locked "${extra[@]}"
