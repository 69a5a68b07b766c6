#!/bin/sh
# render-config.sh IFACE SERVER_IP STATE_DIR — print config.yml.example adapted
# to one interface: only the interface name, the example's 192.168.50.x
# addresses and the /etc, /var/lib, /srv paths change, so what runs is the
# example a user reads. The pools keep the example's host numbers (.100-.250)
# inside the interface's /24.
set -eu
iface=$1 ip=$2 state=$3
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=${ip%.*}.
sed -e "s|\"%eth0\"|\"%$iface\"|" \
    -e "s|192\.168\.50\.1\([^0-9]\)|$ip\1|g" \
    -e "s|192\.168\.50\.1\$|$ip|g" \
    -e "s|192\.168\.50\.|$prefix|g" \
    -e "s|/etc/rpinetboot|$state/etc|g" \
    -e "s|/var/lib/rpinetboot|$state/var|g" \
    -e "s|/srv/rpinetboot|$state/srv|g" \
    "$top/config.yml.example"
