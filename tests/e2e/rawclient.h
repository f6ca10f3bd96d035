/* SPDX-License-Identifier: MIT */
/*
 * rawclient.h: a test client that speaks the Verani-C wire protocol at the
 * envelope level, so tests can send anything: well-formed envelopes, text
 * frames, garbage, oversized messages. Two layers:
 *  - rc_loop/rc_conn: WebSocket connections driven by a libwebsockets client
 *    loop on the calling thread (so every server frame is parsed by lws's own
 *    parser); received envelopes are decoded and checked for seq continuity.
 *  - rc_tcp_*: a bare TCP socket with hand-made bytes, for peers that
 *    misbehave below the WebSocket layer (never finish the handshake, vanish
 *    mid-frame, stop reading, never answer pings).
 * Test code only; not part of libverani.
 */
#ifndef VERANI_TEST_RAWCLIENT_H
#define VERANI_TEST_RAWCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "envelope.pb-c.h"

typedef Verani__Wire__Envelope rc_env;

typedef struct rc_loop rc_loop;

typedef struct rc_out {
    struct rc_out *next;
    size_t len;
    int text;
    unsigned char data[]; /* LWS_PRE headroom, then the message */
} rc_out;

typedef struct rc_conn {
    rc_loop *loop;
    struct lws *wsi;
    char name[32];
    int established;        /* the upgrade completed */
    int welcomed;           /* a WELCOME arrived */
    int closed;             /* the connection is gone (or never came) */
    int connect_failed;
    int close_code;         /* from the server's close frame; 0 when none */
    char close_reason[128];
    int auto_hello;         /* send HELLO on establish */
    int keep;               /* keep decoded envelopes in rx[] (else only count) */
    rc_env **rx;            /* owned */
    size_t n_rx, cap_rx;
    size_t n_events;        /* EVENT frames received */
    size_t n_errors;        /* ERROR frames received */
    size_t n_replies;
    uint64_t last_seq;
    size_t seq_errors;      /* a seq that is not last_seq + 1 */
    size_t bad_frames;      /* frames that did not decode */
    char client_id[64];
    char user_id[64];
    char **texts;           /* owned: every text message received (the JSON wire), in order */
    size_t n_texts, cap_texts;
    unsigned char *acc;     /* a message arriving in pieces */
    size_t acc_len, acc_cap;
    int acc_binary;         /* its first frame was binary */
    rc_out *out_head, *out_tail;
    const char *extra_header_name;  /* e.g. "x-user-id:" */
    const char *extra_header_value;
    const char *origin;
} rc_conn;

rc_loop *rc_loop_create(void);
void rc_loop_destroy(rc_loop *loop); /* closes and frees every connection */
/* Connections made after this use wss:// (a self-signed certificate is accepted). */
void rc_loop_set_tls(rc_loop *loop, int tls);

/* Start a connection to ws://127.0.0.1:port<path> (path may carry ?query). */
rc_conn *rc_connect(rc_loop *loop, int port, const char *path, int auto_hello);
rc_conn *rc_connect_ex(rc_loop *loop, int port, const char *path, int auto_hello,
                       const char *hdr_name, const char *hdr_value, const char *origin);

/* Queue one WebSocket message (binary, or text when `text`). */
int rc_send(rc_conn *c, const void *buf, size_t len, int text);
int rc_send_env(rc_conn *c, const rc_env *env);
int rc_send_hello(rc_conn *c, const char *fingerprint);
/* "hello=<h in base64url, unpadded>" into `out`: the HELLO folded into an upgrade's query
 * (PROTOCOL.md section 3), encoded by libwebsockets' encoder. 0, or -1 when it does not fit. */
int rc_hello_param(const Verani__Wire__Hello *h, char *out, size_t cap);
/* kind EVENT/REQUEST with `payload` packed (NULL: no payload). */
int rc_send_event(rc_conn *c, int kind, uint32_t event, const ProtobufCMessage *payload,
                  uint64_t request_id);
int rc_send_join(rc_conn *c, int kind, const char *channel, uint64_t request_id);
/* Stop (or resume) reading from the server: a client that does not read. */
void rc_pause(rc_conn *c, int paused);
/* Close from the client side with 1000. */
void rc_close(rc_conn *c);

/* One turn of the loop (at most `ms`). */
void rc_service(rc_loop *loop, int ms);
/* Service until pred(arg) is true or `timeout_ms` passes; returns pred's last value. */
int rc_wait(rc_loop *loop, int (*pred)(void *), void *arg, int timeout_ms);
/* Service for about `ms`, whatever happens (to check that nothing more arrives). */
void rc_settle(rc_loop *loop, int ms);

/* The i-th kept envelope of `kind` (0-based), or NULL. */
const rc_env *rc_nth(const rc_conn *c, int kind, size_t i);
size_t rc_count(const rc_conn *c, int kind);
/* The first kept ERROR with `code`, or NULL. */
const rc_env *rc_error(const rc_conn *c, int code);
/* The kept REPLY or ERROR answering `request_id`, or NULL. */
const rc_env *rc_answer(const rc_conn *c, uint64_t request_id);
void rc_clear(rc_conn *c);

/* --- bare TCP ------------------------------------------------------------ */

int rc_tcp_connect(int port, int rcvbuf);
/* Send a WebSocket upgrade for `path` and read the response head; returns the
 * HTTP status, or -1. `head` (optional) receives the response head. */
int rc_tcp_upgrade(int fd, const char *path, char *head, size_t head_len);
/* Send a plain HTTP GET; returns the status and fills `resp` with the response. */
int rc_tcp_get(int port, const char *path, char *resp, size_t resp_len);
/* Send `request` (the whole HTTP request, as given) on a new connection; the same result. */
int rc_tcp_request(int port, const char *request, char *resp, size_t resp_len);
/* Send one masked client frame (mask key 0) with `opcode`, FIN set. */
int rc_tcp_send_frame(int fd, int opcode, const void *data, size_t len);
/* Send raw bytes. */
int rc_tcp_send_raw(int fd, const void *data, size_t len);
/* Read one server frame within `timeout_ms`: returns its opcode and copies up to
 * `cap` bytes of payload into `buf` (*len gets the full length); 0 on EOF, -1 on
 * timeout or error. */
int rc_tcp_read_frame(int fd, int timeout_ms, unsigned char *buf, size_t cap, size_t *len);
/* One envelope as a binary frame (at most 1 KiB packed); 0 or -1. */
int rc_tcp_send_env(int fd, const rc_env *env);
/* The next envelope within `timeout_ms` (WebSocket pings and pongs skipped), unpacked (free
 * with verani__wire__envelope__free_unpacked); NULL on close, EOF, timeout or garbage. */
rc_env *rc_tcp_read_env(int fd, int timeout_ms);
/* Wait until the peer closes: returns 1 on EOF/RST within `timeout_ms`, else 0.
 * Frames arriving meanwhile are read and dropped; a close frame's code goes to *code. */
int rc_tcp_wait_closed(int fd, int timeout_ms, int *code);

#endif /* VERANI_TEST_RAWCLIENT_H */
