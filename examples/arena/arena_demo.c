/* SPDX-License-Identifier: MIT */
/*
 * arena_demo.c: `arena_demo ARENA_SERVER [--restart]`, the arena example end
 * to end over real sockets, and its CTest tests. It starts ARENA_SERVER (the
 * arena_server program) as a child process on 127.0.0.1 (a free port) with a
 * storage file in a fresh directory under $TMPDIR, connects two typed clients
 * (alice, bob) on one client loop, and plays a script:
 *   1. they move, and each sees the other's position in a `positions` tick;
 *   2. alice whispers to bob (only bob hears it);
 *   3. scoreboard requests, answered by the server from its worker pool;
 *   4. both say `ready`: round 1 starts (the instance's alarm is set); moves
 *      score points, as the scoreboard shows;
 *   5. without --restart: the alarm ends the round: both get `round_over`
 *      with the scores and the new record, and the scoreboard shows it;
 *      with --restart: the server gets SIGTERM while the round runs (it must
 *      exit 0: under ASan, leak-free) and starts again on the same storage
 *      file and port; the alarm fires in the new server, and alice and bob,
 *      which reconnect by themselves, resume their sessions and get
 *      `round_over`; a new client, carol, finds the round in the record.
 * Every wait ends at a deadline on the monotonic clock, derived generously
 * from the settings (VERANI_TEST_TIME_SCALE=N stretches them N times); only
 * the round's length is a duration the script relies on: the steps from the
 * round's start to the SIGTERM must take less than it (4 s, scaled), and the
 * script says so if they did not. The server is killed when the script fails
 * or this process dies (SIGKILL). Exit status: 0 when everything arrived, 1
 * naming what did not, 2 for a usage or setup error.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <verani/verani.h>

#include "arena_client.h"

/* How long a round lasts (scaled), and the tick. With --restart the round must outlast
 * every step from its start to the SIGTERM, on a loaded machine under a sanitizer too, so it
 * is longer there (the test then waits for the rest of it after the restart). */
#define ROUND_MS_PLAY 4000
#define ROUND_MS_RESTART 15000
#define TICK_MS 50
static int64_t round_len_ms = ROUND_MS_PLAY; /* set by main, once */

/* --- deadlines (as tests/common/deadline.h, which a user's project does not have) ----- */

