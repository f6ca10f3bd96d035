/* SPDX-License-Identifier: MIT */
/*
 * test_limits.c: the server's limits end to end over 127.0.0.1, as an
 * attacker or a bad day would test them (issue 12): sockets that are not
 * sessions (CONNECT, a request sent slowly, a keep-alive wait) are closed at
 * their deadline; max_connections counts sockets and max_sessions sessions;
 * a process out of file descriptors stops accepting instead of spinning.
 * Each case starts its own server on port 0 (e2e_util.h); every wait ends at
 * a deadline on the monotonic clock (deadline.h), and what a failed case
 * leaves running is torn down (cleanup.h). Run one with `test_limits <name>`
 * (CTest registers each separately).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libwebsockets.h> /* lwsl_emit_stderr, to restore the log */

#include "cases.h"
#include "cleanup.h"
#include "deadline.h"
#include "e2e_room.h"
#include "e2e_util.h"
#include "rawclient.h"

/* --- helpers --------------------------------------------------------------- */

static void send_str(int fd, const char *s)
{
    assert_int_equal(rc_tcp_send_raw(fd, s, strlen(s)), 0);
}

/* Read what is there on `fd` without waiting: 1 when the peer has closed it (EOF or reset),
 * else 0. What was read is appended to `got` (NUL-terminated, `cap` bytes) when given. */
static int drain(int fd, char *got, size_t cap)
{
    char buf[4096];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 0) <= 0)
            return 0;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return 1;
        if (n > 0 && got) {
            size_t used = strlen(got), c = (size_t)n < cap - used - 1 ? (size_t)n
                                                                       : cap - used - 1;

            memcpy(got + used, buf, c);
            got[used + c] = '\0';
        }
    }
}

/* Wait until `fd` has an HTTP status line (its code) or is closed (0), or `deadline`
 * passes (-1). */
static int http_status_by(int fd, int64_t deadline)
{
    char got[2048] = "";

    while (!dl_passed(deadline)) {
        int closed = drain(fd, got, sizeof(got));

        if (!strncmp(got, "HTTP/1.", 7) && strlen(got) >= 12)
            return atoi(got + 9);
        if (closed)
            return 0;
        dl_nap_ms(10);
    }
    return -1;
}

/* --- sockets that are not sessions ----------------------------------------- */

/* e2e_server_start's setup: the HTTP API on ("t0ken"), and /metrics ("m3trics"). */
static int api_setup(verani_server *srv, void *arg)
{
    verani_api_options api;

    (void)arg;
    memset(&api, 0, sizeof(api));
    api.token = "t0ken";
    api.metrics_token = "m3trics";
    return verani_server_set_api(srv, &api);
}

/*
 * Every socket that is not a session is closed at its deadline (handshake_timeout_ms), however
 * it keeps the server busy: a CONNECT request (libwebsockets makes it a raw socket, which
 * nothing ever closed), an upgrade whose headers trickle in, a keep-alive wait after a 404, an
 * API request whose body trickles in (libwebsockets restarts its timeout at every piece). A
 * session on the same server is not touched.
 */
