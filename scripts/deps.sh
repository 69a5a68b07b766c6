#!/bin/sh
# deps.sh — install the Debian packages that building, running, testing and
# benchmarking rpinetboot need (scripts/deps.list, the one list), only when
# something is missing: a fresh Debian 12 machine has none of them. Safe to
# run again; installing needs root (as root: no sudo needed).
#
#   scripts/deps.sh           install what is missing
#   scripts/deps.sh --check   only report what is missing (exit 1 if any)
#   scripts/deps.sh --packages  print the listed Debian packages
#
# Several packages ship daemons (a DHCP server, a TFTP server, PostgreSQL,
# snmpd) that the tests and the bench start themselves inside network
# namespaces. None may run as a host service: service start-up is blocked
# during the install (policy-rc.d) and any such daemon the packages started
# anyway in the host's network namespace is stopped afterwards.
set -eu
cd "$(dirname "$0")/.."
list=scripts/deps.list

entries() { sed -e 's/#.*//' "$list" | awk 'NF >= 2 { print $1, $2, (NF >= 3 ? $3 : "") }'; }

if [ "${1:-}" = "--packages" ]; then
  entries | awk '$2 != "-" && $2 != "go-toolchain" { print $2 }' | sort -u
  exit 0
fi

present() { # probe [path]
  case $1 in
    /*) [ -e "$1" ] && return 0 ;;
    *) command -v "$1" >/dev/null 2>&1 && return 0
       [ -x "/usr/sbin/$1" ] && return 0
       [ -x "/sbin/$1" ] && return 0 ;;
  esac
  [ -n "${2:-}" ] && [ -e "$2" ] && return 0
  return 1
}

missing=""
nogo=""
while read -r probe pkg path; do
  present "$probe" "$path" && continue
  case $pkg in
    -) echo "deps: $probe missing although Debian's Essential set provides it; is this Debian?" >&2; exit 1 ;;
    go-toolchain) [ -x /usr/local/go/bin/go ] || nogo=1; continue ;;
  esac
  case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done <<EOF2
$(entries)
EOF2

if [ -n "$nogo" ]; then
  echo "deps: Go 1.26 not found: install it in /usr/local/go (https://go.dev/dl) and put /usr/local/go/bin on PATH" >&2
  exit 1
fi
if [ -z "$missing" ]; then
  echo "deps: all Debian packages present"
  exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "deps: missing packages:$missing — install them with: sudo make deps (as root: make deps)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages:$missing — run as root: sudo make deps (as root: make deps)" >&2
  exit 1
fi

# policy-rc.d answering 101 tells invoke-rc.d not to start services; keep an
# existing one, else add ours for the duration of the install only.
added_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 0755 /usr/sbin/policy-rc.d
  added_policy=1
fi
cleanup() { [ -n "$added_policy" ] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT

daemons="dhcpd dhcrelay kea-dhcp4 kea-dhcp6 kea-ctrl-agent kea-dhcp-ddns in.tftpd dnsmasq snmpd postgres"
before=$(pidof $daemons 2>/dev/null || true)

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

# Where systemd runs, keep the units off; everywhere, stop any host-level
# daemon the install started (those the tests run live in namespaces).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for unit in isc-dhcp-server isc-dhcp-server6 isc-dhcp-relay kea-dhcp4-server kea-dhcp6-server kea-ctrl-agent \
      kea-dhcp-ddns-server tftpd-hpa dnsmasq snmpd postgresql; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
for prog in $daemons; do
  for pid in $(pidof "$prog" 2>/dev/null || true); do
    case " $before " in *" $pid "*) continue ;; esac # not ours to stop
    if [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
      echo "deps: stopping host $prog (pid $pid) started by its package"
      kill "$pid" 2>/dev/null || true
    fi
  done
done
echo "deps: done"
