#!/usr/bin/env bash
# IPv6: node2 answers Neighbor Solicitations for the VIP, the client's kernel
# accepts the advertisements (so hop limit, checksum and options are right),
# only node2 advertises, and a move to node1 is learnt from node1's
# unsolicited advertisements.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

standard_lan
mac1=$(mac_of node1 eth0)
mac2=$(mac_of node2 eth0)

log "control: the VIP on lo is not resolvable by NDP without an announcer"
if connect client "$VIP6" "$PORT" 1500; then
    fail "VIP6 reachable without an announcer"
fi
[ -z "$(neigh_mac client "$VIP6" eth0)" ] || fail "a kernel answered NS for the VIP on lo"

announce node2 --vip "$VIP6"
log "node2's NIC listens to the VIP's solicited-node group 33:33:ff:00:01:00"
ip -n "$(ns node2)" maddr show dev eth0 | grep -q '33:33:ff:00:01:00' ||
    fail "no solicited-node membership: $(ip -n "$(ns node2)" maddr show dev eth0)"
capture client eth0 'icmp6 and ip6[40] == 136'
ip -n "$(ns client)" -6 neigh flush dev eth0

said=$(connect client "$VIP6" "$PORT")
[ "$said" = node2 ] || fail "VIP6 answered by '$said', want node2"
neigh_is client "$VIP6" eth0 "$mac2" || fail "client entry: $(neigh_mac client "$VIP6" eth0)"

wait_until 5 grep -q "tgt is $VIP6" "$WORK/cap-client.txt" || fail "no NA captured"
capture_stop
bad=$(grep "tgt is $VIP6" "$WORK/cap-client.txt" | grep -v "^[^ ]* $mac2 >" || true)
[ -z "$bad" ] || fail "advertisements from other nodes: $bad"

log "release drops the membership"
release node2
if ip -n "$(ns node2)" maddr show dev eth0 | grep -q '33:33:ff:00:01:00'; then
    fail "solicited-node membership left behind"
fi

log "move to node1: unsolicited NA updates the client's entry"
unannounce node2
[ "$(counter node2 replies_sent)" -ge 1 ] || fail "node2 sent no solicited NA"
announce node1 --vip "$VIP6"
wait_until 6 neigh_is client "$VIP6" eth0 "$mac1" ||
    fail "client's entry not updated: $(neigh_mac client "$VIP6" eth0)"
said=$(connect client "$VIP6" "$PORT")
[ "$said" = node1 ] || fail "after the move VIP6 reached '$said', want node1"
unannounce node1
echo PASS
