#!/bin/sh
# new-node.sh — example rpinetboot new-node hook.
#
# coredhcp runs it (macpin or proxydhcp option `on-new=/path/to/new-node.sh`)
# once per process for each board it sees for the first time, in the
# background, with the board's facts in the environment:
#
#   RPINETBOOT_EVENT     new-node (or reclaimed: a board's address went to
#                        a new one on a full pool; MAC and IP are the old board's)
#   RPINETBOOT_SOURCE    macpin | proxydhcp
#   RPINETBOOT_MAC       dc:a6:32:01:02:03
#   RPINETBOOT_IP        192.168.50.100 (empty in proxy mode: the other server
#                        hands out the address after the boot answer)
#   RPINETBOOT_MODEL     rpi-4-b (empty if unknown)
#   RPINETBOOT_SERIAL    4b010203 (empty if unknown)
#   RPINETBOOT_HOSTNAME  option 12 or the reservation's name (may be empty)
#   RPINETBOOT_TIME      2026-11-25T12:00:00Z
#
# It creates the board's own directory in the TFTP tree,
# <root>/nodes/<aa-bb-cc-dd-ee-ff>/, where rpi-tftpd looks before the model
# and default trees: drop a per-board config.txt or cmdline.txt there. It
# also records the facts in that directory's node.env for your own tooling.
# Exit status 0 is success; anything else is logged and retried with
# backoff (on-new-retries=); a run longer than on-new-timeout= is killed.
#
# The hook runs as coredhcp's user inside its systemd sandbox
# (ProtectSystem=strict): let it write the tree with a drop-in,
#   systemctl edit rpinetboot-dhcp   ->   [Service]
#                                         ReadWritePaths=/srv/rpinetboot/tftp/nodes
# and make that directory writable by the rpinetboot user.
set -eu

root=${RPINETBOOT_TFTP_ROOT:-/srv/rpinetboot/tftp}   # EDIT: rpi-tftpd's root

mac=${RPINETBOOT_MAC:?RPINETBOOT_MAC not set: run by coredhcp only}
# The MAC comes from a network packet: accept only the canonical form
# before it becomes a path.
case $mac in
  [0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]) ;;
  *) echo "new-node: refusing odd MAC '$mac'" >&2; exit 2 ;;
esac
dir="$root/nodes/$(echo "$mac" | tr : -)"

# Every value started life in a network packet. coredhcp passes only
# checked ones, but a file others may source gets plain words all the same:
# anything but letters, digits and . : _ - is written as empty.
word() {
  case $1 in
    *[!A-Za-z0-9.:_-]*) echo "new-node: dropping odd value '$1'" | tr -cd '[:print:]\n' >&2; printf '' ;;
    *) printf '%s' "$1" ;;
  esac
}

mkdir -p "$dir"
tmp="$dir/.node.env.$$"
{
  printf 'mac=%s\n' "$mac"
  printf 'ip=%s\n' "$(word "${RPINETBOOT_IP:-}")"
  printf 'model=%s\n' "$(word "${RPINETBOOT_MODEL:-}")"
  printf 'serial=%s\n' "$(word "${RPINETBOOT_SERIAL:-}")"
  printf 'hostname=%s\n' "$(word "${RPINETBOOT_HOSTNAME:-}")"
  printf 'first_seen=%s\n' "$(word "${RPINETBOOT_TIME:-}")"
  printf 'source=%s\n' "$(word "${RPINETBOOT_SOURCE:-}")"
} > "$tmp"
mv "$tmp" "$dir/node.env"
echo "new-node: $mac (${RPINETBOOT_MODEL:-unknown model}) -> $dir"
