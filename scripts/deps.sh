#!/bin/sh
# deps.sh — install the Debian packages that building, running and testing
# rpinetboot need, only when something is missing (a fresh Debian machine has
# none of them). Safe to run again; needs root to install.
set -eu

# Each entry: a command (or file) to probe, then the package that provides it.
need="
gcc:gcc
ip:iproute2
ss:iproute2
mkimage:u-boot-tools
mkenvimage:u-boot-tools
qemu-system-aarch64:qemu-system-arm
/usr/lib/u-boot/qemu_arm64/u-boot.bin:u-boot-qemu
/usr/lib/u-boot/qemu_arm/u-boot.bin:u-boot-qemu
dtc:device-tree-compiler
dnsmasq:dnsmasq-base
dhclient:isc-dhcp-client
udhcpc:udhcpc
busybox:busybox
tftp:tftp-hpa
tcpdump:tcpdump
/usr/lib/postgresql/15/bin/initdb:postgresql
"

missing=""
for e in $need; do
  probe=${e%%:*}; pkg=${e#*:}
  case $probe in
    /*) [ -e "$probe" ] && continue ;;
    *) command -v "$probe" >/dev/null 2>&1 && continue
       [ -x "/usr/sbin/$probe" ] && continue ;;
  esac
  case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done

if [ -z "$missing" ]; then
  echo "deps: all Debian packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing packages:$missing — run as root (sudo make deps)" >&2
  exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
