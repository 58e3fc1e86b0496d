#!/usr/bin/env bash
# Installs the production CalDAV servers the test matrix starts (Cyrus IMAP with CalDAV, DAViCal,
# SOGo), and the headless Chromium the report tests render the HTML report in, from Debian 12
# packages. Idempotent: one line and well under a second when all is there.
#
# Package scripts would start the daemons (and the system PostgreSQL cluster): a temporary
# /usr/sbin/policy-rc.d that exits 101 prevents that while apt-get runs; it is removed afterwards
# (one that was there before is put back). Services that this run installs are disabled at boot:
# the tests start every server themselves, in their own folders, on 127.0.0.1 only.
set -euo pipefail

PACKAGES=(
  cyrus-imapd cyrus-caldav sasl2-bin libsasl2-modules cyrus-admin
  postgresql davical php-cli php-pgsql libdbd-pg-perl libyaml-perl
  sogo memcached
  chromium fonts-dejavu-core
)
# php-cgi satisfies DAViCal's `php` dependency without pulling in Apache (the tests serve
# DAViCal with `php -S`).
EXTRA=(php-cgi)

installed() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for p in "${PACKAGES[@]}" "${EXTRA[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "realservers: all packages installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "realservers: missing packages: ${missing[*]}" >&2
  echo "realservers: run as root: sudo bash $(readlink -f "$0")" >&2
  exit 1
fi

# What starts at boot now: systemd units (services, timers) and SysV start links.
boot_links() {
  find /etc/systemd/system -path '*.wants/*' -type l -printf 'systemd %f\n' 2>/dev/null
  find /etc/rc[2-5].d -name 'S[0-9][0-9]*' -printf 'sysv %f\n' 2>/dev/null | sed -E 's/ S[0-9]{2}/ /'
}
before=$(boot_links | sort -u)

# No daemon starts while apt-get runs: our policy-rc.d (exit 101) for the duration; one that was
# there before is put back afterwards, whatever it said.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ]; then
  saved=$(mktemp)
  cp -p "$policy" "$saved"
fi
restore() {
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\n# kontaktsync tests/realservers/install.sh: no daemons during apt-get\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "realservers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y --no-install-recommends -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
  -o Dpkg::Options::=--force-confold)
if ! apt-get install "${apt_opts[@]}" "${missing[@]}"; then
  apt-get update -q
  apt-get install "${apt_opts[@]}" "${missing[@]}"
fi

# Never enabled at boot: undo whatever the package scripts enabled in this run (the system
# PostgreSQL, Cyrus, memcached, SOGo, the MTA, their timers), leaving what was enabled before.
boot_links | sort -u | comm -13 <(printf '%s\n' "$before") - | while read -r kind name; do
  echo "realservers: not starting $name at boot"
  if [ "$kind" = systemd ]; then
    systemctl disable "$name" >/dev/null 2>&1 || true
  else
    update-rc.d "$name" disable >/dev/null 2>&1 || true
  fi
done

for p in "${PACKAGES[@]}"; do
  installed "$p" || { echo "realservers: $p did not install" >&2; exit 1; }
done
echo "realservers: installed"
