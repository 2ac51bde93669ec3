#!/usr/bin/env bash
# The mock cloud's data plane end to end: `lbprov controller --cloud mock`
# with dataPlane=on runs in its own namespace (the "laptop"), three node
# namespaces each answer on NodePort 30080 with their own name over TCP and
# UDP, and clients in the controller's namespace connect to the Service's
# EXTERNAL-IP (a 127.240.0.0/16 VIP) the way a user of a kind cluster does.
#   - TCP connections and UDP flows reach every node;
#   - a node whose NodePort stops answering is out of rotation within the
#     health-check interval x threshold, and back once it answers again;
#   - loadBalancerSourceRanges: a client outside them is refused;
#   - sessionAffinity ClientIP: one client stays on one node;
#   - a controller restart keeps the Service's VIP (another Service's freed
#     address lies below it) and the VIP answers again;
#   - deleting the Service closes its port;
#   - with a routable vipRange on a dummy link (vipInterface), clients on
#     the LAN reach the VIP, one outside loadBalancerSourceRanges is
#     refused, and the VIP leaves the link with the Service.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "${LBPROV:-}" ] || skip "LBPROV does not name the lbprov binary"

NODES=(node1 node2 node3)
NP=30080  # TCP
NPU=30081 # UDP
SPORT=8080
HTTP=127.0.0.1:10259
INTERVAL_MS=250
FALL=2

declare -A TPID UPID
echo_node() {
    local h=$1
    ip netns exec "$(ns "$h")" "$LBP_TCP_ECHO" serve "$h" $NP >>"$WORK/echo-$h.log" 2>&1 &
    TPID[$h]=$!
    PIDS+=($!)
    ip netns exec "$(ns "$h")" "$LBP_TCP_ECHO" serve-udp "$h" $NPU >>"$WORK/echo-$h.log" 2>&1 &
    UPID[$h]=$!
    PIDS+=($!)
}

lan_bridge br0
for i in 1 2 3; do
    add_ns "node$i"
    plug "node$i" eth0 br0 "192.168.77.1$i/24" "fd00:77::1$i/64"
    echo_node "node$i"
done
add_ns ctl
plug ctl eth0 br0 192.168.77.5/24 fd00:77::5/64
# Two LAN clients for the routable part, the route to the VIPs via ctl.
for i in 50 51; do
    add_ns "client$i"
    plug "client$i" eth0 br0 "192.168.77.$i/24" "fd00:77::$i/64"
    ip -n "$(ns "client$i")" route add 192.168.90.0/24 via 192.168.77.5
done
lan_api
for i in 1 2 3; do
    kapi POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node$i\"},\
\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.77.1$i\"}],\
\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}" >/dev/null
done

cat >"$WORK/cloud.conf" <<CONF
dataPlane=on
healthCheckIntervalMs=$INTERVAL_MS
healthCheckTimeoutMs=200
unhealthyThreshold=$FALL
healthyThreshold=2
udpIdleTimeoutMs=1000
CONF
CTL_PID=
start_controller() {
    ip netns exec "$(ns ctl)" "$LBPROV" controller --cloud mock \
        --cloud-config "$WORK/cloud.conf" --kubeconfig "$WORK/kubeconfig" \
        --http-bind-address $HTTP >>"$WORK/controller.log" 2>&1 &
    CTL_PID=$!
    PIDS+=($!)
    wait_until 15 nsx ctl curl -sf "http://$HTTP/readyz" || fail "controller not ready"
}

# service NAME TCP-NODEPORT UDP-NODEPORT
service() {
    kapi POST /api/v1/namespaces/default/services "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\
\"metadata\":{\"name\":\"$1\"},\"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Cluster\",\
\"ports\":[{\"name\":\"t\",\"port\":$SPORT,\"protocol\":\"TCP\",\"nodePort\":$2},\
{\"name\":\"u\",\"port\":$SPORT,\"protocol\":\"UDP\",\"nodePort\":$3}]}}" >/dev/null
}
spec_patch() {
    kapi PATCH "/api/v1/namespaces/default/services/$1" "{\"spec\":$2}" \
        application/merge-patch+json >/dev/null
}
ingress() {
    kapi GET "/api/v1/namespaces/default/services/$1" 2>/dev/null |
        grep -o '"ingress":\[{"ip":"[^"]*"' | sed 's/.*"ip":"//; s/"$//'
}
has_ingress() { [ -n "$(ingress "$1")" ]; }
service_gone() { ! kapi GET "/api/v1/namespaces/default/services/$1" >/dev/null 2>&1; }

