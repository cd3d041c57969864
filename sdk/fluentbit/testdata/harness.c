/*
 * harness: loads out_sentinel.so and drives it exactly as Fluent Bit's Go
 * proxy (src/proxy/go/go.c) does, for CI machines without Fluent Bit.
 *
 *   harness PLUGIN.so SCRIPT
 *
 * SCRIPT lines (one command each; blank lines and # comments ignored):
 *   instance NAME                 a new [OUTPUT] section
 *   set NAME KEY VALUE...         a key of the section (the value runs to the end of the line)
 *   init NAME                     FLBPluginInit with the section's key lookups
 *   flush NAME FILE TAG           FLBPluginFlushCtx with FILE's bytes as the chunk
 *   pflush NAME FILE TAG THREADS REPEAT
 *                                 THREADS threads flushing FILE REPEAT times each, at once
 *   time NAME FILE TAG REPEAT     REPEAT flushes in a row, timed
 *   exit NAME                     FLBPluginExitCtx
 *   exitall                       FLBPluginExit
 *
 * Every command prints one line: the command, the section, and the return code(s).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The layouts Fluent Bit shares with Go plugins (flb_plugin_proxy.h, proxy/go/go.h). */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

struct flb_api {
    char *(*output_get_property)(char *, void *);
    char *(*input_get_property)(char *, void *);
};

struct flb_plugin_proxy_context {
    void *remote_context; /* set by the plugin's FLBPluginSetContext */
    void *proxy;
};

struct flbgo_output_plugin {
    char *name;
    struct flb_api *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
    int (*cb_init)();
    int (*cb_flush)(const void *, size_t, const char *);
    int (*cb_flush_ctx)(void *, const void *, size_t, const char *);
    int (*cb_exit)();
    int (*cb_exit_ctx)(void *);
};

#define MAX_KEYS 64
#define MAX_INSTANCES 16

struct instance {
    char name[64];
    int nkeys;
    char *keys[MAX_KEYS];
    char *vals[MAX_KEYS];
    struct flb_plugin_proxy_context ctx;
    struct flbgo_output_plugin plugin;
};

static struct instance instances[MAX_INSTANCES];
static int ninstances;
static struct flb_api api;

static int (*p_register)(struct flb_plugin_proxy_def *);
static int (*p_unregister)(struct flb_plugin_proxy_def *);
static int (*p_init)(void *);
static int (*p_flush_ctx)(void *, const void *, int, char *);
static int (*p_exit_ctx)(void *);
static int (*p_exit)(void);

/* Fluent Bit's flb_output_get_property: NULL when the key is not set. */
static char *get_property(char *key, void *o_ins)
{
    struct instance *in = o_ins;
    for (int i = 0; i < in->nkeys; i++) {
        if (strcasecmp(in->keys[i], key) == 0) {
            return in->vals[i];
        }
    }
    return NULL;
}

static struct instance *find(const char *name)
{
    for (int i = 0; i < ninstances; i++) {
        if (strcmp(instances[i].name, name) == 0) {
            return &instances[i];
        }
    }
    fprintf(stderr, "harness: no instance %s\n", name);
    exit(2);
}

