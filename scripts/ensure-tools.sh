#!/usr/bin/env bash
# Installs the Debian packages a Strongbox command needs when they are missing, and says what it does.
#   demo:  pg_dump/pg_restore (postgresql-client), zstd
#   test:  the above plus real PostgreSQL, MariaDB and Redis servers and clients, and Chromium (the CLI's
#          HTML report is opened headless by its test)
#   bench: the test set plus the AWS CLI (the naive baseline pipes into `aws s3 cp`) and gzip
set -euo pipefail
mode="${1:-test}"

declare -A package_for=(
  [zstd]=zstd
  [pg_dump]=postgresql-client
  [pg_restore]=postgresql-client
  [psql]=postgresql-client
  [/usr/lib/postgresql/15/bin/postgres]=postgresql
  [mariadbd]=mariadb-server
  [mariadb-install-db]=mariadb-server
  [mariadb]=mariadb-client
  [mariadb-dump]=mariadb-client
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [gzip]=gzip
  [aws]=awscli
  [sudo]=sudo
  [chromium]=chromium
)

case "$mode" in
  demo) wanted=(zstd pg_dump pg_restore psql) ;;
  test) wanted=(zstd pg_dump pg_restore psql /usr/lib/postgresql/15/bin/postgres mariadbd mariadb-install-db mariadb mariadb-dump redis-server redis-cli chromium) ;;
  bench) wanted=(zstd pg_dump pg_restore psql /usr/lib/postgresql/15/bin/postgres mariadbd mariadb-install-db mariadb mariadb-dump redis-server redis-cli gzip aws) ;;
  *) echo "ensure-tools: unknown mode '$mode'; expected demo, test or bench" >&2; exit 2 ;;
esac

missing=()
for tool in "${wanted[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "$tool" ]; then
    missing+=("${package_for[$tool]}")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "strongbox: missing Debian packages: ${packages}. Install them with: sudo apt-get install -y ${packages}" >&2
  exit 1
fi
echo "strongbox: installing missing Debian packages for '${mode}': ${packages}(apt-get update, then apt-get install)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Package post-install scripts would start the servers as system services; the tests start their own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends ${packages} >/dev/null
rm -f /usr/sbin/policy-rc.d
echo "strongbox: installed ${packages}"
