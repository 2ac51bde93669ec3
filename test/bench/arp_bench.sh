#!/usr/bin/env bash
# arp_bench.sh BUILD_DIR — runs arp_bench against lbp-announce on a two-host
# namespace LAN (client and node on one bridge) and prints the figures plus
# the announcer's own counters. Needs root. See arp_bench.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: arp_bench.sh BUILD_DIR}" && pwd)
export LBP_ANNOUNCE=$build/test/netns/lbp-announce
export LBP_TCP_ECHO=$build/test/netns/tcp-echo-name
bench=$build/test/netns/arp_bench
[ -x "$bench" ] || { echo "build arp_bench first (cmake --build $build --target arp_bench)"; exit 2; }
# shellcheck source=test/netns/lib.sh
. "$here/../netns/lib.sh"

lan_bridge br0
add_ns node
plug node eth0 br0 192.168.77.10/24 fd00:77::10/64
node_vip node "$VIP4" "$VIP6"
add_ns client
plug client eth0 br0 192.168.77.50/24 fd00:77::50/64
announce node --vip "$VIP4"
nsx client "$bench" --iface eth0 --vip "$VIP4" --src 192.168.77.50 "${@:2}"
unannounce node