static void test_non_session_deadlines(void **state)
{
    enum { CONNECT, HEADERS, KEEPALIVE, BODY, N };
    static const char *const names[N] = {"CONNECT", "trickled headers", "keep-alive wait",
                                         "trickled API body"};
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    int fd[N], closed[N] = {0}, i, open_left = N;
    int64_t deadline, next_trickle;
    E2e__Echo e = E2E__ECHO__INIT;

    (void)state;
    e2e_server_options(&o);
    o.handshake_timeout_ms = 1000;
    e2e_server_start(&h, &o, api_setup, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=stays");
    for (i = 0; i < N; i++) {
        fd[i] = rc_tcp_connect(h.port, 0);
        assert_true(fd[i] >= 0);
    }
    send_str(fd[CONNECT], "CONNECT x HTTP/1.1\r\nHost: x\r\n\r\n");
    send_str(fd[HEADERS], "GET /e2e/lobby?userId=slow HTTP/1.1\r\nHost: x\r\n");
    send_str(fd[KEEPALIVE], "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    send_str(fd[BODY], "POST /_verani/rooms/E2e/lobby/emit/chat.out?channel=default HTTP/1.1"
             "\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: "
             "application/x-protobuf\r\nContent-Length: 4096\r\n\r\n");
    /* a header line and a body byte every 200 ms: each would restart a timeout counted from
     * the last byte in */
    deadline = dl_after(DL_GENEROUS(1000));
    next_trickle = dl_now_ms();
    while (open_left && !dl_passed(deadline)) {
        rc_service(l, 0);
        for (i = 0; i < N; i++)
            if (!closed[i] && drain(fd[i], NULL, 0)) {
                closed[i] = 1;
                open_left--;
            }
        if (dl_now_ms() >= next_trickle) {
            if (!closed[HEADERS])
                (void)rc_tcp_send_raw(fd[HEADERS], "X-Slow: y\r\n", 11);
            if (!closed[BODY])
                (void)rc_tcp_send_raw(fd[BODY], "\n", 1);
            next_trickle += 200;
        }
        dl_nap_ms(10);
    }
    for (i = 0; i < N; i++) {
        if (!closed[i])
            fail_msg("the %s socket is still open past its deadline", names[i]);
        close(fd[i]);
    }
    /* the session, idle all along, is still served */
    e.text = "still here";
    rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_ECHO, &e.base, 1);
    {
        int64_t d = dl_after(DL_WAIT_MS);

        while (!rc_answer(a, 1) && !a->closed && !dl_passed(d))
            rc_service(l, 10);
    }
    assert_false(a->closed);
    assert_non_null(rc_answer(a, 1));
    assert_int_equal(rc_answer(a, 1)->kind, VERANI__WIRE__KIND__REPLY);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/*
 * max_connections counts sockets (a session is one, an HTTP request or an idle TCP connection
 * one too) and max_sessions counts sessions: past max_sessions an upgrade gets 503; at
 * max_connections the server stops accepting until a socket closes, then serves what waited.
 */
static void test_socket_and_session_limits(void **state)
{
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    int idle1, idle2, fd3, fd5, st;

    (void)state;
    e2e_server_options(&o);
    o.max_connections = 4;
    o.max_sessions = 2;
    o.handshake_timeout_ms = 60000; /* the idle sockets stay as long as the test needs */
    o.resume_grace_ms = 1;
    e2e_server_start(&h, &o, NULL, NULL);
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/lobby?userId=a");
    e2e_join(l, h.port, "/e2e/lobby?userId=b");
    /* a third session: 503, named; HTTP/1.0, so the server closes the socket after it (the
     * test knows the socket is gone when it sees the end) */
    fd3 = rc_tcp_connect(h.port, 0);
    assert_true(fd3 >= 0);
    send_str(fd3, "GET /e2e/lobby?userId=c HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n");
    assert_int_equal(http_status_by(fd3, dl_after(DL_WAIT_MS)), 503);
    {
        int64_t d = dl_after(DL_WAIT_MS);

        while (!drain(fd3, NULL, 0) && !dl_passed(d))
            dl_nap_ms(10);
        assert_false(dl_passed(d));
    }
    close(fd3);
    /* two idle sockets: 4 in all, the limit; accepted before anything that connects later */
    idle1 = rc_tcp_connect(h.port, 0);
    idle2 = rc_tcp_connect(h.port, 0);
    assert_true(idle1 >= 0 && idle2 >= 0);
    /* a fifth is not served while they are open: it waits in the backlog (or, accepted in the
     * same batch, is closed unanswered) */
    fd5 = rc_tcp_connect(h.port, 0);
    assert_true(fd5 >= 0);
    send_str(fd5, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    st = http_status_by(fd5, dl_after(1000));
    assert_true(st <= 0);
    /* one idle socket closes: room for one, and what waited is served (or, if the server
     * tried the backlog again before it saw the socket go, and closed it unanswered, the next
     * connection is) */
    close(idle1);
    {
        int64_t d = dl_after(DL_WAIT_MS);

        while ((st = http_status_by(fd5, d)) == 0) {
            close(fd5);
            fd5 = rc_tcp_connect(h.port, 0);
            assert_true(fd5 >= 0);
            send_str(fd5, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
        }
    }
    assert_int_equal(st, 404);
    close(fd5);
    close(idle2);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/* --- out of file descriptors ------------------------------------------------- */

static pthread_mutex_t logs_lock = PTHREAD_MUTEX_INITIALIZER;
static int accept_errors, not_accepting; /* {logs_lock} */

/* The server's log lines (from its thread): count the ones this test is about. */
static void count_logs(int level, const char *line)
{
    (void)level;
    pthread_mutex_lock(&logs_lock);
    if (strstr(line, "accept: errno"))
        accept_errors++;
    if (strstr(line, "not accepting connections"))
        not_accepting++;
    pthread_mutex_unlock(&logs_lock);
}

/* A child process (its own descriptor table) that opens `n` connections to `port` and holds
 * them until `*ctl` is closed; returns its pid once they are open. */
static pid_t hold_connections(int port, int n, int *ctl)
{
    int go[2], ready[2];
    pid_t pid;
    char c = 0;

    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        struct rlimit rl;
        int i, fd;

        /* only async-signal-safe calls here: the parent has threads */
        for (fd = 3; fd < 1024; fd++)
            if (fd != go[0] && fd != ready[1])
                close(fd);
        if (!getrlimit(RLIMIT_NOFILE, &rl)) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        for (i = 0; i < n; i++)
            if (rc_tcp_connect(port, 0) < 0)
                break;
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        if (read(go[0], &c, 1) < 0) /* EOF when the parent closes its end */
            _exit(1);
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    {
        struct pollfd p = {ready[0], POLLIN, 0};

        assert_int_equal(poll(&p, 1, dl_left_ms(dl_after(DL_WAIT_MS))), 1);
        assert_int_equal(read(ready[0], &c, 1), 1);
    }
    close(ready[0]);
    *ctl = go[1];
    return pid;
}

/* What test_out_of_descriptors changes in the process, put back even when it fails. */
static struct {
    struct rlimit saved;
    pid_t child;
    int ctl;
} fds_test;

static void fds_test_undo(void *arg)
{
    (void)arg;
    if (fds_test.child > 0) {
        close(fds_test.ctl); /* the child exits on EOF */
        waitpid(fds_test.child, NULL, 0);
        fds_test.child = 0;
    }
    verani_set_log_level(VERANI_LOG_ERR, lwsl_emit_stderr);
    setrlimit(RLIMIT_NOFILE, &fds_test.saved);
}

/*
 * A process whose descriptors run out (RLIMIT_NOFILE 256, 300 connections held by another
 * process) stops accepting and says so once, instead of failing accept() in a busy loop that
 * logs every time; when the connections go, it serves again.
 */
static void test_out_of_descriptors(void **state)
{
    enum { LIMIT = 256, HELD = 300 };
    e2e_server h;
    verani_server_options o;
    struct rlimit rl;
    rc_loop *l;
    int status, errs, notes;
    int64_t until;

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &fds_test.saved), 0);
    if (fds_test.saved.rlim_cur < LIMIT)
        skip();
    rl = fds_test.saved;
    rl.rlim_cur = LIMIT;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    cu_push(fds_test_undo, &fds_test);
    verani_set_log_level(VERANI_LOG_ERR | VERANI_LOG_WARN, count_logs);
    e2e_server_options(&o);
    o.log_level = VERANI_LOG_ERR | VERANI_LOG_WARN;
    o.handshake_timeout_ms = 60000; /* the held connections stay as long as the test needs */
    e2e_server_start(&h, &o, NULL, NULL);
    fds_test.child = hold_connections(h.port, HELD, &fds_test.ctl);
    /* the server runs short of descriptors and says so, once; then, a while with none to
     * spare: no accept() fails (each failure was a turn of a busy loop, and a log line) */
    until = dl_after(DL_WAIT_MS);
    do {
        dl_nap_ms(20);
        pthread_mutex_lock(&logs_lock);
        errs = accept_errors;
        notes = not_accepting;
        pthread_mutex_unlock(&logs_lock);
    } while (!errs && !notes && !dl_passed(until));
    if (!errs) {
        until = dl_after(1500);
        while (!dl_passed(until))
            dl_nap_ms(50);
        pthread_mutex_lock(&logs_lock);
        errs = accept_errors;
        notes = not_accepting;
        pthread_mutex_unlock(&logs_lock);
    }
    if (errs)
        fail_msg("accept() failed %d times (out of descriptors, a busy loop)", errs);
    assert_true(notes >= 1 && notes <= 2);
    /* the connections go: the server accepts and serves again */
    close(fds_test.ctl);
    assert_int_equal(waitpid(fds_test.child, &status, 0), fds_test.child);
    fds_test.child = 0;
    l = rc_loop_create();
    e2e_join(l, h.port, "/e2e/lobby?userId=back");
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    cu_drop(&fds_test);
    fds_test_undo(&fds_test);
}

/* --- herds: many frames at once to prompt readers ---------------------------- */

typedef struct {
    rc_conn **c;
    size_t n;
    size_t events; /* each needs this many EVENTs */
} herd;

static int herd_welcomed(const herd *h)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (!h->c[i]->welcomed && !h->c[i]->closed)
            return 0;
    return 1;
}

static int herd_has_events(const herd *h)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (h->c[i]->n_events < h->events && !h->c[i]->closed)
            return 0;
    return 1;
}