# tcp/udp VIP [SRC]: the name of the node one new connection (flow) lands on.
tcp() { nsx ctl "$LBP_TCP_ECHO" connect "$1" $SPORT 1000 ${2:+"$2"} 2>/dev/null; }
udp() { nsx ctl "$LBP_TCP_ECHO" udp "$1" $SPORT 1000 ${2:+"$2"} 2>/dev/null; }
# seen N KIND VIP [SRC]: the distinct names N connections saw, space-separated.
seen() {
    local i out=""
    for ((i = 0; i < $1; i++)); do
        out="$out $($2 "$3" "${4:-}" || echo FAILED)"
    done
    echo "$out" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}
all_nodes() { [ "$(seen 12 "$1" "$2")" = "node1 node2 node3" ]; }
metric() {
    nsx ctl curl -sf "http://$HTTP/metrics" | grep -F "$1" | grep -v '^#' | awk '{print $2}' |
        head -n 1
}
healthy_is() { [ "$(metric "lbprov_mock_lb_backends_healthy{service=\"default/web\"}")" = "$1" ]; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

start_controller
# "first" takes the range's first address and gives it back before the restart,
# so a restarted controller that forgot web's address would hand out another.
service first 30090 30091
wait_until 15 has_ingress first || fail "first got no address"
service web $NP $NPU
wait_until 15 has_ingress web || fail "web got no address"
VIP=$(ingress web)
log "web has $VIP (first had $(ingress first))"
kapi DELETE /api/v1/namespaces/default/services/first >/dev/null
wait_until 15 service_gone first || fail "first was not removed"

log "TCP connections and UDP flows reach every node"
wait_until 10 all_nodes tcp "$VIP" || fail "TCP to $VIP saw: $(seen 12 tcp "$VIP")"
wait_until 10 all_nodes udp "$VIP" || fail "UDP to $VIP saw: $(seen 12 udp "$VIP")"
echo "TCP and UDP to $VIP:$SPORT: node1 node2 node3"

log "node2's NodePort stops answering"
wait_until 5 healthy_is 3 || fail "not all three nodes healthy: $(metric backends_healthy)"
kill "${TPID[node2]}"
wait "${TPID[node2]}" 2>/dev/null || true
t0=$(date +%s%N)
wait_until 5 healthy_is 2 || fail "node2 still healthy after 5 s"
took=$(ms_since "$t0")
# A failed check every interval, FALL in a row; one more interval for the
# phase, and room for a loaded machine (the figure is printed).
limit=$((INTERVAL_MS * (FALL + 1) + 500))
[ "$took" -le "$limit" ] || fail "node2 out of rotation after $took ms (limit $limit ms)"
got=$(seen 12 tcp "$VIP")
[ "$got" = "node1 node3" ] || fail "with node2 down, TCP saw: $got"
echo "node2 out of rotation after $took ms (interval ${INTERVAL_MS} ms x $FALL); TCP saw: $got"
fails=$(metric "lbprov_mock_lb_health_checks_total{service=\"default/web\",node=\"192.168.77.12\",result=\"fail\"}")
[ "${fails:-0}" -ge "$FALL" ] || fail "failed checks of node2 in /metrics: ${fails:-none}"
ip netns exec "$(ns node2)" "$LBP_TCP_ECHO" serve node2 $NP >>"$WORK/echo-node2.log" 2>&1 &
TPID[node2]=$!
PIDS+=($!)
wait_until 5 healthy_is 3 || fail "node2 not healthy again after 5 s"
wait_until 5 all_nodes tcp "$VIP" || fail "node2 not back in rotation: $(seen 12 tcp "$VIP")"
echo "node2 answers again: back in rotation"

log "loadBalancerSourceRanges 127.0.0.1/32"
spec_patch web '{"loadBalancerSourceRanges":["127.0.0.1/32"]}'
outside_refused() { ! tcp "$VIP" 127.0.0.2; }
wait_until 10 outside_refused || fail "a client from 127.0.0.2 still gets through"
udp "$VIP" 127.0.0.2 && fail "a UDP client from 127.0.0.2 got an answer"
got=$(seen 6 tcp "$VIP" 127.0.0.1)
[[ "$got" != *FAILED* ]] || fail "the client inside the range was refused: $got"
refused=$(metric "lbprov_mock_lb_refused_total{service=\"default/web\",reason=\"source_range\"}")
[ "${refused:-0}" -ge 1 ] || fail "no refusal counted in /metrics"
echo "127.0.0.2 refused ($refused in /metrics), 127.0.0.1 reaches: $got"
spec_patch web '{"loadBalancerSourceRanges":null}'
wait_until 10 tcp "$VIP" 127.0.0.2 || fail "127.0.0.2 still refused after the ranges were removed"

log "sessionAffinity ClientIP"
spec_patch web '{"sessionAffinity":"ClientIP"}'
one_node() { got=$(seen 10 "$1" "$VIP" "$2") && [[ "$got" != *" "* ]] && [[ "$got" != FAILED ]]; }
wait_until 10 one_node tcp 127.0.0.1 || fail "ClientIP: 127.0.0.1 saw $(seen 10 tcp "$VIP" 127.0.0.1)"
echo "127.0.0.1 always on $got (TCP)"
one_node udp 127.0.0.3 || fail "ClientIP: UDP flows from 127.0.0.3 saw $got"
echo "127.0.0.3 always on $got (UDP, 10 flows)"
spec_patch web '{"sessionAffinity":"None"}'
wait_until 10 all_nodes tcp "$VIP" || fail "affinity off, yet TCP saw: $(seen 12 tcp "$VIP")"

log "controller restart"
kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "controller exited with status $?"
tcp "$VIP" && fail "$VIP answered with the controller stopped"
start_controller
wait_until 10 all_nodes tcp "$VIP" || fail "after the restart, TCP to $VIP saw: $(seen 12 tcp "$VIP")"
[ "$(ingress web)" = "$VIP" ] || fail "web moved from $VIP to $(ingress web)"
echo "after the restart web keeps $VIP, and it answers"

log "delete web"
kapi DELETE /api/v1/namespaces/default/services/web >/dev/null
wait_until 15 service_gone web || fail "web was not removed"
tcp "$VIP" && fail "$VIP:$SPORT still accepts TCP after the delete"
udp "$VIP" && fail "$VIP:$SPORT still answers UDP after the delete"
echo "web deleted: $VIP:$SPORT refuses"

kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "controller exited with status $?"

log "routable VIPs on a dummy link"
cat >>"$WORK/cloud.conf" <<CONF
vipRange=192.168.90.0/24
vipInterface=lbp0
CONF
# A dummy link is what the controller creates; a kernel without the dummy
# driver gets a veth of that name made beforehand, which it uses as it is.
if ip -n "$(ns ctl)" link add lbp0probe type dummy 2>/dev/null; then
    ip -n "$(ns ctl)" link delete lbp0probe
else
    echo "(no dummy links in this kernel: lbp0 is a veth made by the test)"
    ip -n "$(ns ctl)" link add lbp0 type veth peer name lbp0peer
    ip -n "$(ns ctl)" link set lbp0peer up
fi
start_controller
service wide $NP $NPU
wait_until 15 has_ingress wide || fail "wide got no address"
WVIP=$(ingress wide)
case "$WVIP" in 192.168.90.*) ;; *) fail "wide got $WVIP, not one of 192.168.90.0/24" ;; esac
on_link() { ip -n "$(ns ctl)" -4 addr show dev lbp0 | grep -q "inet $WVIP/32"; }
on_link || fail "$WVIP is not on lbp0: $(ip -n "$(ns ctl)" addr show dev lbp0)"
lan() { nsx "$1" "$LBP_TCP_ECHO" connect "$WVIP" $SPORT 1000 2>/dev/null; }
lan_all() { [ "$(for _ in 1 2 3 4 5 6 7 8 9; do lan client50; done | sort -u | tr '\n' ' ')" = "node1 node2 node3 " ]; }
wait_until 10 lan_all || fail "client50 does not reach every node through $WVIP"
spec_patch wide '{"loadBalancerSourceRanges":["192.168.77.50/32"]}'
outside() { ! lan client51; }
wait_until 10 outside || fail "client51 (outside the range) still gets through"
lan client50 >/dev/null || fail "client50 (inside the range) was refused"
echo "$WVIP on lbp0: client50 reaches the nodes, client51 is refused"
kapi DELETE /api/v1/namespaces/default/services/wide >/dev/null
wait_until 15 service_gone wide || fail "wide was not removed"
on_link && fail "$WVIP still on lbp0 after the delete"
lan client50 && fail "$WVIP still answers after the delete"
echo "wide deleted: $WVIP left lbp0"
kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "controller exited with status $?"
echo PASS
