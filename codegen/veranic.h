/* SPDX-License-Identifier: MIT */
/*
 * veranic.h: the internals of veranic, the schema compiler, in one table of
 * contents. One section per source file: util.c (arena, growable arrays,
 * sticky output buffer), diag.c (diagnostics), lexer.re (tokens), parser.c and
 * parser_room.c (syntax to AST; what the two share is parser-int.h's), check.c and
 * check_room.c (names, types, numbers, collisions; check-int.h), check_json.c
 * (the JSON wire's checks), mangle.c (spelling rules), template.c (the emitters'
 * $name$ printer), names.c (every C name veranic emits, one template each), emit_*.c
 * (one per output file kind), and compile.c (the vc_ctx pipeline and the all-or-nothing
 * file writer).
 * main.c is only the command line. Nothing here is installed or used by the
 * runtime; the generated code meets the runtime at <verani/gen.h> only.
 */
#ifndef VERANIC_H
#define VERANIC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VC_VERSION "0.1.0"
/* The generated-code ABI the emitted files are made for: VERANI_GEN_ABI of <verani/gen.h>.
 * The emitted #if compares the two, so a mismatch fails every build of generated code. */
#define VC_GEN_ABI 5
#define VC_MAX_ERRORS 20
#define VC_MAX_INPUT (16u * 1024u * 1024u) /* schemas larger than this are refused */
#define VC_MAX_DEPTH 64                    /* nesting of braces the parser accepts */

/* --- util.c: arena, arrays, output buffer ------------------------------- */

/* An arena owns every AST node, string and table of one vc_ctx; it is freed
 * once by vc_arena_free. Allocation failure is fatal to the compile, never to
 * the process: vc_arena_alloc returns NULL and sets `failed`. */
typedef struct vc_arena_block vc_arena_block;
typedef struct vc_arena {
    vc_arena_block *head;
    int failed;
} vc_arena;

