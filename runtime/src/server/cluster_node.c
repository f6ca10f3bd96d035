/* SPDX-License-Identifier: MIT */
/*
 * cluster_node.c: the server's side of the cluster (opts.cluster): the node
 * (cluster/cluster.c) created on the server's libev loop at listen and
 * destroyed before the loop goes, whether the node may serve (live: its lease
 * held) for the upgrade's 503, GET /health for load balancers, and the
 * node's figures for /metrics. Without opts.cluster.redis_address nothing
 * here touches Redis: the node is NULL and the server serves.
 *
 * Ownership: the options' strings are the server's copies (vr_cluster_opts_copy
 * at create, freed at destroy); srv->cluster is owned here. Loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster-private.h"
#include "core/core-private.h"
#include "server-int.h"

int vr_cluster_opts_copy(verani_server *srv)
{
    verani_cluster_options *c = &srv->opts.cluster;
    const char **s[] = {&c->redis_address, &c->redis_password, &c->prefix, &c->public_url,
                        &c->node_id};
    size_t i;
    int r = 0;

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        const char *given = *s[i];

        *s[i] = given ? vr_strdup(given) : NULL;
        if (given && !*s[i])
            r = VERANI_ENOMEM;
    }
    return r;
}

void vr_cluster_opts_free(verani_server *srv)
{
    verani_cluster_options *c = &srv->opts.cluster;

    vr_free((char *)c->redis_address);
    vr_free((char *)c->redis_password);
    vr_free((char *)c->prefix);
    vr_free((char *)c->public_url);
    vr_free((char *)c->node_id);
    memset(c, 0, sizeof(*c));
}

static void on_live(vr_cluster *c, int live, void *arg)
{
    verani_server *srv = arg;

    vr_owners_live(srv, live); /* fence, or validate what was fenced */
    if (!live && srv->stopping)
        return; /* it leaves (vr_cluster_node_leave said so) */
    if (live)
        VR_NOTICE("cluster: node %s is live\n", vr_cluster_node_id(c));
    else
        VR_WARN("cluster: node %s is not live (Redis unreachable, or its lease lost): "
                "upgrades get 503 until it is\n", vr_cluster_node_id(c));
}

static void on_reset(vr_cluster *c, void *arg)
{
    VR_WARN("cluster: Redis lost its data (a new incarnation): node %s registers again\n",
            vr_cluster_node_id(c));
    vr_owners_reset(arg);
}

int vr_cluster_node_start(verani_server *srv, char *err, size_t errlen)
{
    const verani_cluster_options *co = &srv->opts.cluster;
    vr_cluster_options o;

    if (!co->redis_address || srv->cluster)
        return 0;
    if (!srv->evloop) {
        snprintf(err, errlen, "the cluster runs on the default event loop (libev): "
                 "event_loop must be VERANI_LOOP_DEFAULT");
        return VERANI_EINVAL;
    }
    memset(&o, 0, sizeof(o));
    o.redis_address = co->redis_address;
    o.password = co->redis_password;
    o.prefix = co->prefix;
    o.public_url = co->public_url;
    o.node_id = co->node_id;
    o.heartbeat_ms = co->heartbeat_ms;
    o.lease_ms = co->lease_ms;
    o.command_timeout_ms = co->command_timeout_ms;
    o.on_live = on_live;
    o.on_reset = on_reset;
    o.arg = srv;
    if (vr_owners_start(srv) || vr_replica_start(srv)) {
        vr_owners_free(srv);
        vr_replica_stop(srv);
        snprintf(err, errlen, "out of memory");
        return VERANI_ENOMEM;
    }
    srv->cluster = vr_cluster_create(srv->evloop, &o, err, errlen);
    if (!srv->cluster) {
        vr_owners_free(srv);
        vr_replica_stop(srv);
        return VERANI_EINVAL;
    }
    vr_cluster_on_call(srv->cluster, vr_calls_on_call); /* emits forwarded to this node */
    VR_NOTICE("cluster: node %s joins through %s\n", vr_cluster_node_id(srv->cluster),
              co->redis_address);
    return 0;
}

void vr_cluster_node_stop(verani_server *srv)
{
    vr_cluster *c = srv->cluster;

    srv->cluster = NULL; /* the claims it answers now (failed) find the node gone */
    vr_cluster_destroy(c);
    vr_owners_free(srv);
    vr_replica_stop(srv);
}

static void on_left(vr_cluster *c, void *arg)
{
    verani_server *srv = arg;

    (void)c;
    srv->cluster_leaving = 0;
}

void vr_cluster_node_leave(verani_server *srv)
{
    if (!srv->cluster)
        return;
    VR_NOTICE("cluster: node %s leaves: its instances may be claimed by other nodes now\n",
              vr_cluster_node_id(srv->cluster));
    srv->cluster_leaving = vr_cluster_leave(srv->cluster, on_left, srv) == 0;
}

int vr_cluster_node_ok(verani_server *srv)
{
    return !srv->cluster || vr_cluster_lease_ok(srv->cluster);
}

int vr_health_serve(verani_server *srv, struct lws *wsi)
{
    char body[256];
    int ok = !srv->stopping && !srv->stop_flag && vr_cluster_node_ok(srv);

    if (srv->cluster)
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"cluster\":true,\"node\":\"%s\","
                 "\"live\":%s}\n", ok ? "ok" : "unavailable", vr_cluster_node_id(srv->cluster),
                 vr_cluster_lease_ok(srv->cluster) ? "true" : "false");
    else
        snprintf(body, sizeof(body), "{\"status\":\"%s\",\"cluster\":false}\n",
                 ok ? "ok" : "unavailable");
    if (vr_http_answer_ex(wsi, ok ? 200 : 503, "application/json", body,
                          ok ? NULL : "retry-after:", "1"))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void vr_cluster_node_metrics(verani_server *srv, vr_sb *sb)
{
    vr_cluster_stats st;

    if (!srv->cluster)
        return;
    vr_cluster_get_stats(srv->cluster, &st);
    vr_sb_printf(sb, "# HELP verani_cluster_live Whether this node holds its lease (1) and "
                 "serves.\n# TYPE verani_cluster_live gauge\nverani_cluster_live %d\n",
                 vr_cluster_lease_ok(srv->cluster));
    vr_sb_printf(sb, "# HELP verani_cluster_heartbeats_total Heartbeats Redis acknowledged.\n"
                 "# TYPE verani_cluster_heartbeats_total counter\n"
                 "verani_cluster_heartbeats_total %llu\n", (unsigned long long)st.heartbeats);
    vr_sb_printf(sb, "# HELP verani_cluster_fenced_total Times the lease ran out.\n"
                 "# TYPE verani_cluster_fenced_total counter\nverani_cluster_fenced_total %llu\n",
                 (unsigned long long)st.fenced);
    vr_sb_printf(sb, "# HELP verani_cluster_resets_total Times Redis lost its data.\n"
                 "# TYPE verani_cluster_resets_total counter\nverani_cluster_resets_total %llu\n",
                 (unsigned long long)st.resets);
    vr_owners_metrics(srv, sb);
    vr_handover_metrics(srv, sb);
    vr_replica_metrics(srv, sb);
}
