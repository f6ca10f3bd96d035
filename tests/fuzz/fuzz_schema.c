/* SPDX-License-Identifier: MIT */
/*
 * fuzz_schema.c: a libFuzzer target over veranic's whole pipeline, in
 * process: lexer, parser, checker and every emitter (stubs included), on
 * arbitrary bytes. Diagnostics go to a sink that drops them. It asserts
 * nothing itself: the sanitizers and libFuzzer catch crashes, leaks, UB and
 * slow inputs. It writes no file. Built only with -DVERANI_FUZZ=ON and clang.
 */
#include <stddef.h>
#include <stdint.h>

#include "veranic.h"

static void drop(void *sink_ctx, const char *text, size_t len)
{
    (void)sink_ctx;
    (void)text;
    (void)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vc_ctx ctx;
    if (vc_ctx_init(&ctx, "fuzz.verani", (const char *)data, size, drop, NULL) == 0 &&
        vc_parse(&ctx) == 0 && vc_check(&ctx) == 0) {
        vc_output out[VC_MAX_OUTPUTS];
        int n = vc_emit(&ctx, VC_EMIT_STUBS | VC_EMIT_TS, out);
        for (int i = 0; i < n; i++)
            vc_buf_free(&out[i].buf);
    }
    vc_ctx_fini(&ctx);
    return 0;
}
