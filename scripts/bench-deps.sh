#!/bin/sh
# bench-deps.sh — install the peers `make bench` compares rpinetboot with
# (isc-dhcpd, Kea + perfdhcp, dnsmasq, tftpd-hpa) when missing. The bench
# runs every peer itself inside its own network namespaces, so no peer may
# run as a host service: service start-up is blocked during the install and
# anything the packages still started is stopped afterwards. Needs root.
set -eu

# Each entry: a program to probe, then the Debian package that provides it.
need="
dhcpd:isc-dhcp-server
kea-dhcp4:kea-dhcp4-server
perfdhcp:kea-admin
dnsmasq:dnsmasq-base
in.tftpd:tftpd-hpa
"

missing=""
for e in $need; do
  probe=${e%%:*}; pkg=${e#*:}
  command -v "$probe" >/dev/null 2>&1 && continue
  [ -x "/usr/sbin/$probe" ] && continue
  case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done

if [ -z "$missing" ]; then
  echo "bench-deps: all peer packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "bench-deps: missing:$missing — run as root (sudo make bench)" >&2
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

progs="dhcpd kea-dhcp4 kea-dhcp6 kea-ctrl-agent kea-dhcp-ddns in.tftpd"
before=$(pidof $progs 2>/dev/null || true)

echo "bench-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing

# Where systemd exists, make sure the units stay off; everywhere, stop any
# daemon the postinst started anyway (only the host-level ones: those run
# by the bench live in namespaces and are started later).
for unit in isc-dhcp-server kea-dhcp4-server kea-ctrl-agent kea-dhcp6-server kea-dhcp-ddns-server tftpd-hpa dnsmasq; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  fi
done
for prog in $progs; do
  for pid in $(pidof "$prog" 2>/dev/null || true); do
    case " $before " in *" $pid "*) continue ;; esac # not ours to stop
    # only daemons in the host's own network namespace
    if [ "$(readlink /proc/$pid/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
      echo "bench-deps: stopping host $prog (pid $pid) started by its package"
      kill "$pid" 2>/dev/null || true
    fi
  done
done
echo "bench-deps: done"