/* The bound for a wait whose event is at most `ms` away: ten times that plus 5 s. */
#define GENEROUS(ms) (10 * (int64_t)(ms) + 5000)
#define WAIT_MS GENEROUS(2500)

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* VERANI_TEST_TIME_SCALE, or 1 when unset or not a positive integer. */
static int64_t scale(void)
{
    const char *s = getenv("VERANI_TEST_TIME_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;

    return v > 0 ? v : 1;
}

static int64_t deadline_after(int64_t ms)
{
    return now_ms() + ms * scale();
}

/* --- the server, a child process ---------------------------------------------------- */

typedef struct server_proc {
    const char *exe;
    char dir[256];             /* the work directory: storage file and logs */
    pid_t pid;                 /* 0: not running */
    int port;                  /* 0 before the first start; then kept for the restart */
    int run;                   /* starts so far */
    char out[300], err[300];   /* the current run's stdout and stderr */
} server_proc;

static server_proc *g_server;  /* for the exit handler */

/* At exit (a failed script included): kill the server if it still runs. */
static void kill_server(void)
{
    if (g_server && g_server->pid > 0) {
        kill(g_server->pid, SIGKILL);
        waitpid(g_server->pid, NULL, 0);
        g_server->pid = 0;
    }
}

static void print_file(const char *path)
{
    char line[512];
    FILE *f = fopen(path, "r");

    if (!f)
        return;
    fprintf(stderr, "---- %s\n", path);
    while (fgets(line, sizeof(line), f))
        fputs(line, stderr);
    fclose(f);
}

static int file_has(const char *path, const char *needle)
{
    char line[512];
    FILE *f = fopen(path, "r");
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* Start the server (again, on the same port after the first run). 0, or -1 after saying why. */
static int server_start(server_proc *s)
{
    char port[16], storage[300], round_ms[32], tick_ms[16];
    pid_t parent = getpid();
    int64_t end;

    s->run++;
    snprintf(s->out, sizeof(s->out), "%s/server.%d.out", s->dir, s->run);
    snprintf(s->err, sizeof(s->err), "%s/server.%d.err", s->dir, s->run);
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(storage, sizeof(storage), "%s/arena.db", s->dir);
    snprintf(round_ms, sizeof(round_ms), "%lld", (long long)(round_len_ms * scale()));
    snprintf(tick_ms, sizeof(tick_ms), "%d", TICK_MS);
    fflush(NULL);
    s->pid = fork();
    if (s->pid < 0) {
        perror("arena_demo: fork");
        return -1;
    }
    if (s->pid == 0) {
        char *argv[] = {(char *)s->exe, "--port", port, "--storage", storage, "--tick-ms", tick_ms,
                        "--round-ms", round_ms, "--min-players", "2", "--work-ms", "20",
                        "--verbose", NULL};
        int out = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(s->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        /* killed with this process, however it ends */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent || out < 0 || err < 0 ||
            dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        execv(s->exe, argv);
        _exit(127);
    }
    end = deadline_after(WAIT_MS);
    while (now_ms() < end) {
        char line[256];
        FILE *f = fopen(s->out, "r");
        int got = 0;

        if (f) {
            got = fgets(line, sizeof(line), f) &&
                  sscanf(line, "arena_server: listening on ws://127.0.0.1:%d/", &s->port) == 1;
            fclose(f);
        }
        if (got)
            return 0;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    fprintf(stderr, "\narena_demo: FAILED: run %d of the server did not say where it listens\n",
            s->run);
    return -1;
}

/* --- the clients -------------------------------------------------------------------- */

#define MAX_SEEN 8
#define TEXT 128                 /* a list of scores, a record, a whisper */
#define LINE (3 * TEXT)          /* a scoreboard or a round_over, as text */

/* The last position a client saw of one user, from the positions ticks. */
typedef struct sighting {
    char user[64];
    char name[40];
    int32_t x, y;
} sighting;

/* One scripted player: its client and what it received. */
typedef struct peer {
    const char *user;          /* user id, "alice" */
    const char *name;          /* ?name=, the typed meta */
    verani_client *c;          /* owned; NULL once it left */
    sighting seen[MAX_SEEN];
    size_t n_seen;
    uint64_t ticks;            /* positions frames received */
    char whisper[TEXT];        /* the last whisper: "from: text" */
    int n_round_over;
    char round_over[LINE];     /* the last round_over, as text */
    int answered;              /* a scoreboard answer arrived ... */
    verani_reply_status status;
    char board[LINE];          /* ... this one, as text */
    int64_t ends_at;           /* ... and its round's end */
} peer;

typedef struct demo {
    verani_client_loop *loop;  /* owned */
    server_proc server;
} demo;

static void step(const char *fmt, ...) VERANI_PRINTF(1, 2);
static void step(const char *fmt, ...)
{
    static int n;
    va_list ap;

    printf("\n[%d] ", ++n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static int fail(const char *fmt, ...) VERANI_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\narena_demo: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return -1;
}

/* "alice:3,bob:1" */
static void scores_text(char *buf, size_t len, Arena__Score *const *scores, size_t n)
{
    size_t i, used = 0;

    buf[0] = '\0';
    for (i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s:%u", i ? "," : "",
                                 scores[i]->user_id, scores[i]->points);
}

/* "record 1 round(s), high 3 by alice" */
static void record_text(char *buf, size_t len, const Arena__Record *r)
{
    const char *who = r && r->high_scorer && r->high_scorer[0] ? r->high_scorer : "-";

    snprintf(buf, len, "record %u round(s), high %u by %s", r ? r->rounds : 0,
             r ? r->high_score : 0, who);
}

static void on_positions(verani_client *c, const Arena__Positions *m, void *user)
{
    peer *p = user;
    size_t i, j;

    (void)c;
    p->ticks++;
    for (i = 0; i < m->n_players; i++) {
        const Arena__Position *pos = m->players[i];

        for (j = 0; j < p->n_seen && strcmp(p->seen[j].user, pos->user_id); j++)
            ;
        if (j == MAX_SEEN)
            continue;
        if (j == p->n_seen)
            p->n_seen++;
        snprintf(p->seen[j].user, sizeof(p->seen[j].user), "%s", pos->user_id);
        snprintf(p->seen[j].name, sizeof(p->seen[j].name), "%s", pos->name ? pos->name : "");
        p->seen[j].x = pos->x;
        p->seen[j].y = pos->y;
    }
}

static void on_whispered(verani_client *c, const Arena__Whisper *m, void *user)
{
    peer *p = user;

    (void)c;
    snprintf(p->whisper, sizeof(p->whisper), "%s: %s", m->from, m->text);
    printf("    %-6s <- whispered %s\n", p->user, p->whisper);
}

static void on_round_over(verani_client *c, const Arena__RoundOver *m, void *user)
{
    peer *p = user;
    char scores[TEXT], record[TEXT];

    (void)c;
    scores_text(scores, sizeof(scores), m->scores, m->n_scores);
    record_text(record, sizeof(record), m->record);
    snprintf(p->round_over, sizeof(p->round_over), "round %u over | %s | %s", m->round, scores,
             record);
    p->n_round_over++;
    printf("    %-6s <- round_over: %s\n", p->user, p->round_over);
}

static void on_scoreboard(verani_client *c, verani_reply_status status, const Arena__Scoreboard *b,
                          const char *error, void *user)
{
    peer *p = user;
    char scores[TEXT], record[TEXT], round[32];

    (void)c;
    p->answered = 1;
    p->status = status;
    if (status != VERANI_REPLY_OK) {
        snprintf(p->board, sizeof(p->board), "(failed: %s)", error ? error : "no reply");
        return;
    }
    scores_text(scores, sizeof(scores), b->scores, b->n_scores);
    record_text(record, sizeof(record), b->record);
    if (b->running)
        snprintf(round, sizeof(round), "round %u running", b->round);
    else
        snprintf(round, sizeof(round), "no round");
    snprintf(p->board, sizeof(p->board), "%s | %s | %s", round, scores, record);
    p->ends_at = b->ends_at;
}

static void on_client_error(verani_client *c, int err, const char *what, void *user)
{
    (void)c;
    printf("    %-6s !! %s: %s\n", ((peer *)user)->user, verani_strerror(err), what);
}

/* Service the client loop once; -1 once `end` has passed. */
static int pump(demo *d, int64_t end)
{
    if (now_ms() >= end)
        return -1;
    return verani_client_loop_service(d->loop, 20) < 0 ? -1 : 0;
}

static int connect_peer(demo *d, peer *p)
{
    verani_client_options o;
    char url[256], err[256];

    snprintf(url, sizeof(url), "ws://127.0.0.1:%d/arena/pit?userId=%s&name=%s", d->server.port,
             p->user, p->name);
    verani_client_options_init(&o);
    o.url = url;
    o.room = &arena_arena_schema;
    o.initial_delay_ms = 100;  /* across the restart: try again soon, and never give up */
    o.max_delay_ms = 1000;
    o.max_attempts = VERANI_CLIENT_UNLIMITED;
    p->c = verani_client_create(d->loop, &o, err, sizeof(err));
    if (!p->c)
        return fail("cannot create %s's client: %s", p->user, err);
    if (arena_arena_client_on_positions(p->c, on_positions, p) < 0 ||
        arena_arena_client_on_whispered(p->c, on_whispered, p) < 0 ||
        arena_arena_client_on_round_over(p->c, on_round_over, p) < 0 ||
        verani_client_on_error(p->c, on_client_error, p) < 0)
        return fail("cannot register %s's callbacks", p->user);
    printf("    %-6s connects to %s\n", p->user, url);
    if (verani_client_wait_for_connection(p->c, (uint32_t)(WAIT_MS * scale())) != 0) {
        verani_client_last_error(p->c, err, sizeof(err));
        return fail("%s could not connect: %s", p->user, err);
    }
    return 0;
}

static int move_to(peer *p, int32_t x, int32_t y)
{
    Arena__Move m = ARENA__MOVE__INIT;

    m.x = x;
    m.y = y;
    printf("    %-6s -> move (%d, %d)\n", p->user, (int)x, (int)y);
    return arena_arena_client_emit_move(p->c, &m) < 0 ? fail("%s's move failed", p->user) : 0;
}

static int ready(peer *p)
{
    printf("    %-6s -> ready\n", p->user);
    return arena_arena_client_emit_ready(p->c) < 0 ? fail("%s's ready failed", p->user) : 0;
}

/* `from` whispers `text` to `to`, who must hear it. */
static int whisper(demo *d, peer *from, peer *to, const char *text)
{
    Arena__Whisper w = ARENA__WHISPER__INIT;
    int64_t end = deadline_after(WAIT_MS);
    char want[TEXT];

    w.to = (char *)to->user;
    w.text = (char *)text;
    printf("    %-6s -> whisper to %s: %s\n", from->user, to->user, text);
    if (arena_arena_client_emit_whisper(from->c, &w) < 0)
        return fail("%s's whisper failed", from->user);
    while (!to->whisper[0])
        if (pump(d, end))
            return fail("%s never heard %s's whisper", to->user, from->user);
    snprintf(want, sizeof(want), "%s: %s", from->user, text);
    if (strcmp(to->whisper, want))
        return fail("%s heard \"%s\", expected \"%s\"", to->user, to->whisper, want);
    return 0;
}

/* Service the loop until `p` has seen `user` at (x, y) named `name`. */
static int expect_seen(demo *d, peer *p, const char *user, const char *name, int32_t x, int32_t y)
{
    int64_t end = deadline_after(GENEROUS(TICK_MS));
    size_t i;

    for (;;) {
        for (i = 0; i < p->n_seen; i++)
            if (!strcmp(p->seen[i].user, user) && !strcmp(p->seen[i].name, name) &&
                p->seen[i].x == x && p->seen[i].y == y) {
                printf("    %-6s <- positions: %s (%s) at (%d, %d)\n", p->user, user, name,
                       (int)x, (int)y);
                return 0;
            }
        if (pump(d, end))
            return fail("%s never saw %s at (%d, %d) in %llu tick(s)", p->user, user, (int)x,
                        (int)y, (unsigned long long)p->ticks);
    }
}

/* Ask for the scoreboard and compare its text with `want`. */
static int expect_board(demo *d, peer *p, const char *want)
{
    int64_t end = deadline_after(WAIT_MS);

    p->answered = 0;
    printf("    %-6s -> scoreboard\n", p->user);
    if (arena_arena_client_request_scoreboard(p->c, (uint32_t)(WAIT_MS * scale()), on_scoreboard,
                                              p) < 0)
        return fail("%s's scoreboard request was refused", p->user);
    while (!p->answered)
        if (pump(d, end))
            return fail("%s got no scoreboard answer", p->user);
    printf("    %-6s <- scoreboard: %s\n", p->user, p->board);
    if (strcmp(p->board, want))
        return fail("%s's scoreboard is \"%s\", expected \"%s\"", p->user, p->board, want);
    return 0;
}

/* Service the loop until `p` received round_over, then compare it with `want`. */
static int expect_round_over(demo *d, peer *p, const char *want)
{
    int64_t end = deadline_after(GENEROUS(round_len_ms));

    while (!p->n_round_over)
        if (pump(d, end))
            return fail("%s never received round_over", p->user);
    if (strcmp(p->round_over, want))
        return fail("%s's round_over is \"%s\", expected \"%s\"", p->user, p->round_over, want);
    return 0;
}

/* SIGTERM the server; it must exit 0. The clients are serviced meanwhile. */
static int server_stop(demo *d)
{
    server_proc *s = &d->server;
    int64_t end = deadline_after(WAIT_MS);
    int status = 0;
    pid_t r = 0;

    printf("    server  <- SIGTERM\n");
    kill(s->pid, SIGTERM);
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0)
        if (pump(d, end))
            break;
    if (r != s->pid)
        return fail("run %d of the server did not exit after SIGTERM", s->run);
    s->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("run %d of the server ended with %s %d", s->run,
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    printf("    server  stopped (exit 0)\n");
    return 0;
}

/* --- the script ----------------------------------------------------------------------- */

#define CHECK(x) do { if ((x) != 0) return -1; } while (0)

#define NO_RECORD "record 0 round(s), high 0 by -"
#define ROUND_1 "round 1 over | alice:3,bob:1 | record 1 round(s), high 3 by alice"
#define RECORD_1 "record 1 round(s), high 3 by alice"

/* Steps 1 to 4: connect, move, whisper, scoreboards, round 1 with points. */
static int play_round(demo *d, peer *alice, peer *bob)
{
    step("alice and bob enter arena \"pit\"; each move shows in the next positions tick");
    CHECK(connect_peer(d, alice));
    CHECK(connect_peer(d, bob));
    CHECK(move_to(alice, 10, 20));
    CHECK(move_to(bob, 30, 40));
    CHECK(expect_seen(d, alice, "bob", "Bob", 30, 40));
    CHECK(expect_seen(d, bob, "alice", "Alice", 10, 20));

    step("alice whispers to bob");
    CHECK(whisper(d, alice, bob, "meet me at the gate"));

    step("scoreboards, computed on the server's worker pool: no round yet");
    /* on alice's connection after her whisper: had it reached her, it would be here by now */
    CHECK(expect_board(d, alice, "no round | alice:0,bob:0 | " NO_RECORD));
    if (alice->whisper[0])
        return fail("alice heard her own whisper");

    step("alice, then bob, are ready: round 1 starts (the arena's alarm is set)");
    CHECK(ready(alice));
    CHECK(expect_board(d, alice, "no round | alice:0,bob:0 | " NO_RECORD));
    CHECK(ready(bob));
    CHECK(expect_board(d, bob, "round 1 running | alice:0,bob:0 | " NO_RECORD));
    if (bob->ends_at <= 0)
        return fail("the running round has no end");

    step("moves score while the round runs");
    CHECK(move_to(bob, 31, 40));
    CHECK(expect_board(d, bob, "round 1 running | bob:1,alice:0 | " NO_RECORD));
    CHECK(move_to(alice, 11, 20));
    CHECK(move_to(alice, 12, 20));
    CHECK(move_to(alice, 13, 20));
    CHECK(expect_board(d, alice, "round 1 running | alice:3,bob:1 | " NO_RECORD));
    return 0;
}

static int script(demo *d, peer *alice, peer *bob, peer *carol, int restart)
{
    step("arena_server starts (storage %s/arena.db, rounds of %lld ms)", d->server.dir,
         (long long)(round_len_ms * scale()));
    CHECK(server_start(&d->server));
    printf("    server  listens on port %d\n", d->server.port);
    CHECK(play_round(d, alice, bob));

    if (!restart) {
        step("the alarm ends round 1: round_over to both, and the record");
        CHECK(expect_round_over(d, alice, ROUND_1));
        CHECK(expect_round_over(d, bob, ROUND_1));
        CHECK(expect_board(d, alice, "no round | alice:0,bob:0 | " RECORD_1));
    } else {
        verani_client_info ia, ib;

        step("SIGTERM while the round runs; the server restarts on the same storage file");
        CHECK(server_stop(d));
        if (alice->n_round_over || bob->n_round_over ||
            file_has(d->server.err, "round 1 over"))
            return fail("round 1 ended before the SIGTERM: this machine took longer than the "
                        "round (%lld ms); set VERANI_TEST_TIME_SCALE",
                        (long long)(round_len_ms * scale()));
        CHECK(server_start(&d->server));
        printf("    server  listens on port %d again\n", d->server.port);

        step("the alarm fires in the new server: alice and bob resume and get round_over");
        CHECK(expect_round_over(d, alice, ROUND_1));
        CHECK(expect_round_over(d, bob, ROUND_1));
        if (verani_client_get_info(alice->c, &ia) < 0 || verani_client_get_info(bob->c, &ib) < 0)
            return fail("no client info");
        if (!ia.resumed || !ib.resumed)
            return fail("the sessions did not resume (alice %d, bob %d)", ia.resumed,
                        ib.resumed);
        if (!file_has(d->server.err, "round 1 over"))
            return fail("the new server's log does not say that round 1 is over");

        step("carol arrives: the record has round 1");
        CHECK(connect_peer(d, carol));
        CHECK(expect_board(d, carol, "no round | alice:0,bob:0,carol:0 | " RECORD_1));
    }

    step("everyone leaves; the server stops");
    verani_client_destroy(alice->c);
    verani_client_destroy(bob->c);
    verani_client_destroy(carol->c);
    alice->c = bob->c = carol->c = NULL;
    return server_stop(d);
}

/* Remove the work directory's files (they are ours: storage and logs), then the directory. */
static void remove_dir(const char *dir)
{
    static const char *const names[] = {"arena.db", "arena.db-wal", "arena.db-shm",
                                        "server.1.out", "server.1.err", "server.2.out",
                                        "server.2.err"};
    char path[300];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        (void)unlink(path);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "arena_demo: %s left behind: %s\n", dir, strerror(errno));
}

int main(int argc, char **argv)
{
    demo d;
    peer alice = {.user = "alice", .name = "Alice"};
    peer bob = {.user = "bob", .name = "Bob"};
    peer carol = {.user = "carol", .name = "Carol"};
    const char *tmp = getenv("TMPDIR");
    char err[256];
    int restart = argc == 3 && !strcmp(argv[2], "--restart");

    round_len_ms = restart ? ROUND_MS_RESTART : ROUND_MS_PLAY;
    int rc;

    if (argc < 2 || argc > 3 || (argc == 3 && !restart)) {
        fprintf(stderr, "usage: %s ARENA_SERVER [--restart]\n", argv[0]);
        return 2;
    }
    memset(&d, 0, sizeof(d));
    d.server.exe = argv[1];
    snprintf(d.server.dir, sizeof(d.server.dir), "%s/arena-demo-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(d.server.dir)) {
        fprintf(stderr, "arena_demo: mkdtemp %s: %s\n", d.server.dir, strerror(errno));
        return 2;
    }
    g_server = &d.server;
    atexit(kill_server);
    d.loop = verani_client_loop_create(err, sizeof(err));
    if (!d.loop) {
        fprintf(stderr, "arena_demo: %s\n", err);
        return 2;
    }
    rc = script(&d, &alice, &bob, &carol, restart);
    verani_client_loop_destroy(d.loop);   /* and any client a failure left */
    if (rc != 0) {
        int run;

        kill_server();
        for (run = 1; run <= d.server.run; run++) {
            char path[300];

            snprintf(path, sizeof(path), "%s/server.%d.out", d.server.dir, run);
            print_file(path);
            snprintf(path, sizeof(path), "%s/server.%d.err", d.server.dir, run);
            print_file(path);
        }
        fprintf(stderr, "arena_demo: the storage and the logs are in %s\n", d.server.dir);
        return 1;
    }
    remove_dir(d.server.dir);
    printf("\narena_demo%s: OK\n", restart ? " --restart" : "");
    return 0;
}