/* Service `l` (every client reads what arrives) until `pred` holds for `h` or `deadline`
 * passes; returns pred's last value. */
static int serve_until(rc_loop *l, int (*pred)(const herd *), const herd *h, int64_t deadline)
{
    while (!pred(h) && !dl_passed(deadline))
        rc_service(l, 0);
    return pred(h);
}

static void no_one_closed(const herd *h, const char *what)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        if (h->c[i]->closed)
            fail_msg("%s %zu (%s) closed with %d %s", what, i, h->c[i]->user_id,
                     h->c[i]->close_code, h->c[i]->close_reason);
}

/*
 * 1,200 clients connect at once, each announced to the channel (user.joined), then all of
 * them vanish and their 1,200 grace periods end together (user.left): every member reads
 * promptly, so nobody is closed as a slow consumer, whatever one loop turn or one sweep
 * produces for it (more than queue_max_frames, 1,024).
 */
static void test_herd_not_slow(void **state)
{
    enum { N = 1200, L = 3 };
    e2e_server h;
    verani_server_options o;
    struct rlimit rl;
    rc_loop *l;
    rc_conn **j = calloc(N, sizeof(*j)), *lc[L];
    herd joiners = {j, N, 0}, listeners = {lc, L, N};
    size_t i;
    char path[96];

    (void)state;
    assert_non_null(j);
    cu_push(free, j);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 2 * N + 256)
        skip();
    e2e_server_options(&o);
    o.resume_grace_ms = 2000;
    e2e_server_start(&h, &o, NULL, NULL);
    l = rc_loop_create();
    for (i = 0; i < L; i++) {
        snprintf(path, sizeof(path), "/e2e/herd?userId=listener%zu", i);
        lc[i] = e2e_join(l, h.port, path);
        lc[i]->keep = 0;
    }
    /* all at once */
    for (i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/e2e/herd?userId=j%zu&role=announce", i);
        j[i] = rc_connect(l, h.port, path, 1);
        j[i]->keep = 0;
    }
    assert_true(serve_until(l, herd_welcomed, &joiners, dl_after(DL_GENEROUS(6000))));
    assert_true(serve_until(l, herd_has_events, &listeners, dl_after(DL_GENEROUS(6000))));
    no_one_closed(&joiners, "joiner");
    no_one_closed(&listeners, "listener");
    for (i = 0; i < L; i++)
        assert_int_equal(lc[i]->n_events, N);
    /* all of them vanish (no close frame: each is kept for a resume) and their grace periods
     * end together */
    for (i = 0; i < N; i++)
        if (j[i]->wsi)
            shutdown(lws_get_socket_fd(j[i]->wsi), SHUT_RDWR);
    listeners.events = 2 * N;
    assert_true(serve_until(l, herd_has_events, &listeners,
                            dl_after(DL_GENEROUS(o.resume_grace_ms + 6000))));
    no_one_closed(&listeners, "listener");
    for (i = 0; i < L; i++) {
        assert_int_equal(lc[i]->n_events, 2 * N);
        assert_int_equal(lc[i]->seq_errors, 0);
    }
    rc_loop_destroy(l);
    e2e_server_stop(&h);
    cu_drop(j);
    free(j);
}

