#!/usr/bin/env bash
# A node with two NICs on two LANs answers a VIP only on the NIC whose subnet
# holds it, with that NIC's MAC; an address added later (rtnetlink event)
# moves a VIP onto the NIC that now holds its subnet, and removing it stops
# the answers again. A configured interface list overrides the subnet rule.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

lan_bridge brA
lan_bridge brB
add_ns node
plug node eth0 brA 192.168.77.10/24 fd00:77::10/64
plug node eth1 brB 192.168.78.10/24 fd00:78::10/64
VIPC=192.168.79.100
node_vip node "$VIP4" "$VIP6"
ip -n "$(ns node)" addr add "$VIPC/32" dev lo
add_ns clientA
plug clientA eth0 brA 192.168.77.50/24 fd00:77::50/64
add_ns clientB
plug clientB eth0 brB 192.168.78.50/24 fd00:78::50/64
# clientB believes both VIP subnets are on its own link, so it ARPs there.
ip -n "$(ns clientB)" route add 192.168.77.0/24 dev eth0
ip -n "$(ns clientB)" route add 192.168.79.0/24 dev eth0
macA=$(mac_of node eth0)
macB=$(mac_of node eth1)

announce node --vip "$VIP4" --vip "$VIPC"

log "subnet A's VIP: answered on A with eth0's MAC"
macs=$(arping_macs clientA eth0 "$VIP4" 2 3)
[ -n "$macs" ] || fail "no reply on LAN A"
[ -z "$(echo "$macs" | grep -v -x "$macA" || true)" ] || fail "wrong MAC on LAN A: $macs"

log "...and not on B"
got=$(arping_macs clientB eth0 "$VIP4" 2 2)
[ -z "$got" ] || fail "VIP of subnet A answered on LAN B: $got"

log "a VIP outside every subnet is not answered anywhere"
got=$(arping_macs clientB eth0 "$VIPC" 1 1)
[ -z "$got" ] || fail "$VIPC answered before its subnet existed: $got"

log "an address in $VIPC's subnet appears on eth1: answered there, eth1's MAC"
ip -n "$(ns node)" addr add 192.168.79.10/24 dev eth1
wait_until 5 answered clientB eth0 "$VIPC" || fail "no answer after the change"
macs=$(arping_macs clientB eth0 "$VIPC" 1 1)
[ "$macs" = "$macB" ] || fail "answered with '$macs', want eth1's $macB"

log "the address goes away: the answers stop"
ip -n "$(ns node)" addr del 192.168.79.10/24 dev eth1
wait_until 5 unanswered clientB eth0 "$VIPC" || fail "still answered"

unannounce node

log "configured interface: --iface eth1 announces subnet A's VIP on eth1 only"
announce node --vip "$VIP4" --iface eth1
macs=$(arping_macs clientB eth0 "$VIP4" 2 3)
[ -n "$macs" ] || fail "no reply on LAN B for the configured interface"
[ -z "$(echo "$macs" | grep -v -x "$macB" || true)" ] || fail "wrong MAC on LAN B: $macs"
got=$(arping_macs clientA eth0 "$VIP4" 1 1)
[ -z "$got" ] || fail "answered on eth0 although only eth1 was configured: $got"
unannounce node
echo PASS
