/* SPDX-License-Identifier: MIT */
/*
 * main.c: the veranic command line. It parses arguments, reads each schema,
 * runs the pipeline of compile.c and writes the outputs all or nothing:
 * every file goes to <name>.tmp first and is renamed only when every file of
 * every schema was written; on any failure the .tmp files are removed. The
 * handler skeleton (--stubs) is written only when it does not exist yet; the
 * TypeScript client (--ts DIR) goes to its own directory.
 * Exit codes: 0 ok, 1 schema errors, 2 usage or I/O errors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "veranic.h"

static const char usage[] =
    "usage: veranic [--stubs] [--stubs-dir DIR] [--ts DIR] [-o DIR] [-v] [--list-names]\n"
    "               SCHEMA...\n"
    "\n"
    "Compile .verani schemas into a .proto and typed C for libverani:\n"
    "  <pkg>.proto, <pkg>_schema.{h,c}, <pkg>_server.{h,c}, <pkg>_client.{h,c}, and\n"
    "  envelope.proto (the wire envelope, the same for every schema)\n"
    "\n"
    "  -o DIR           write the outputs into DIR (default: the current directory),\n"
    "                   creating it and its parents when missing\n"
    "  --stubs          also write the handler skeleton <pkg>_handlers.c and its header\n"
    "                   <pkg>_handlers.h into DIR, each only if it does not exist (never\n"
    "                   overwritten); when the kept skeleton lacks handlers, name them and\n"
    "                   write the full one as <pkg>_handlers.c.new\n"
    "  --stubs-dir DIR  like --stubs, but write the skeleton into DIR\n"
    "  --ts DIR         also write the typed TypeScript client <pkg>_client.ts into DIR\n"
    "                   (for @verani/client; protoc-gen-es makes <pkg>_pb.ts from <pkg>.proto)\n"
    "  -v               print how long each stage took\n"
    "  --list-names     write nothing; print every C name the schemas would define, one\n"
    "                   per line with what it is (the collision check's list)\n"
    "  --help           print this help and exit\n"
    "  --version        print the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 errors in a schema, 2 usage or I/O errors.\n"
    "The language is documented in schema/README.md.\n";

typedef struct job {
    vc_ctx ctx;
    vc_output out[VC_MAX_OUTPUTS];
    int n_out;
    int ok;
} job;

/* --list-names: one line per C name, "<name>\t<what it is>". */
static void print_name(void *arg, const char *cname, const vc_cname_src *src, vc_loc loc)
{
    (void)arg;
    (void)loc;
    printf("%s\t%s", cname, src->thing);
    if (src->owner_kind)
        printf(" of %s '%s'", src->owner_kind, src->owner);
    if (src->room)
        printf(" in room '%s'", src->room);
    printf("\n");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Read a whole file; returns 0, 1 (too large: a schema error) or 2 (I/O). */
static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "veranic: error: cannot open '%s': %s\n", path, strerror(errno));
        return 2;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) { /* full: grown to VC_MAX_INPUT + 1 at most, so full then is too much */
            if (cap > VC_MAX_INPUT) {
                fprintf(stderr, "%s: error: file is larger than %u bytes; a schema this large "
                        "is refused\n", path, VC_MAX_INPUT);
                free(buf);
                fclose(f);
                return 1;
            }
            size_t ncap = cap * 2 > VC_MAX_INPUT ? (size_t)VC_MAX_INPUT + 1 : cap * 2;
            char *p = realloc(buf, ncap);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = buf == NULL || ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "veranic: error: cannot read '%s': %s\n", path,
                buf == NULL ? "out of memory" : strerror(errno));
        free(buf);
        return 2;
    }
    *data = buf;
    *len = n;
    return 0;
}

static char *join(const char *dir, const char *name, const char *suffix)
{
    size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s%s", dir, name, suffix);
    return p;
}

/* mkdir -p `dir`; 0, or 2 with the reason printed. */
static int make_dir(const char *dir)
{
    char *p = strdup(dir);
    int rc = 0;

    if (p == NULL)
        return 2;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "veranic: error: cannot create directory '%s': %s\n", p,
                    strerror(errno));
            rc = 2;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc;
}