/* --- detached sessions, long paths, channel names ----------------------------- */

/* The value of metric `name` (a line "name value"), or -1 when /metrics does not answer. */
static long long metric(int port, const char *name)
{
    char resp[16384] = "", want[128];
    const char *p;
    int fd = rc_tcp_connect(port, 0);

    if (fd < 0)
        return -1;
    send_str(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer m3trics\r\n"
             "Connection: close\r\n\r\n");
    {
        int64_t d = dl_after(DL_WAIT_MS);

        while (!drain(fd, resp, sizeof(resp)) && !dl_passed(d))
            dl_nap_ms(5);
    }
    close(fd);
    snprintf(want, sizeof(want), "\n%s ", name);
    p = strstr(resp, want);
    return p ? atoll(p + strlen(want)) : -1;
}

/* A session over bare TCP on /e2e/lobby as `user`, resuming `token` when given: returns the
 * socket, with the WELCOME's token and `resumed` flag. */
static int tcp_session(int port, const char *user, const char *token, char out_token[33],
                       int *resumed)
{
    rc_env env = VERANI__WIRE__ENVELOPE__INIT, *w = NULL;
    Verani__Wire__Hello hh = VERANI__WIRE__HELLO__INIT;
    static uint8_t buf[65536];
    char path[96];
    size_t len;
    int fd = rc_tcp_connect(port, 0), op;

    assert_true(fd >= 0);
    snprintf(path, sizeof(path), "/e2e/lobby?userId=%s", user);
    assert_int_equal(rc_tcp_upgrade(fd, path, NULL, 0), 101);
    env.has_kind = 1;
    env.kind = VERANI__WIRE__KIND__HELLO;
    hh.resume_token = (char *)token;
    env.hello = &hh;
    len = verani__wire__envelope__pack(&env, buf);
    assert_int_equal(rc_tcp_send_frame(fd, 2, buf, len), 0);
    while ((op = rc_tcp_read_frame(fd, (int)DL_WAIT_MS, buf, sizeof(buf), &len)) == 2 ||
           op == 9) {
        if (op != 2)
            continue;
        w = verani__wire__envelope__unpack(NULL, len, buf);
        if (w && w->kind == VERANI__WIRE__KIND__WELCOME)
            break;
        verani__wire__envelope__free_unpacked(w, NULL);
        w = NULL;
    }
    assert_non_null(w);
    snprintf(out_token, 33, "%s", w->welcome->resume_token);
    *resumed = w->welcome->resumed;
    verani__wire__envelope__free_unpacked(w, NULL);
    return fd;
}