static void *sym(void *so, const char *name, int required)
{
    void *p = dlsym(so, name);
    if (!p && required) {
        fprintf(stderr, "harness: %s not exported\n", name);
        exit(2);
    }
    return p;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(n > 0 ? n : 1);
    if (n > 0 && fread(buf, 1, n, f) != (size_t) n) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* flush copies the chunk and the tag as Fluent Bit does, so the plugin can
 * never rely on memory outliving the call. */
static int flush(struct instance *in, const char *chunk, size_t len, const char *tag)
{
    char *data = malloc(len ? len : 1);
    memcpy(data, chunk, len);
    char *t = strdup(tag);
    int rc = p_flush_ctx(in->ctx.remote_context, data, (int) len, t);
    memset(data, 0xee, len); /* poison: a plugin keeping the pointer would read garbage */
    free(data);
    free(t);
    return rc;
}

struct pflush_arg {
    struct instance *in;
    const char *chunk;
    size_t len;
    const char *tag;
    int repeat;
    int counts[3];
};

static void *pflush_thread(void *p)
{
    struct pflush_arg *a = p;
    for (int i = 0; i < a->repeat; i++) {
        int rc = flush(a->in, a->chunk, a->len, a->tag);
        if (rc >= 0 && rc <= 2) {
            a->counts[rc]++;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: harness PLUGIN.so SCRIPT\n");
        return 2;
    }
    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "harness: %s\n", dlerror());
        return 2;
    }
    p_register = sym(so, "FLBPluginRegister", 1);
    p_unregister = sym(so, "FLBPluginUnregister", 0);
    p_init = sym(so, "FLBPluginInit", 1);
    p_flush_ctx = sym(so, "FLBPluginFlushCtx", 1);
    p_exit_ctx = sym(so, "FLBPluginExitCtx", 0);
    p_exit = sym(so, "FLBPluginExit", 0);
    api.output_get_property = get_property;

    struct flb_plugin_proxy_def def;
    memset(&def, 0, sizeof(def));
    int rc = p_register(&def);
    printf("register %d name=%s type=%d proxy=%d\n", rc, def.name ? def.name : "", def.type, def.proxy);
    fflush(stdout);

    FILE *script = fopen(argv[2], "r");
    if (!script) {
        perror(argv[2]);
        return 2;
    }
    char line[8192];
    while (fgets(line, sizeof(line), script)) {
        line[strcspn(line, "\r\n")] = 0;
        char cmd[32] = "", name[64] = "", a1[4096] = "", a2[256] = "";
        int n1 = 0, n2 = 0;
        if (sscanf(line, "%31s", cmd) != 1 || cmd[0] == '#') {
            continue;
        }
        if (strcmp(cmd, "instance") == 0) {
            sscanf(line, "%*s %63s", name);
            struct instance *in = &instances[ninstances++];
            memset(in, 0, sizeof(*in));
            strcpy(in->name, name);
            in->plugin.name = "sentinel";
            in->plugin.api = &api;
            in->plugin.o_ins = in;
            in->plugin.context = &in->ctx;
            printf("instance %s\n", name);
        }
        else if (strcmp(cmd, "set") == 0) {
            int off = 0;
            char key[256];
            sscanf(line, "%*s %63s %255s %n", name, key, &off);
            struct instance *in = find(name);
            in->keys[in->nkeys] = strdup(key);
            in->vals[in->nkeys] = strdup(off ? line + off : "");
            in->nkeys++;
            continue; /* quiet: values may be secrets */
        }
        else if (strcmp(cmd, "init") == 0) {
            sscanf(line, "%*s %63s", name);
            struct instance *in = find(name);
            printf("init %s %d\n", name, p_init(&in->plugin));
        }
        else if (strcmp(cmd, "flush") == 0) {
            sscanf(line, "%*s %63s %4095s %255s", name, a1, a2);
            size_t len;
            char *chunk = read_file(a1, &len);
            printf("flush %s %d\n", name, flush(find(name), chunk, len, a2));
            free(chunk);
        }
        else if (strcmp(cmd, "pflush") == 0) {
            sscanf(line, "%*s %63s %4095s %255s %d %d", name, a1, a2, &n1, &n2);
            size_t len;
            char *chunk = read_file(a1, &len);
            pthread_t th[64];
            struct pflush_arg args[64];
            if (n1 > 64) {
                n1 = 64;
            }
            for (int i = 0; i < n1; i++) {
                args[i] = (struct pflush_arg){find(name), chunk, len, a2, n2, {0, 0, 0}};
                pthread_create(&th[i], NULL, pflush_thread, &args[i]);
            }
            int counts[3] = {0, 0, 0};
            for (int i = 0; i < n1; i++) {
                pthread_join(th[i], NULL);
                for (int c = 0; c < 3; c++) {
                    counts[c] += args[i].counts[c];
                }
            }
            printf("pflush %s ok=%d retry=%d error=%d\n", name, counts[1], counts[2], counts[0]);
            free(chunk);
        }
        else if (strcmp(cmd, "time") == 0) {
            sscanf(line, "%*s %63s %4095s %255s %d", name, a1, a2, &n1);
            size_t len;
            char *chunk = read_file(a1, &len);
            struct instance *in = find(name);
            struct timespec t0, t1;
            int ok = 0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (int i = 0; i < n1; i++) {
                ok += flush(in, chunk, len, a2) == 1;
            }
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
            printf("time %s ok=%d seconds=%.6f\n", name, ok, secs);
            free(chunk);
        }
        else if (strcmp(cmd, "exit") == 0) {
            sscanf(line, "%*s %63s", name);
            struct instance *in = find(name);
            printf("exit %s %d\n", name, p_exit_ctx ? p_exit_ctx(in->ctx.remote_context) : -1);
        }
        else if (strcmp(cmd, "exitall") == 0) {
            printf("exitall %d\n", p_exit ? p_exit() : -1);
        }
        else {
            fprintf(stderr, "harness: unknown command %s\n", cmd);
            return 2;
        }
        fflush(stdout);
    }
    fclose(script);
    if (p_unregister) {
        p_unregister(&def);
    }
    return 0;
}