static int write_file(const char *path, const vc_buf *b);

/* The user's handler skeleton `path` exists and is kept. When the schema has `on` events it
 * has no handler for, say which and write the fresh skeleton `fresh` beside it as
 * <path>.new to copy them from. 0, or 2 on an I/O error. */
static int check_skeleton(vc_ctx *ctx, const char *path, const vc_buf *fresh)
{
    size_t len = strlen(path);
    char *text = NULL, *newpath;
    size_t n_text = 0;
    vc_buf list = {0};
    int rc = 0;

    if (len < 11 || strcmp(path + len - 11, "_handlers.c") != 0)
        return 0;
    if (read_file(path, &text, &n_text) != 0) {
        free(text);
        return 2;
    }
    {
        char *z = realloc(text, n_text + 1); /* read_file's bytes are not a C string */

        if (z == NULL) {
            free(text);
            return 2;
        }
        text = z;
        text[n_text] = '\0';
    }
    if (vc_stubs_missing(ctx, text, &list) > 0 && !list.failed) {
        newpath = malloc(len + 5);
        if (newpath != NULL)
            snprintf(newpath, len + 5, "%s.new", path);
        if (newpath == NULL || write_file(newpath, fresh) != 0) {
            rc = 2;
        } else {
            fprintf(stderr, "veranic: note: %s has no handler for %.*s; the schema's full "
                    "skeleton is in %s\n", path, (int)list.len, list.data, newpath);
        }
        free(newpath);
    }
    vc_buf_free(&list);
    free(text);
    return rc;
}