/* Cut a connection: a reset, no close frame (its session waits for a resume). */
static void cut(int fd)
{
    struct linger lg = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

static void wait_metric(int port, const char *name, long long want)
{
    int64_t d = dl_after(DL_WAIT_MS);
    long long v;

    while ((v = metric(port, name)) != want && !dl_passed(d))
        dl_nap_ms(20);
    if (v != want)
        fail_msg("%s is %lld, not %lld", name, v, want);
}

/*
 * Sessions waiting for a resume are bounded (max_detached): past the bound the one lost
 * longest ago ends (on_disconnect) and is counted in /metrics; its token then starts a fresh
 * session, while the newest still resumes.
 */
static void test_detached_bound(void **state)
{
    enum { N = 5, MAX = 3 };
    e2e_server h;
    verani_server_options o;
    char tokens[N][33], user[16], fresh[33], line[32];
    int fd[N], resumed, i;

    (void)state;
    e2e_server_options(&o);
    o.resume_grace_ms = 60000; /* none ends by its grace period during the test */
    o.max_detached = MAX;
    e2e_server_start(&h, &o, api_setup, NULL);
    for (i = 0; i < N; i++) {
        snprintf(user, sizeof(user), "d%d", i);
        fd[i] = tcp_session(h.port, user, NULL, tokens[i], &resumed);
    }
    /* lost one after the other, oldest first */
    for (i = 0; i < N; i++) {
        cut(fd[i]);
        wait_metric(h.port, "verani_detached_sessions", i < MAX ? i + 1 : MAX);
    }
    wait_metric(h.port, "verani_detached_sessions_dropped_total", N - MAX);
    for (i = 0; i < N; i++) {
        snprintf(line, sizeof(line), "disconnect:d%d", i);
        assert_int_equal(e2e_log_count(line), i < N - MAX ? 1 : 0);
    }
    /* the oldest's token starts afresh; the newest resumes */
    fd[0] = tcp_session(h.port, "d0", tokens[0], fresh, &resumed);
    assert_false(resumed);
    fd[N - 1] = tcp_session(h.port, "d4", tokens[N - 1], fresh, &resumed);
    assert_true(resumed);
    close(fd[0]);
    close(fd[N - 1]);
    e2e_server_stop(&h);
}

/* An upgrade whose path is longer than the server reads is told so: 414, not "must be a GET". */
static void test_long_path(void **state)
{
    e2e_server h;
    verani_server_options o;
    char path[700], head[2048];
    int fd;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, NULL, NULL);
    memset(path, 'a', sizeof(path));
    memcpy(path, "/e2e/", 5);
    snprintf(path + 600, sizeof(path) - 600, "?userId=x");
    fd = rc_tcp_connect(h.port, 0);
    assert_true(fd >= 0);
    assert_int_equal(rc_tcp_upgrade(fd, path, head, sizeof(head)), 414);
    close(fd);
    /* one that fits still works */
    fd = rc_tcp_connect(h.port, 0);
    assert_int_equal(rc_tcp_upgrade(fd, "/e2e/lobby?userId=x", head, sizeof(head)), 101);
    close(fd);
    e2e_server_stop(&h);
}

