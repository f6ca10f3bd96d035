/* SPDX-License-Identifier: MIT */
/*
 * fault_proxy.h: a unix-socket (or TCP) proxy for one test, between a program and the
 * server it talks to (a node and its Redis), that can misbehave on command
 * (shared/SCALEOUT.md section 5):
 *   FP_PASS   bytes flow both ways (and whatever was held is delivered first)
 *   FP_HOLD   bytes are read and kept, not delivered: a partition that heals
 *             later, when FP_PASS delivers them late (even those of a connection
 *             the program closed meanwhile: they were on the wire before its close)
 *   FP_RESET  every connection is cut (RST), what was held is dropped; new
 *             connections are accepted and pass
 * It runs on a thread of its own and is on the teardown list (cleanup.h).
 * Include after <cmocka.h>; link test_common.
 */
#ifndef VERANI_TEST_FAULT_PROXY_H
#define VERANI_TEST_FAULT_PROXY_H

#include <stddef.h>

typedef enum fp_mode { FP_PASS, FP_HOLD, FP_RESET } fp_mode;

typedef struct fault_proxy fault_proxy;

/* Listen on a fresh unix socket in `dir` (which must exist) and forward to the unix socket
 * `target`. The proxy's own address for the program: fp_address (as "unix:<path>"). */
fault_proxy *fp_start(const char *dir, const char *target);
const char *fp_address(const fault_proxy *fp);
/* The same between TCP clients and servers on 127.0.0.1: listen on a free port (fp_port;
 * fp_address is "127.0.0.1:<port>") and forward each new connection to `target_port`; what
 * fp_retarget names then gets the next ones, as a load balancer sends new connections to
 * another node once one stops (those already made stay where they are). Up to 256
 * connections at once. */
fault_proxy *fp_start_tcp(int target_port);
int fp_port(const fault_proxy *fp);
void fp_retarget(fault_proxy *fp, int target_port);
/* Switch modes; FP_RESET acts once and then passes. Any thread. */
void fp_set(fault_proxy *fp, fp_mode mode);
/* Bytes held now (both directions). */
size_t fp_held(fault_proxy *fp);
/* Bytes delivered to the server, on FP_PASS, from connections the program had closed while
 * they were held (late writes). */
size_t fp_late(fault_proxy *fp);
/* Stop the thread, close everything, free. NULL is a no-op. */
void fp_free(fault_proxy *fp);

#endif /* VERANI_TEST_FAULT_PROXY_H */
