/* SPDX-License-Identifier: MIT */
/*
 * common.h: what every part of libverani shares: error codes, the allocator
 * hook and logging. Applications include <verani/verani.h>, which includes
 * this; it does not pull in libwebsockets' headers.
 */
#ifndef VERANI_COMMON_H
#define VERANI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VERANI_API __attribute__((visibility("default")))
#define VERANI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define VERANI_API
#define VERANI_PRINTF(fmt, args)
#endif

#define VERANI_VERSION_MAJOR 0
#define VERANI_VERSION_MINOR 1
#define VERANI_VERSION_PATCH 0
#define VERANI_VERSION_STRING "0.1.0"

/*
 * Every call that can fail returns 0 (or a count) on success and one of these
 * negative codes on failure. verani_strerror() names them for a person.
 */
enum verani_err {
    VERANI_OK         = 0,
    VERANI_EINVAL     = -1,  /* a bad argument, or a payload that fails validation */
    VERANI_ENOMEM     = -2,  /* an allocation failed */
    VERANI_ENOTFOUND  = -3,  /* no such room, instance, session, event or key */
    VERANI_ESTATE     = -4,  /* the object is in the wrong state for the call */
    VERANI_EIO        = -5,  /* a socket, file or storage operation failed */
    VERANI_ETIMEDOUT  = -6,  /* a deadline passed */
    VERANI_ECLOSED    = -7,  /* the connection or server is closed or closing */
    VERANI_EFULL      = -8,  /* a bounded queue is full */
    VERANI_EHANDLER   = -9,  /* a user handler reported failure */
    VERANI_EDENIED    = -10, /* refused by policy (auth, join, origin) */
    VERANI_EPROTO     = -11, /* the peer broke the wire protocol */
    VERANI_ETOOBIG    = -12, /* a frame or payload is over its limit */
    VERANI_ENOHANDLER = -13, /* no handler is registered for the event */
    VERANI_ERANGE     = -14  /* a number is outside its allowed range */
};

/*
 * A user id is 1 to VERANI_USER_ID_MAX bytes of valid UTF-8 without control
 * characters (U+0000..U+001F, U+007F..U+009F); anything else printable goes,
 * quotes and spaces included. The server checks it once, when the upgrade
 * sets it (verani_upgrade_set_user_id, and the default ?userId= / X-User-Id),
 * and refuses the upgrade with 400 saying why; a value never is cut to fit.
 */
#define VERANI_USER_ID_MAX 256

/* A static, human-readable name for a verani_err code ("invalid argument"). */
VERANI_API const char *verani_strerror(int err);

/*
 * The allocator every part of the runtime uses, and the one it hands to
 * protobuf-c. Set it once, before any other call; NULL members keep the libc
 * default. Not thread-safe: call it before starting threads.
 */
struct verani_allocators {
    void *(*malloc_fn)(size_t size);
    void *(*calloc_fn)(size_t nmemb, size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
};
VERANI_API void verani_set_allocators(const struct verani_allocators *a);

/*
 * Logging goes through libwebsockets' logger, so one call controls both.
 * Levels are lws's LLL_* bits; these aliases avoid including lws headers.
 */
#define VERANI_LOG_ERR    (1 << 0)
#define VERANI_LOG_WARN   (1 << 1)
#define VERANI_LOG_NOTICE (1 << 2)
#define VERANI_LOG_INFO   (1 << 3)
#define VERANI_LOG_DEBUG  (1 << 4)

/*
 * Set the levels that are printed and, optionally, where lines go (NULL keeps
 * lws's default, stderr). Lines written by libverani start with "[verani]".
 */
VERANI_API void verani_set_log_level(int levels, void (*emit)(int level, const char *line));

#ifdef __cplusplus
}
#endif

#endif /* VERANI_COMMON_H */