typedef struct { rc_conn *c; uint64_t rid; } answer_arg;
static int p_answer(void *a)
{
    answer_arg *x = a;

    return rc_answer(x->c, x->rid) != NULL || x->c->closed;
}

/* JOIN with a channel name holding a NUL byte ("ab\0cd", which a C string reads as "ab") is
 * refused, and the session is in no channel "ab". */
static void test_channel_with_nul(void **state)
{
    /* kind JOIN, channel "ab\0cd", request_id 7: by hand, as protobuf-c cannot put a NUL in
     * a string */
    static const uint8_t join[] = {0x08, 0x09, 0x1a, 0x05, 'a', 'b', 0x00, 'c', 'd', 0x28, 0x07};
    e2e_server h;
    verani_server_options o;
    rc_loop *l;
    rc_conn *a;
    answer_arg aa;
    const rc_env *r;
    E2e__Cmd m = E2E__CMD__INIT;
    E2e__Count *n;

    (void)state;
    e2e_server_options(&o);
    e2e_server_start(&h, &o, NULL, NULL);
    l = rc_loop_create();
    a = e2e_join(l, h.port, "/e2e/lobby?userId=nul");
    rc_send(a, join, sizeof(join), 0);
    aa.c = a;
    aa.rid = 7;
    assert_true(rc_wait(l, p_answer, &aa, (int)DL_WAIT_MS));
    r = rc_answer(a, 7);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__ERROR);
    assert_int_equal(r->error->code, VERANI__WIRE__ERROR_CODE__PROTOCOL);
    assert_int_equal(e2e_log_count("join:ab"), 0);
    /* an emit to channel "ab" reaches nobody */
    m.op = 1;
    m.arg = "ab";
    m.text = "x";
    rc_send_event(a, VERANI__WIRE__KIND__REQUEST, E2E_EV_CMD, &m.base, 8);
    aa.rid = 8;
    assert_true(rc_wait(l, p_answer, &aa, (int)DL_WAIT_MS));
    r = rc_answer(a, 8);
    assert_int_equal(r->kind, VERANI__WIRE__KIND__REPLY);
    n = e2e__count__unpack(NULL, r->payload.len, r->payload.data);
    assert_non_null(n);
    assert_int_equal(n->n, 0);
    e2e__count__free_unpacked(n, NULL);
    assert_false(a->closed);
    rc_loop_destroy(l);
    e2e_server_stop(&h);
}