void *vc_arena_alloc(vc_arena *a, size_t size); /* zeroed */
char *vc_arena_strndup(vc_arena *a, const char *s, size_t n);
char *vc_arena_printf(vc_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vc_arena_free(vc_arena *a);

/* A growable array of pointers, storage in the arena. */
typedef struct vc_vec {
    void **items;
    size_t n, cap;
} vc_vec;
int vc_vec_push(vc_arena *a, vc_vec *v, void *item);

/* A sticky-error string builder (sqlite3_str style): append freely, check
 * `failed` once. The memory is malloc'ed and owned by the buffer. */
typedef struct vc_buf {
    char *data;
    size_t len, cap;
    int failed;
} vc_buf;

void vc_buf_putn(vc_buf *b, const char *s, size_t n);
void vc_buf_puts(vc_buf *b, const char *s);
void vc_buf_printf(vc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vc_buf_free(vc_buf *b);

/* A set of strings (open addressing) used for collision checks. Values are
 * borrowed pointers that must outlive the set (arena memory). */
typedef struct vc_strset {
    const char **keys;
    const void **vals;
    size_t cap, n;
} vc_strset;
/* Insert `key`; returns the value already stored under it, or NULL after
 * inserting. `*oom` is set when memory ran out. */
const void *vc_strset_put(vc_arena *a, vc_strset *s, const char *key, const void *val, int *oom);
const void *vc_strset_get(const vc_strset *s, const char *key);

uint64_t vc_fnv1a(uint64_t h, const char *s, size_t n);

/* --- tokens and locations (lexer.re) ------------------------------------ */

typedef struct vc_loc {
    int line; /* 1-based */
    int col;  /* 1-based, in bytes */
    int len;  /* bytes of the token; 0 for a point */
} vc_loc;

typedef enum vc_tok_kind {
    VC_T_EOF = 0,
    VC_T_IDENT,   /* foo, Foo, foo_bar */
    VC_T_DOTTED,  /* chat.message */
    VC_T_INT,     /* 12, 0x1f, -3 */
    VC_T_FLOAT,   /* 1.5, -2e3 */
    VC_T_STRING,  /* "..." (text includes the quotes) */
    VC_T_LBRACE, VC_T_RBRACE, VC_T_LPAREN, VC_T_RPAREN, VC_T_LBRACKET, VC_T_RBRACKET,
    VC_T_LT, VC_T_GT, VC_T_SEMI, VC_T_COMMA, VC_T_EQ,
    VC_T_ERROR    /* already reported by the lexer */
} vc_tok_kind;

/* A `//` comment: its text after the slashes, its line. */
typedef struct vc_comment {
    const char *text;
    size_t len;
    int line;
    struct vc_comment *next;
} vc_comment;

/* Tokens point into the source buffer; they are never copied. */
typedef struct vc_token {
    vc_tok_kind kind;
    const char *text;
    size_t len;
    vc_loc loc;
    vc_comment *comments; /* `//` comments between the previous token and this one */
} vc_token;

typedef struct vc_ctx vc_ctx;

typedef struct vc_lexer {
    vc_ctx *ctx;
    const char *cur, *lim, *line_start;
    int line;
} vc_lexer;

void vc_lex_init(vc_lexer *lx, vc_ctx *ctx);
void vc_lex_next(vc_lexer *lx, vc_token *tok);
const char *vc_token_name(vc_tok_kind kind);

/* --- AST (parser.c builds it, check.c resolves and annotates it) -------- */

typedef enum vc_type {
    VC_TY_UNRESOLVED = 0,
    VC_TY_BOOL, VC_TY_INT32, VC_TY_INT64, VC_TY_UINT32, VC_TY_UINT64, VC_TY_SINT32,
    VC_TY_SINT64, VC_TY_FLOAT, VC_TY_DOUBLE, VC_TY_STRING, VC_TY_BYTES,
    VC_TY_ENUM, VC_TY_MESSAGE
} vc_type;

typedef enum vc_label {
    VC_LABEL_PLAIN = 0, VC_LABEL_OPTIONAL, VC_LABEL_REPEATED, VC_LABEL_MAP
} vc_label;

typedef struct vc_message vc_message;
typedef struct vc_enum vc_enum;

/* One `name [= value]` inside `[...]`. */
typedef struct vc_option {
    const char *name;
    vc_loc loc;       /* the option name */
    vc_loc value_loc;
    int has_value;
    int is_float;
    int64_t ival;     /* when !is_float */
    double fval;      /* always set when has_value */
    const char *text; /* the value as written */
} vc_option;

typedef struct vc_field {
    const char *name;
    vc_loc loc;          /* the field name */
    vc_label label;
    vc_loc label_loc;
    const char *type_name;
    vc_loc type_loc;
    vc_type type;
    vc_enum *en;         /* when type == VC_TY_ENUM */
    vc_message *msg;     /* when type == VC_TY_MESSAGE */
    const char *key_type;/* map key type as written */
    vc_loc key_loc;
    int64_t number;
    vc_loc number_loc;
    vc_vec options;      /* vc_option* */
    const char *doc;     /* joined comments, or NULL */
    /* set by check.c from the options */
    int required;
    int has_min_len, has_max_len, has_min, has_max, has_max_items;
    uint64_t min_len, max_len, max_items;
    const vc_option *min, *max;
} vc_field;

typedef struct vc_enum_value {
    const char *name;
    vc_loc loc;
    int64_t number;
    vc_loc number_loc;
    const char *doc;
} vc_enum_value;

struct vc_enum {
    const char *name;
    vc_loc loc;
    vc_vec values; /* vc_enum_value* */
    const char *doc;
};

struct vc_message {
    const char *name;
    vc_loc loc;
    vc_vec fields; /* vc_field* */
    const char *doc;
    const struct vc_room *meta_of; /* the room whose meta this is, or NULL */
    int needs_validation;          /* own rules, or a field whose message has some */
};

typedef enum vc_dir { VC_DIR_ON = 0, VC_DIR_EMIT = 1 } vc_dir;

typedef struct vc_event {
    vc_dir dir;
    const char *name;     /* dotted, as written */
    vc_loc loc;
    int64_t id;
    vc_loc id_loc;
    const char *in_name;  /* payload type as written, NULL for () */
    vc_loc in_loc;
    vc_message *in;
    const char *out_name; /* `returns` type, or NULL */
    vc_loc out_loc;
    vc_message *out;
    const char *doc;
    const char *cname;    /* name with '.' -> '_' (check.c) */
    const char *json_name;/* `json "..."`: the name on the JSON wire (unquoted), or NULL */
    vc_loc json_loc;      /* its string */
} vc_event;

/* `timer <name> every <ms>;`: a periodic timer of every instance of a room. */
typedef struct vc_timer {
    const char *name;     /* lowercase words joined by '_' (check.c) */
    vc_loc loc;
    int64_t every_ms;     /* 1 to 86400000 (check.c) */
    vc_loc every_loc;
    const char *doc;
} vc_timer;

/* `wire binary;` (the default), `wire json;`, `wire both "<path>";`: the values of
 * verani_wire in <verani/gen.h>. */
typedef enum vc_wire { VC_WIRE_BINARY = 0, VC_WIRE_JSON, VC_WIRE_BOTH } vc_wire;

typedef struct vc_room {
    const char *name;
    vc_loc loc;
    const char *doc;
    const char *path;   /* unquoted, or NULL for the default */
    vc_loc path_loc;
    vc_vec channels;    /* const char* unquoted */
    vc_vec channel_locs;/* vc_loc* */
    int has_channels;
    vc_loc channels_loc;
    int has_meta;
    vc_loc meta_loc;
    int has_limits;
    vc_loc limits_loc;
    int64_t max_frame, rate, burst;
    int open_events;    /* `open_events;`: undeclared client event ids go to on_message */
    vc_loc open_events_loc;
    int has_wire;
    vc_loc wire_loc;    /* the `wire` keyword */
    vc_wire wire;
    const char *json_path; /* `wire both "<path>";`, unquoted; NULL otherwise */
    vc_loc json_path_loc;
    int has_max_frame, has_rate, has_burst;
    vc_loc max_frame_loc, rate_loc, burst_loc;
    vc_message *meta;   /* synthetic <Room>Meta, always present */
    vc_vec events;      /* vc_event*, schema order, both directions */
    vc_vec timers;      /* vc_timer*, schema order */
    const char *snake;  /* Chat -> chat, GameLobby -> game_lobby */
} vc_room;

typedef struct vc_schema {
    const char *package;
    vc_loc package_loc;
    vc_vec enums;     /* vc_enum* */
    vc_vec messages;  /* vc_message*, user messages then room metas */
    vc_vec rooms;     /* vc_room* */
    char fingerprint[17];
} vc_schema;

/* --- diag.c -------------------------------------------------------------- */

/* A warning is printed like an error ("warning:") but counts in ctx->warnings, not
 * ctx->errors: it stops nothing, the outputs are still written and veranic exits 0. */
typedef enum vc_severity { VC_ERROR, VC_NOTE, VC_WARNING } vc_severity;

/* Where diagnostics go; the default writes to stderr. `text` is one whole
 * diagnostic (message line, source line, caret line), NUL-terminated. */
typedef void (*vc_diag_sink)(void *sink_ctx, const char *text, size_t len);

void vc_diag(vc_ctx *ctx, vc_severity sev, vc_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* vc_diag with a va_list, for printf-style wrappers. */
void vc_vdiag(vc_ctx *ctx, vc_severity sev, vc_loc loc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* A diagnostic with no source position (file-level). */
void vc_diag_file(vc_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- compile.c: the pipeline --------------------------------------------- */

struct vc_ctx {
    vc_arena arena;
    const char *path;  /* as given on the command line, for messages and line 1 */
    const char *src;   /* NUL-terminated copy of the file (arena) */
    size_t src_len;
    vc_diag_sink sink;
    void *sink_ctx;
    int errors;
    int warnings;
    int stopped;       /* VC_MAX_ERRORS reached: stop everything */
    vc_schema *schema;
};

/* One output file, in memory, before anything is written. */
typedef struct vc_output {
    const char *name; /* file name inside the output directory (arena) */
    vc_buf buf;
    int once;         /* the stub: never overwrite an existing file */
    int shared;       /* the same bytes for every schema (envelope.proto): written once */
    int ts;           /* TypeScript (--ts): goes to the TypeScript directory */
} vc_output;

#define VC_MAX_OUTPUTS 12

/* runtime/src/wire/envelope.proto, embedded at build time (cmake/embed.cmake); vc_emit writes it
 * as envelope.proto beside <pkg>.proto. */
extern const char vc_envelope_proto[];

int vc_ctx_init(vc_ctx *ctx, const char *path, const char *src, size_t len, vc_diag_sink sink,
                void *sink_ctx);
void vc_ctx_fini(vc_ctx *ctx);
int vc_parse(vc_ctx *ctx);  /* 0 when no error so far */
int vc_check(vc_ctx *ctx);
/* fingerprint.c: write the schema's fingerprint into s->fingerprint (after the checks);
 * 0, or -1 when out of memory. */
int vc_fingerprint(vc_arena *a, vc_schema *s);
/* What vc_emit makes besides the .proto and the C: the handler skeleton (--stubs), the
 * TypeScript client (--ts). */
#define VC_EMIT_STUBS 1
#define VC_EMIT_TS 2
/* Fill outputs[] (at most VC_MAX_OUTPUTS) with what `flags` asks for; returns the count, or
 * -1 when out of memory. */
int vc_emit(vc_ctx *ctx, int flags, vc_output *outputs);

/* --- mangle.c: spelling rules ---------------------------------------------- */

/* protobuf-c's CamelToLower: ChatMessage -> chat_message, ABc -> abc. */
char *vc_lower(vc_arena *a, const char *name);
/* protobuf-c's ToCamel: my_app -> MyApp, player_names -> PlayerNames. */
char *vc_camel(vc_arena *a, const char *name);
char *vc_upper(vc_arena *a, const char *name);
/* protobuf-es's protoCamelCase with a lower-case first letter: chat_message -> chatMessage. */
char *vc_lower_camel(vc_arena *a, const char *name);
/* check_json.c: the JSON wire's checks of room `r` (diagnostics through `ctx`); `json_msgs`
 * holds the messages already checked, across rooms. Returns nonzero when out of memory. */
int vc_check_json(vc_ctx *ctx, vc_arena *a, const vc_room *r, vc_strset *json_msgs);
/* The TypeScript property protoc-gen-es gives field f: reply_to -> replyTo, and a name
 * JavaScript objects reserve gets a '$' (to_string -> toString$). */
const char *vc_ts_prop(vc_ctx *ctx, const vc_field *f);
/* The protobuf-c C type of a message: Chat__ChatMessage. */
const char *vc_msg_ctype(vc_ctx *ctx, const vc_message *m);
/* The protobuf-c descriptor of a message: chat__chat_message__descriptor. */
const char *vc_msg_descriptor(vc_ctx *ctx, const vc_message *m);
/* The protobuf-c descriptor of an enum: chat__mood__descriptor. */
const char *vc_enum_descriptor(vc_ctx *ctx, const vc_enum *e);
/* The protobuf-c C type of a map entry of field f in message m. */
const char *vc_map_entry_ctype(vc_ctx *ctx, const vc_message *m, const vc_field *f);
int vc_is_c_keyword(const char *s);

/* --- template.c: the emitters' printer --------------------------------------- */

typedef struct vc_var {
    const char *key;
    const char *value;      /* NULL: "" */
} vc_var;
/* Write `tpl` into `b` with each $key$ replaced by its value from `vars` (ended by
 * {NULL, NULL}); "$$" is one '$'. 0, or -1 when a key is not set (veranic's own bug: it is
 * reported on stderr and the placeholder kept). */
int vc_tpl(vc_buf *b, const char *tpl, const vc_var *vars);
/* The same into the arena; NULL when out of memory. */
char *vc_tpl_a(vc_arena *a, const char *tpl, const vc_var *vars);

/* --- names.c: every C name veranic emits, one template each ------------------- */

typedef enum vc_name_id {
    /* the schema */
    VC_N_FINGERPRINT, VC_N_HANDLERS_MOUNT,
    /* an enum; a message (storage helpers: not for room metas) */
    VC_N_ENUM_KNOWN, VC_N_VALIDATOR, VC_N_CHECK, VC_N_STORAGE_PUT, VC_N_STORAGE_GET,
    /* a room */
    VC_N_ON_EVENTS, VC_N_EMIT_EVENTS, VC_N_CHANNELS, VC_N_SCHEMA, VC_N_HANDLERS, VC_N_ROOM,
    VC_N_MOUNT, VC_N_META, VC_N_INVOKE, VC_N_HANDLER_OFFSETS, VC_N_EXTRACT_META,
    VC_N_TIMERS, VC_N_TIMER_OFFSETS, VC_N_STUB_TIMER,
    VC_N_STUB_ON_CONNECT, VC_N_STUB_ON_DISCONNECT, VC_N_STUB_ON_ERROR, VC_N_STUB_ON_MESSAGE,
    VC_N_STUB_ON_JOIN, VC_N_STUB_ON_LEAVE, VC_N_STUB_ON_RESTORE, VC_N_STUB_EXTRACT_META,
    VC_N_STUB_HANDLERS,
    /* an `on` event (emit: without `returns`; the reply names: with it) */
    VC_N_ON_ID, VC_N_INVOKE_EVENT, VC_N_STUB_EVENT, VC_N_CLIENT_EMIT, VC_N_REPLY_CB,
    VC_N_CLIENT_REQUEST, VC_N_CLIENT_REPLY, VC_N_REPLY,
    /* an `emit` event */
    VC_N_EMIT_ID, VC_N_EMIT, VC_N_RPC_EMIT, VC_N_EVENT_CB, VC_N_CLIENT_ON, VC_N_CLIENT_ONCE,
    VC_N_CLIENT_OFF, VC_N_CLIENT_INVOKE,
    /* TypeScript names (--ts, <pkg>_client.ts): not C, so not in vc_each_cname's list; the
     * schema's names are unique and each form ends differently, so they cannot collide */
    VC_N_TS_FINGERPRINT, VC_N_TS_VALIDATOR, VC_N_TS_EVENTS, VC_N_TS_ROOM_SCHEMA, VC_N_TS_ROOM,
    VC_N_TS_MEMBER, VC_N_TS_PB_SCHEMA
} vc_name_id;

/* The name `id` of `subject` in room `r` (NULL for the schema's, an enum's and a message's
 * names): `subject` is NULL for the schema's and a room's names, else the vc_enum,
 * vc_message or vc_event the name is of. Arena memory. */
const char *vc_name(vc_ctx *ctx, vc_name_id id, const vc_room *r, const void *subject);
/* vc_name(ctx, VC_N_VALIDATOR, NULL, m): chat_validate_chat_message. */
const char *vc_msg_validator(vc_ctx *ctx, const vc_message *m);
const char *vc_room_prefix(vc_ctx *ctx, const vc_room *r);    /* chat_chat */
const char *vc_room_PREFIX(vc_ctx *ctx, const vc_room *r);    /* CHAT_CHAT */

/* Call `fn` once for every name of the table in names.c that the schema produces, with a
 * description a person can read ("the emitter of event 'user.joined' in room 'Chat'") and
 * the schema location it comes from. */
typedef struct vc_cname_src {
    const char *thing;      /* "the validator", "client emitter", ... (static) */
    const char *owner_kind; /* "message", "room", "'on' event", or NULL */
    const char *owner;      /* its name */
    const char *room;       /* the room of an event, else NULL */
} vc_cname_src;
/* `src` is only valid during the call: copy what is kept. */
typedef void (*vc_name_fn)(void *arg, const char *cname, const vc_cname_src *src, vc_loc loc);
void vc_each_cname(vc_ctx *ctx, vc_name_fn fn, void *arg);

/* --- emitters ------------------------------------------------------------- */

void vc_emit_proto(vc_ctx *ctx, vc_buf *b);
void vc_emit_schema_h(vc_ctx *ctx, vc_buf *b);
void vc_emit_schema_c(vc_ctx *ctx, vc_buf *b);
void vc_emit_server_h(vc_ctx *ctx, vc_buf *b);
void vc_emit_server_c(vc_ctx *ctx, vc_buf *b);
void vc_emit_client_h(vc_ctx *ctx, vc_buf *b);
void vc_emit_client_c(vc_ctx *ctx, vc_buf *b);
void vc_emit_stubs(vc_ctx *ctx, vc_buf *b);
void vc_emit_stubs_h(vc_ctx *ctx, vc_buf *b);
void vc_emit_ts(vc_ctx *ctx, vc_buf *b);
/* The `on` events a skeleton the user already has (`text`) has no handler for (neither its
 * stub function nor a `.<event> =` member appears in it): their names, ", "-separated, into
 * `list`; returns how many. */
size_t vc_stubs_missing(vc_ctx *ctx, const char *text, vc_buf *list);

/* Shared emitter helpers (emit_common.c). */
void vc_emit_line1(vc_ctx *ctx, vc_buf *b, int proto);
/* A C comment block holding `doc` at `indent` spaces, or nothing. */
void vc_emit_doc(vc_buf *b, const char *doc, int indent);
void vc_emit_proto_doc(vc_buf *b, const char *doc, int indent);
/* The same as a JSDoc block (slash, two stars ... star, slash), for TypeScript. */
void vc_emit_jsdoc(vc_buf *b, const char *doc, int indent);
void vc_emit_banner(vc_buf *b, const char *title);
/* `head(params...)tail` on one line, or wrapped at 100 columns. */
void vc_emit_sig(vc_buf *b, const char *head, const char *const *params, size_t n,
                 const char *tail);
void vc_emit_abi_check(vc_ctx *ctx, vc_buf *b, const char *file);
/* Line 1 and the file's paragraph for a .c file: "<pkg><suffix>: what". */
void vc_emit_file_doc(vc_ctx *ctx, vc_buf *b, const char *suffix, const char *what);
void vc_emit_cstring(vc_buf *b, const char *s);
void vc_emit_guard_open(vc_ctx *ctx, vc_buf *b, const char *file, const char *what);
void vc_emit_guard_close(vc_ctx *ctx, vc_buf *b, const char *file);
vc_event *vc_room_event(const vc_room *r, size_t i);
/* The events of one direction sorted by id into out[] (sized by the caller). */
size_t vc_room_sorted(const vc_room *r, vc_dir dir, vc_event **out);
/* The same into an arena array (never NULL unless out of memory; then *n is 0). */
vc_event **vc_room_sorted_a(vc_arena *a, const vc_room *r, vc_dir dir, size_t *n);
size_t vc_room_count(const vc_room *r, vc_dir dir);
/* "on history (HistoryQuery) returns (HistoryPage): <doc comment>" for C comments. */
const char *vc_event_doc(vc_ctx *ctx, const vc_event *e);
/* What the typed client (C, or TypeScript with `ts`) of a room that speaks Verani's JSON
 * wire (`wire json` or `wire both`) should know: which wire it needs, where. NULL for a
 * binary room. */
const char *vc_room_wire_doc(vc_ctx *ctx, const vc_room *r, int ts);
/* "timer <name> every <ms> ms: ..." and its doc comment, for the handler member and stub. */
const char *vc_timer_doc(vc_ctx *ctx, const vc_timer *t);

#endif /* VERANIC_H */
