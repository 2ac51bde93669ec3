/*
 * proxy.h — a loopback TCP proxy that a test can cut, to make the API
 * server unreachable for one process while others still reach it.
 *
 * When cut ("blackholed") the proxy closes every forwarded connection and
 * then accepts new ones but forwards nothing, so the client sees requests
 * hang until its own timeouts fire — the harder case for a client than a
 * refused connection.
 */
#ifndef LBP_TEST_PROXY_H
#define LBP_TEST_PROXY_H

#include <stdbool.h>

struct lbp_test_proxy;

/* Listens on 127.0.0.1:<ephemeral> and forwards to 127.0.0.1:target_port. */
int lbp_test_proxy_start(int target_port, struct lbp_test_proxy **out);
int lbp_test_proxy_port(const struct lbp_test_proxy *p);
void lbp_test_proxy_blackhole(struct lbp_test_proxy *p, bool on);
void lbp_test_proxy_stop(struct lbp_test_proxy *p);

#endif