/*
 * An API request whose body streams in steadily (a byte every 2 ms, never complete) is closed
 * at its deadline too: libwebsockets restarts its own content timeout at every piece it reads,
 * which must not undo the close the server asked for.
 */
static void test_streamed_body_deadline(void **state)
{
    e2e_server h;
    verani_server_options o;
    int fd, closed = 0;
    int64_t deadline;

    (void)state;
    e2e_server_options(&o);
    o.handshake_timeout_ms = 500;
    e2e_server_start(&h, &o, api_setup, NULL);
    fd = rc_tcp_connect(h.port, 0);
    assert_true(fd >= 0);
    send_str(fd, "POST /_verani/rooms/E2e/lobby/emit/chat.out?channel=default HTTP/1.1"
             "\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: "
             "application/x-protobuf\r\nContent-Length: 60000\r\n\r\n");
    deadline = dl_after(DL_GENEROUS(500));
    while (!dl_passed(deadline)) {
        if (drain(fd, NULL, 0)) {
            closed = 1;
            break;
        }
        (void)rc_tcp_send_raw(fd, "\n", 1);
        dl_nap_ms(2);
    }
    close(fd);
    if (!closed)
        fail_msg("a socket streaming an API body is still open past its deadline");
    e2e_server_stop(&h);
}

static const vt_case cases[] = {
    VT_CASE(test_non_session_deadlines, ""),
    VT_CASE(test_streamed_body_deadline, ""),
    VT_CASE(test_socket_and_session_limits, ""),
    VT_CASE(test_out_of_descriptors, ""),
    VT_CASE(test_herd_not_slow, "poll"),
    VT_CASE(test_detached_bound, ""),
    VT_CASE(test_long_path, ""),
    VT_CASE(test_channel_with_nul, ""),
};

/* `test_limits test_<case>` runs one case (each is a CTest test limits_<case>; `poll`: also
 * limits_poll_<case> on lws's poll() loop). */
int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    verani_set_log_level(getenv("VERANI_TEST_VERBOSE") ? 0x1f : VERANI_LOG_ERR, NULL);
    return vt_main("limits", cases, VT_N(cases), argc > 1 ? argv[1] : NULL, cu_teardown);
}