static int write_file(const char *path, const vc_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "veranic: error: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = n != b->len;
    if (fclose(f) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "veranic: error: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *outdir = ".", *stubs_dir = NULL, *ts_dir = NULL;
    int stubs = 0, verbose = 0, list_names = 0, n_schemas = 0;
    const char **schemas = calloc((size_t)argc + 1, sizeof(*schemas));
    if (schemas == NULL)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            free(schemas);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("veranic %s (generated-code ABI %d)\n", VC_VERSION, VC_GEN_ABI);
            free(schemas);
            return 0;
        } else if (strcmp(a, "--stubs") == 0) {
            stubs = 1;
        } else if (strcmp(a, "-v") == 0) {
            verbose = 1;
        } else if (strcmp(a, "--list-names") == 0) {
            list_names = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--stubs-dir") == 0 ||
                   strcmp(a, "--ts") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "veranic: error: '%s' needs a directory\n%s", a, usage);
                free(schemas);
                return 2;
            }
            if (a[1] == 'o')
                outdir = argv[++i];
            else if (strcmp(a, "--ts") == 0)
                ts_dir = argv[++i];
            else
                stubs_dir = argv[++i], stubs = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "veranic: error: unknown option '%s'\n%s", a, usage);
            free(schemas);
            return 2;
        } else {
            schemas[n_schemas++] = a;
        }
    }
    if (n_schemas == 0) {
        fprintf(stderr, "veranic: error: no schema given\n%s", usage);
        free(schemas);
        return 2;
    }
    if (stubs_dir == NULL)
        stubs_dir = outdir;

    job *jobs = calloc((size_t)n_schemas, sizeof(*jobs));
    if (jobs == NULL) {
        free(schemas);
        return 2;
    }
    int status = 0;
    for (int i = 0; i < n_schemas; i++) {
        job *j = &jobs[i];
        char *src = NULL;
        size_t len = 0;
        double t0 = now_ms();
        int rc = read_file(schemas[i], &src, &len);
        if (rc != 0) {
            status = status > rc ? status : rc;
            continue;
        }
        if (vc_ctx_init(&j->ctx, schemas[i], src, len, NULL, NULL) != 0) {
            free(src);
            fprintf(stderr, "veranic: error: out of memory\n");
            status = 2;
            continue;
        }
        free(src);
        double t1 = now_ms();
        int perr = vc_parse(&j->ctx);
        double t2 = now_ms();
        int cerr = vc_check(&j->ctx);
        double t3 = now_ms();
        (void)perr;
        if (cerr != 0 || j->ctx.errors) {
            status = status > 1 ? status : 1;
            continue;
        }
        for (int k = 0; k < i; k++) {
            if (jobs[k].ok && strcmp(jobs[k].ctx.schema->package, j->ctx.schema->package) == 0) {
                vc_diag(&j->ctx, VC_ERROR, j->ctx.schema->package_loc,
                        "package '%s' is also the package of '%s': their outputs would collide",
                        j->ctx.schema->package, jobs[k].ctx.path);
                status = status > 1 ? status : 1;
            }
        }
        if (j->ctx.errors)
            continue;
        if (list_names) {
            vc_each_cname(&j->ctx, print_name, NULL);
            j->ok = 1; /* checked: the next schemas' package is compared with its */
            continue;
        }
        j->n_out = vc_emit(&j->ctx, (stubs ? VC_EMIT_STUBS : 0) | (ts_dir ? VC_EMIT_TS : 0),
                           j->out);
        double t4 = now_ms();
        if (j->n_out < 0) {
            fprintf(stderr, "veranic: error: out of memory\n");
            status = 2;
            continue;
        }
        j->ok = 1;
        if (verbose)
            fprintf(stderr, "veranic: %s: read %.2f ms, parse %.2f ms, check %.2f ms, "
                    "emit %.2f ms\n", schemas[i], t1 - t0, t2 - t1, t3 - t2, t4 - t3);
    }

    /* All or nothing: write every .tmp, then rename them all. */
    double tw = now_ms();
    if (status == 0 && !list_names) {
        status = make_dir(outdir);
        if (status == 0 && stubs)
            status = make_dir(stubs_dir);
        if (status == 0 && ts_dir)
            status = make_dir(ts_dir);
    }
    for (int pass = list_names ? 2 : 0; status == 0 && pass < 2; pass++) {
        for (int i = 0; i < n_schemas && status == 0; i++) {
            for (int k = 0; k < jobs[i].n_out && status == 0; k++) {
                vc_output *o = &jobs[i].out[k];
                const char *dir = o->ts ? ts_dir : o->once ? stubs_dir : outdir;
                if (o->shared && i > 0)
                    continue; /* the first schema's copy is the one written */
                char *final = join(dir, o->name, "");
                char *tmp = join(dir, o->name, ".tmp");
                if (final == NULL || tmp == NULL) {
                    status = 2;
                } else if (o->once && access(final, F_OK) == 0) {
                    o->once = 2; /* exists: keep the user's file */
                    if (pass == 0)
                        status = check_skeleton(&jobs[i].ctx, final, &o->buf);
                } else if (pass == 0) {
                    if (write_file(tmp, &o->buf) != 0)
                        status = 2;
                } else if (rename(tmp, final) != 0) {
                    fprintf(stderr, "veranic: error: cannot rename '%s' to '%s': %s\n", tmp,
                            final, strerror(errno));
                    status = 2;
                }
                free(final);
                free(tmp);
            }
        }
    }
    if (status != 0) {
        for (int i = 0; i < n_schemas; i++) {
            for (int k = 0; k < jobs[i].n_out; k++) {
                const vc_output *o = &jobs[i].out[k];
                if (o->shared && i > 0)
                    continue;
                char *tmp = join(o->ts ? ts_dir : o->once ? stubs_dir : outdir, o->name, ".tmp");
                if (tmp != NULL && o->once != 2)
                    remove(tmp);
                free(tmp);
            }
        }
    }
    if (verbose && status == 0)
        fprintf(stderr, "veranic: write %.2f ms\n", now_ms() - tw);
    for (int i = 0; i < n_schemas; i++) {
        for (int k = 0; k < jobs[i].n_out; k++)
            vc_buf_free(&jobs[i].out[k].buf);
        vc_ctx_fini(&jobs[i].ctx);
    }
    free(jobs);
    free(schemas);
    return status;
}
