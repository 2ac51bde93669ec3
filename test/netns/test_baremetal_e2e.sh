#!/usr/bin/env bash
# The whole bare-metal loop with real hosts: `lbprov controller --cloud
# baremetal` hands the Service an address from a pool, `lbprov speaker` on
# three node namespaces elects one owner and answers ARP for it, and the
# client's own kernel connects to the Service through that owner. Deleting
# the Service frees the address: the controller drops its finalizer, the
# speakers stop answering, and the client can no longer resolve the VIP.
# shellcheck source=test/netns/lib.sh
. "$(dirname "$0")/lib.sh"

NODES=(node1 node2 node3)

# ingress NAME: the first ingress IP the API server holds for Service NAME.
ingress() {
    kapi GET "/api/v1/namespaces/default/services/$1" 2>/dev/null |
        grep -o '"ingress":\[{"ip":"[^"]*"' | sed 's/.*"ip":"//; s/"$//'
}
has_ingress() { [ "$(ingress "$1")" = "$2" ]; }
service_gone() { ! kapi GET "/api/v1/namespaces/default/services/$1" >/dev/null 2>&1; }

standard_lan
lan_api
kube_nodes
# One address in the pool, so the allocation is known in advance: the VIP
# every node already holds on lo (standard_lan).
cat >"$WORK/pools.yaml" <<YAML
pools:
  - name: lan
    addresses: [$VIP4/32]
YAML

# The controller next to the API server, in the lan namespace.
ip netns exec "$(ns lan)" "$LBPROV" controller --cloud baremetal \
    --cloud-config "$WORK/pools.yaml" --kubeconfig "$WORK/kubeconfig" \
    --http-bind-address 127.0.0.1:10258 --metallb-poll-period 1s \
    >>"$WORK/controller.log" 2>&1 &
CTL_PID=$!
PIDS+=($!)
wait_until 15 nsx lan curl -sf http://127.0.0.1:10258/readyz || fail "controller not ready"
for h in "${NODES[@]}"; do
    speaker "$h" --pool-config "$WORK/pools.yaml"
done

# A plain LoadBalancer Service: no address anywhere yet.
kapi POST /api/v1/namespaces/default/services "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\
\"metadata\":{\"name\":\"web\"},\"spec\":{\"type\":\"LoadBalancer\",\
\"allocateLoadBalancerNodePorts\":false,\"ports\":[{\"port\":$PORT,\"protocol\":\"TCP\"}]}}" \
    >/dev/null
kube_endpoints web node1 node2 node3

wait_until 15 has_ingress web "$VIP4" || fail "the controller did not give web $VIP4"
log "controller allocated $VIP4 to web"
want=$(rank "$VIP4" | head -n 1)
wait_until 15 owns "$want" "$VIP4" || fail "$want (rendezvous winner) does not own $VIP4"
wait_until 10 reaches "$VIP4" "$want" || fail "client does not reach $VIP4 through $want"
macs=$(arping_macs client eth0 "$VIP4" 3 3 | sort -u)
[ "$macs" = "$(mac_of "$want" eth0)" ] || fail "ARP replies for $VIP4 came from: $macs"
echo "web: $VIP4 reached through $want, and only $want answers ARP"

# Delete: address freed, finalizer dropped, nobody answers any more.
kapi DELETE /api/v1/namespaces/default/services/web >/dev/null
wait_until 15 service_gone web || fail "web was not removed (finalizer kept?)"
wait_until 10 unanswered client eth0 "$VIP4" || fail "$VIP4 still answered after web was deleted"
echo "web deleted: the finalizer was released and $VIP4 is no longer announced"

kill -TERM "$CTL_PID"
wait "$CTL_PID" || fail "controller exited with status $?"
echo PASS
