/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_presence.c: the presence example (examples/presence) on a cluster whose owner
 * crashes (shared/SCALEOUT.md section 6, check 6): three node processes (cluster_node_main.c
 * mounts the example's room), a TCP proxy as the load balancer, a watcher and five users with
 * two devices each in instance "lobby". The owner is killed (SIGKILL); once its lease is out,
 * the balancer's next node claims the instance, restores every session from its record in
 * Redis and runs the example's on_hibernation_restore, which rebuilds who is present from the
 * restored sessions and the stored records. Every device resumes with its client id
 * (recovery_failed: the frames died with the owner), nobody ever hears user.offline, and the
 * new owner's list says every user is online with both devices. Then both devices of one
 * user leave, and everyone hears that user.offline once: what the first check counts does
 * arrive when it should. Every wait is bounded by a deadline.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <verani/verani.h>

#include "cases.h"
#include "cleanup.h"
#include "cluster_util.h"
#include "deadline.h"
#include "fault_proxy.h"
#include "node_proc.h"
#include "presence_client.h"
#include "redis_server.h"

#define USERS 5
#define DEVICES 2
#define CLIENTS (1 + USERS * DEVICES) /* [0] is the watcher */

typedef struct device {
    verani_client *c;
    char id[64];              /* its client id before the crash */
    int opens, online, offline, resumed, fresh;
} device;

static void on_online(verani_client *c, const Presence__UserPresence *m, void *user)
{
    (void)c;
    (void)m;
    ((device *)user)->online++;
}

static void on_offline(verani_client *c, const Presence__UserPresence *m, void *user)
{
    (void)c;
    (void)m;
    ((device *)user)->offline++;
}

static void on_open(verani_client *c, void *user)
{
    (void)c;
    ((device *)user)->opens++;
}

static void on_recovery(verani_client *c, int resumed, void *user)
{
    device *d = user;

    (void)c;
    if (resumed)
        d->resumed++;
    else
        d->fresh++;
}

static void device_start(verani_client_loop *loop, device *d, const char *lb, const char *user,
                         const char *kind)
{
    verani_client_options o;
    char url[192], err[256];

    verani_client_options_init(&o);
    snprintf(url, sizeof(url), "ws://%s/presence/lobby?userId=%s&device=%s", lb, user, kind);
    o.url = url;
    o.room = &presence_presence_schema;
    o.initial_delay_ms = 200;
    o.max_delay_ms = 1000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    d->c = verani_client_create(loop, &o, err, sizeof(err));
    if (!d->c)
        fail_msg("verani_client_create: %s", err);
    assert_int_equal(presence_presence_client_on_user_online(d->c, on_online, d), 0);
    assert_int_equal(presence_presence_client_on_user_offline(d->c, on_offline, d), 0);
    assert_true(verani_client_on_open(d->c, on_open, d) > 0);
    assert_true(verani_client_on_recovery_failed(d->c, on_recovery, d) > 0);
}

/* Until devices `from` to `to` - 1 have opened `opens` times each. */
static void until_opened(verani_client_loop *loop, const device *d, int from, int to, int opens,
                         int64_t deadline)
{
    int i, all = 0;

    while (!all && !dl_passed(deadline)) {
        verani_client_loop_service(loop, 10);
        for (all = 1, i = from; i < to && all; i++)
            all = d[i].opens >= opens;
    }
    for (i = from; i < to; i++)
        if (d[i].opens < opens)
            fail_msg("device %d opened %d time(s), not %d", i, d[i].opens, opens);
}

static int offline_heard(const device *d)
{
    int i, n = 0;

    for (i = 0; i < CLIENTS; i++)
        n += d[i].offline;
    return n;
}

typedef struct listed {
    int done, users, online_with_both;
} listed;

static void on_list(verani_client *c, verani_reply_status st, const Presence__PresenceList *r,
                    const char *error, void *user)
{
    listed *l = user;
    size_t i;

    (void)c;
    (void)error;
    l->done = st == VERANI_REPLY_OK ? 1 : -1;
    for (i = 0; r && i < r->n_users; i++) {
        l->users++;
        l->online_with_both += r->users[i]->status == PRESENCE__STATUS__ONLINE &&
                               r->users[i]->devices == DEVICES;
    }
}

static void test_crash_no_offline_flicker(void **state)
{
    static node nodes[3];
    static device d[CLIENTS];
    static const char *kinds[DEVICES] = {"phone", "laptop"};
    rs_server *rs = rs_start(NULL);
    char dir[] = "/tmp/verani-presence.XXXXXX", user[16];
    verani_client_loop *loop;
    fault_proxy *lb;
    listed l;
    int64_t dl;
    int i, k;

    (void)state;
    memset(d, 0, sizeof(d));
    nodes_start(nodes, rs, dir);
    lb = fp_start_tcp(nodes[0].port);
    loop = client_loop();
    device_start(loop, &d[0], fp_address(lb), "watch", "desk");
    until_opened(loop, d, 0, 1, 1, dl_after(DL_WAIT_MS));
    for (i = 0; i < USERS; i++)
        for (k = 0; k < DEVICES; k++) {
            snprintf(user, sizeof(user), "u%d", i);
            device_start(loop, &d[1 + i * DEVICES + k], fp_address(lb), user, kinds[k]);
        }
    until_opened(loop, d, 1, CLIENTS, 1, dl_after(DL_WAIT_MS));
    dl = dl_after(DL_WAIT_MS);
    while (d[0].online < USERS && !dl_passed(dl))
        verani_client_loop_service(loop, 10);
    assert_int_equal(d[0].online, USERS); /* each user's first device, once */
    for (i = 0; i < CLIENTS; i++) {
        verani_client_info info;

        assert_int_equal(verani_client_get_info(d[i].c, &info), 0);
        snprintf(d[i].id, sizeof(d[i].id), "%s", info.client_id);
    }

    node_kill(&nodes[0]);
    fp_retarget(lb, nodes[1].port);
    /* lease + max backoff + 1 s (SCALEOUT check 6), made generous for a loaded machine */
    until_opened(loop, d, 0, CLIENTS, 2, dl_after(DL_GENEROUS(1000 + 1000 + 1000)));
    for (i = 0; i < CLIENTS; i++) {
        verani_client_info info;

        assert_int_equal(verani_client_get_info(d[i].c, &info), 0);
        if (strcmp(info.client_id, d[i].id) || d[i].resumed != 1 || d[i].fresh)
            fail_msg("device %d: id %s (was %s), resumed with frames lost %d, fresh %d", i,
                     info.client_id, d[i].id, d[i].resumed, d[i].fresh);
    }
    memset(&l, 0, sizeof(l));
    assert_int_equal(presence_presence_client_request_list(d[0].c, DL_WAIT_MS, on_list, &l), 0);
    dl = dl_after(DL_WAIT_MS);
    while (!l.done && !dl_passed(dl))
        verani_client_loop_service(loop, 10);
    assert_int_equal(l.done, 1);
    assert_int_equal(l.users, 1 + USERS);      /* the watcher and every user */
    assert_int_equal(l.online_with_both, USERS); /* both devices each, online */
    dl = dl_after(300); /* anything late would come now */
    while (!dl_passed(dl))
        verani_client_loop_service(loop, 10);
    assert_int_equal(offline_heard(d), 0); /* no flicker */
    assert_int_equal(d[0].online, USERS);  /* nor a second "online" */

    /* the control: a user who does leave is heard leaving, by everyone else, once */
    for (k = 0; k < DEVICES; k++) {
        verani_client_destroy(d[CLIENTS - 1 - k].c);
        d[CLIENTS - 1 - k].c = NULL;
    }
    dl = dl_after(DL_WAIT_MS);
    while (offline_heard(d) < CLIENTS - DEVICES && !dl_passed(dl))
        verani_client_loop_service(loop, 10);
    assert_int_equal(offline_heard(d), CLIENTS - DEVICES);
    for (i = 0; i < CLIENTS - DEVICES; i++)
        assert_int_equal(d[i].offline, 1);
    client_loop_end(loop);
    assert_int_equal(node_stop(&nodes[1]), 0);
    assert_int_equal(node_stop(&nodes[2]), 0);
    fp_free(lb);
    rs_free(rs);
    nodes_clean(dir);
}

static const vt_case cases[] = {
    VT_CASE(test_crash_no_offline_flicker, ""),
};

/* `test_cluster_presence test_<case>` runs one case (CTest: cluster_presence_<case>). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("cluster_presence", cases, VT_N(cases), argc > 1 ? argv[1] : NULL,
                   cu_teardown);
}
