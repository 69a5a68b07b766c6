#!/bin/sh
# run.sh IFACE — build-free part of `make run`: render config.yml.example for
# IFACE, lay out the state directory (store, models.yml, example TFTP tree) and
# run coredhcp and rpi-tftpd in the foreground until Ctrl-C stops both.
set -eu
iface=${1:?usage: run.sh IFACE}
top=$(cd "$(dirname "$0")/.." && pwd)
state=${STATE:-$top/run}
bin=${BIN:-$top/bin}
[ "$(id -u)" = 0 ] || { echo "run: needs root (DHCP port 67, TFTP port 69): sudo make run IFACE=$iface" >&2; exit 1; }
ip=$(ip -4 -o addr show dev "$iface" 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}')
[ -n "$ip" ] || { echo "run: interface $iface has no IPv4 address; give it one on the boards' network first" >&2; exit 1; }
mkdir -p "$state/etc" "$state/var" "$state/srv/tftp"
"$top/scripts/render-config.sh" "$iface" "$ip" "$state" > "$state/etc/config.yml"
[ -f "$state/etc/models.yml" ] || cp "$top/examples/models.yml" "$state/etc/models.yml"
[ -d "$state/srv/tftp/default" ] || cp -R "$top/examples/tftp/." "$state/srv/tftp/"
echo "run: serving $iface ($ip); config $state/etc/config.yml; store $state/var/nodes.db"
echo "run: put the Raspberry Pi firmware files in $state/srv/tftp/default/ (see its README)"
"$bin/coredhcp" -c "$state/etc/config.yml" &
dhcp=$!
"$bin/rpi-tftpd" -c "$state/etc/config.yml" &
tftp=$!
trap 'kill $dhcp $tftp 2>/dev/null; wait' INT TERM EXIT
wait $dhcp $tftp
