/*
 * gguf.c - GGUF v2/v3 reader (over a read-only mapping) and writer.
 *
 * The reader trusts nothing in the file: every count, string length, array
 * size, tensor shape, type, offset and alignment is checked against the bytes
 * that are really there before it is used, and every product is checked for
 * overflow before it is formed. Errors name the file, the item and the byte
 * offset. Tensor data is never copied: desk_tensor_info.data points into the
 * mapping.
 *
 * Layout (all little-endian):
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv x { string key, u32 vtype, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to general.alignment (default 32), then tensor data
 * string = u64 length + bytes (no NUL); array = u32 elem vtype, u64 n, elems.
 */
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 256

typedef struct {
    char *key;                 /* NUL-terminated copy */
    desk_gguf_vtype type;
    const uint8_t *val;        /* scalar value, or string length field, or first array element */
    desk_gguf_vtype arr_type;  /* arrays only */
    uint64_t arr_n;            /* arrays only */
    const uint8_t **str_at;    /* string arrays: pointer to each element's length field */
} gguf_kv;

struct desk_gguf {
    char *path;
    desk_mapping map;          /* map.addr == NULL when opened over caller memory */
    const uint8_t *base;
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    desk_tensor_info *tensors;
};

static size_t vtype_size(uint32_t t) {
    switch (t) {
    case DESK_GGUF_UINT8: case DESK_GGUF_INT8: case DESK_GGUF_BOOL: return 1;
    case DESK_GGUF_UINT16: case DESK_GGUF_INT16: return 2;
    case DESK_GGUF_UINT32: case DESK_GGUF_INT32: case DESK_GGUF_FLOAT32: return 4;
    case DESK_GGUF_UINT64: case DESK_GGUF_INT64: case DESK_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t < 13 ? names[t] : "?";
}

/* ---------------------------------------------------------------- reader */

typedef struct {
    const uint8_t *p;
    uint64_t pos, size;
    const char *path;
    desk_error *err;
} cursor;

static uint64_t rd_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static desk_status need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return desk_fail(c->err, DESK_EFORMAT,
                         "%s: truncated at byte %llu: %s needs %llu bytes, %llu remain", c->path,
                         (unsigned long long)c->pos, what, (unsigned long long)n,
                         (unsigned long long)(c->size - c->pos));
    return DESK_OK;
}

static desk_status take_u32(cursor *c, uint32_t *v, const char *what) {
    desk_status s = need(c, 4, what);
    if (s) return s;
    *v = rd_u32(c->p + c->pos);
    c->pos += 4;
    return DESK_OK;
}

static desk_status take_u64(cursor *c, uint64_t *v, const char *what) {
    desk_status s = need(c, 8, what);
    if (s) return s;
    *v = rd_u64(c->p + c->pos);
    c->pos += 8;
    return DESK_OK;
}

/* A string: checks its length against the bytes left. */
static desk_status take_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    desk_status st = take_u64(c, len, what);
    if (st) return st;
    if (*len > c->size - c->pos)
        return desk_fail(c->err, DESK_EFORMAT,
                         "%s: %s at byte %llu claims length %llu but only %llu bytes remain",
                         c->path, what, (unsigned long long)(c->pos - 8), (unsigned long long)*len,
                         (unsigned long long)(c->size - c->pos));
    *s = c->p + c->pos;
    c->pos += *len;
    return DESK_OK;
}

static char *dup_bytes(const uint8_t *s, uint64_t len) {
    char *d = malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = 0;
    return d;
}

static desk_status read_kv(cursor *c, desk_gguf *g, int64_t i) {
    gguf_kv *kv = &g->kv[i];
    const uint8_t *ks;
    uint64_t klen, at = c->pos;
    desk_status s = take_str(c, &ks, &klen, "metadata key");
    if (s) return s;
    if (klen == 0 || klen > 65535 || memchr(ks, 0, klen))
        return desk_fail(c->err, DESK_EFORMAT, "%s: metadata key %lld at byte %llu is malformed",
                         c->path, (long long)i, (unsigned long long)at);
    if (!(kv->key = dup_bytes(ks, klen))) return desk_fail(c->err, DESK_ENOMEM, "out of memory");
    uint32_t t;
    if ((s = take_u32(c, &t, "metadata value type"))) return s;
    kv->type = (desk_gguf_vtype)t;
    kv->val = c->p + c->pos;
    if (t == DESK_GGUF_STRING) {
        const uint8_t *sv;
        uint64_t sl;
        return take_str(c, &sv, &sl, kv->key);
    }
    if (t == DESK_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if ((s = take_u32(c, &et, "array element type"))) return s;
        if ((s = take_u64(c, &n, "array length"))) return s;
        kv->arr_type = (desk_gguf_vtype)et;
        kv->arr_n = n;
        kv->val = c->p + c->pos;
        if (et == DESK_GGUF_STRING) {
            /* each element needs at least its 8-byte length */
            if (n > (c->size - c->pos) / 8)
                return desk_fail(c->err, DESK_EFORMAT,
                                 "%s: key '%s': array of %llu strings cannot fit in the %llu bytes left",
                                 c->path, kv->key, (unsigned long long)n,
                                 (unsigned long long)(c->size - c->pos));
            kv->str_at = malloc((n ? n : 1) * sizeof *kv->str_at);
            if (!kv->str_at) return desk_fail(c->err, DESK_ENOMEM, "out of memory");
            for (uint64_t j = 0; j < n; j++) {
                kv->str_at[j] = c->p + c->pos;
                const uint8_t *sv;
                uint64_t sl;
                if ((s = take_str(c, &sv, &sl, kv->key))) return s;
            }
            return DESK_OK;
        }
        size_t es = vtype_size(et);
        if (es == 0)
            return desk_fail(c->err, DESK_EUNSUPPORTED,
                             "%s: key '%s': arrays of type %u are not supported", c->path, kv->key, et);
        if (n > (c->size - c->pos) / es)
            return desk_fail(c->err, DESK_EFORMAT,
                             "%s: key '%s': array of %llu x %zu bytes runs past the end of the file",
                             c->path, kv->key, (unsigned long long)n, es);
        c->pos += n * es;
        return DESK_OK;
    }
    size_t es = vtype_size(t);
    if (es == 0)
        return desk_fail(c->err, DESK_EFORMAT, "%s: key '%s': unknown value type %u at byte %llu",
                         c->path, kv->key, t, (unsigned long long)(c->pos - 4));
    if ((s = need(c, es, kv->key))) return s;
    c->pos += es;
    return DESK_OK;
}

static desk_status read_tensor_info(cursor *c, desk_gguf *g, int64_t i) {
    desk_tensor_info *ti = &g->tensors[i];
    const uint8_t *ns;
    uint64_t nlen, at = c->pos;
    desk_status s = take_str(c, &ns, &nlen, "tensor name");
    if (s) return s;
    if (nlen == 0 || nlen >= GGUF_MAX_NAME || memchr(ns, 0, nlen))
        return desk_fail(c->err, DESK_EFORMAT, "%s: tensor %lld at byte %llu has a bad name",
                         c->path, (long long)i, (unsigned long long)at);
    char *name = dup_bytes(ns, nlen);
    if (!name) return desk_fail(c->err, DESK_ENOMEM, "out of memory");
    ti->name = name;
    uint32_t nd;
    if ((s = take_u32(c, &nd, "tensor n_dims"))) return s;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return desk_fail(c->err, DESK_EFORMAT, "%s: tensor '%s' has %u dimensions (1..4 allowed)",
                         c->path, name, nd);
    ti->n_dims = (int)nd;
    uint64_t nel = 1;
    for (int d = 0; d < 4; d++) ti->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t v;
        if ((s = take_u64(c, &v, "tensor dimension"))) return s;
        if (v == 0 || v > (uint64_t)INT64_MAX || !desk_mul_ok(nel, v, &nel) || nel > (uint64_t)INT64_MAX)
            return desk_fail(c->err, DESK_EFORMAT,
                             "%s: tensor '%s' has an invalid dimension %u of size %llu", c->path,
                             name, d, (unsigned long long)v);
        ti->ne[d] = (int64_t)v;
    }
    uint32_t type;
    if ((s = take_u32(c, &type, "tensor type"))) return s;
    ti->type = (int)type;
    if (!desk_type_supported((int)type))
        return desk_fail(c->err, DESK_EUNSUPPORTED, "%s: tensor '%s' has tensor type %s, which desk does not support",
                         c->path, name, desk_type_name((int)type));
    if (ti->ne[0] % desk_type_block_elems((int)type) != 0)
        return desk_fail(c->err, DESK_EFORMAT,
                         "%s: tensor '%s': row length %lld is not a multiple of the %s block (%lld)",
                         c->path, name, (long long)ti->ne[0], desk_type_name((int)type),
                         (long long)desk_type_block_elems((int)type));
    uint64_t rows = nel / (uint64_t)ti->ne[0], nbytes;
    if (!desk_mul_ok(desk_type_row_size((int)type, ti->ne[0]), rows, &nbytes))
        return desk_fail(c->err, DESK_EFORMAT, "%s: tensor '%s' size overflows", c->path, name);
    ti->nbytes = nbytes;
    if ((s = take_u64(c, &ti->offset, "tensor offset"))) return s;
    return DESK_OK;
}

static desk_status gguf_parse(desk_gguf *g, desk_error *err) {
    cursor c = {g->base, 0, g->size, g->path, err};
    uint32_t magic, version;
    desk_status s;
    if (g->size < 24)
        return desk_fail(err, DESK_EFORMAT, "%s: %llu bytes is too small for a GGUF header", g->path,
                         (unsigned long long)g->size);
    take_u32(&c, &magic, "magic");
    if (magic != GGUF_MAGIC)
        return desk_fail(err, DESK_EFORMAT, "%s: not a GGUF file (bad magic 0x%08x)", g->path, magic);
    take_u32(&c, &version, "version");
    if (version == 1)
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: GGUF version 1 is obsolete; convert it to v3", g->path);
    if (version != 2 && version != 3)
        return desk_fail(err, DESK_EUNSUPPORTED, "%s: unknown GGUF version %u", g->path, version);
    g->version = version;
    uint64_t nt, nkv;
    take_u64(&c, &nt, "tensor count");
    take_u64(&c, &nkv, "metadata count");
    /* a KV needs >= 8 (key len) + 1 + 4 (type) + 1 bytes; a tensor info >= 8 + 1 + 4 + 8 + 4 + 8 */
    if (nkv > (g->size - c.pos) / 14)
        return desk_fail(err, DESK_EFORMAT, "%s: metadata count %llu is impossible for a %llu-byte file",
                         g->path, (unsigned long long)nkv, (unsigned long long)g->size);
    if (nt > (g->size - c.pos) / 33)
        return desk_fail(err, DESK_EFORMAT, "%s: tensor count %llu is impossible for a %llu-byte file",
                         g->path, (unsigned long long)nt, (unsigned long long)g->size);
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return desk_fail(err, DESK_ENOMEM, "out of memory");
    for (int64_t i = 0; i < g->n_kv; i++) {
        if ((s = read_kv(&c, g, i))) { g->n_kv = i + 1; return s; }
        for (int64_t j = 0; j < i; j++)
            if (strcmp(g->kv[j].key, g->kv[i].key) == 0) {
                g->n_kv = i + 1;
                return desk_fail(err, DESK_EFORMAT, "%s: duplicate metadata key '%s'", g->path, g->kv[i].key);
            }
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = desk_gguf_find(g, "general.alignment");
    if (ai >= 0) {
        if (g->kv[ai].type != DESK_GGUF_UINT32)
            return desk_fail(err, DESK_EFORMAT, "%s: general.alignment must be u32", g->path);
        uint32_t a = rd_u32(g->kv[ai].val);
        if (a == 0 || (a & (a - 1)) != 0)
            return desk_fail(err, DESK_EFORMAT, "%s: general.alignment %u is not a power of two", g->path, a);
        g->alignment = a;
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        if ((s = read_tensor_info(&c, g, i))) { g->n_tensors = i + 1; return s; }
    uint64_t data = c.pos;
    if (data % g->alignment) data += g->alignment - data % g->alignment;
    g->data_offset = data;
    /* Tensors: aligned, inside the file, and not overlapping each other. */
    for (int64_t i = 0; i < g->n_tensors; i++) {
        desk_tensor_info *ti = &g->tensors[i];
        uint64_t end;
        if (ti->offset % g->alignment)
            return desk_fail(err, DESK_EFORMAT, "%s: tensor '%s' offset %llu is not aligned to %llu",
                             g->path, ti->name, (unsigned long long)ti->offset, (unsigned long long)g->alignment);
        if (data > g->size || !desk_add_ok(ti->offset, ti->nbytes, &end) || end > g->size - data)
            return desk_fail(err, DESK_EFORMAT,
                             "%s: tensor '%s' (%llu bytes at data offset %llu) runs past the end of the file (%llu bytes); the file is truncated or corrupt",
                             g->path, ti->name, (unsigned long long)ti->nbytes, (unsigned long long)ti->offset,
                             (unsigned long long)g->size);
        ti->data = g->base + data + ti->offset;
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        for (int64_t j = i + 1; j < g->n_tensors; j++) {
            if (strcmp(g->tensors[i].name, g->tensors[j].name) == 0)
                return desk_fail(err, DESK_EFORMAT, "%s: duplicate tensor name '%s'", g->path, g->tensors[i].name);
            const desk_tensor_info *a = &g->tensors[i], *b = &g->tensors[j];
            if (a->offset < b->offset + b->nbytes && b->offset < a->offset + a->nbytes)
                return desk_fail(err, DESK_EFORMAT, "%s: tensors '%s' and '%s' overlap", g->path, a->name, b->name);
        }
    return DESK_OK;
}

static desk_status gguf_open_common(desk_gguf *g, desk_gguf **out, desk_error *err) {
    desk_base_init();
    desk_status s = gguf_parse(g, err);
    if (s) {
        desk_gguf_close(g);
        return s;
    }
    *out = g;
    return DESK_OK;
}

desk_status desk_gguf_open(const char *path, desk_gguf **out, desk_error *err) {
    *out = NULL;
    desk_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    desk_status s = desk_map_file(path, &g->map, err);
    if (s) {
        desk_gguf_close(g);
        return s;
    }
    g->base = g->map.addr;
    g->size = g->map.size;
    return gguf_open_common(g, out, err);
}

desk_status desk_gguf_open_memory(const void *data, size_t size, const char *name, desk_gguf **out,
                                  desk_error *err) {
    *out = NULL;
    desk_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(name ? name : "<memory>"))) {
        free(g);
        return desk_fail(err, DESK_ENOMEM, "out of memory");
    }
    g->base = data;
    g->size = size;
    return gguf_open_common(g, out, err);
}

void desk_gguf_close(desk_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            free(g->kv[i].str_at);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    desk_unmap(&g->map);
    free(g->path);
    free(g);
}

uint32_t desk_gguf_version(const desk_gguf *g) { return g->version; }
uint64_t desk_gguf_file_size(const desk_gguf *g) { return g->size; }
const char *desk_gguf_path(const desk_gguf *g) { return g->path; }
int64_t desk_gguf_n_kv(const desk_gguf *g) { return g->n_kv; }
const char *desk_gguf_key(const desk_gguf *g, int64_t i) { return g->kv[i].key; }
desk_gguf_vtype desk_gguf_kv_type(const desk_gguf *g, int64_t i) { return g->kv[i].type; }
desk_gguf_vtype desk_gguf_arr_type(const desk_gguf *g, int64_t i) { return g->kv[i].arr_type; }
uint64_t desk_gguf_arr_n(const desk_gguf *g, int64_t i) {
    return g->kv[i].type == DESK_GGUF_ARRAY ? g->kv[i].arr_n : 0;
}
const void *desk_gguf_arr_data(const desk_gguf *g, int64_t i) {
    return g->kv[i].type == DESK_GGUF_ARRAY && g->kv[i].arr_type != DESK_GGUF_STRING ? g->kv[i].val : NULL;
}

int64_t desk_gguf_find(const desk_gguf *g, const char *key) {
    for (int64_t i = 0; i < g->n_kv; i++)
        if (strcmp(g->kv[i].key, key) == 0) return i;
    return -1;
}

/* Reads an integer of any integer vtype as a sign + magnitude pair. */
static bool kv_int(const gguf_kv *kv, int64_t *sv, uint64_t *uv, bool *neg) {
    const uint8_t *p = kv->val;
    int64_t s = 0;
    uint64_t u = 0;
    switch (kv->type) {
    case DESK_GGUF_UINT8: u = p[0]; break;
    case DESK_GGUF_INT8: s = (int8_t)p[0]; break;
    case DESK_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); u = v; break; }
    case DESK_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); s = v; break; }
    case DESK_GGUF_UINT32: u = rd_u32(p); break;
    case DESK_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); s = v; break; }
    case DESK_GGUF_UINT64: u = rd_u64(p); break;
    case DESK_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); s = v; break; }
    default: return false;
    }
    bool is_signed = kv->type == DESK_GGUF_INT8 || kv->type == DESK_GGUF_INT16 ||
                     kv->type == DESK_GGUF_INT32 || kv->type == DESK_GGUF_INT64;
    if (is_signed) {
        *neg = s < 0;
        *sv = s;
        *uv = s < 0 ? 0 : (uint64_t)s;
    } else {
        *neg = false;
        *uv = u;
        *sv = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    return true;
}

bool desk_gguf_get_u64(const desk_gguf *g, const char *key, uint64_t *v) {
    int64_t i = desk_gguf_find(g, key), s;
    bool neg;
    if (i < 0 || !kv_int(&g->kv[i], &s, v, &neg) || neg) return false;
    return true;
}

bool desk_gguf_get_i64(const desk_gguf *g, const char *key, int64_t *v) {
    int64_t i = desk_gguf_find(g, key);
    uint64_t u;
    bool neg;
    if (i < 0 || !kv_int(&g->kv[i], v, &u, &neg)) return false;
    if (!neg && u > (uint64_t)INT64_MAX) return false;
    return true;
}

bool desk_gguf_get_f32(const desk_gguf *g, const char *key, float *v) {
    int64_t i = desk_gguf_find(g, key);
    if (i < 0) return false;
    if (g->kv[i].type == DESK_GGUF_FLOAT32) { memcpy(v, g->kv[i].val, 4); return true; }
    if (g->kv[i].type == DESK_GGUF_FLOAT64) { double d; memcpy(&d, g->kv[i].val, 8); *v = (float)d; return true; }
    return false;
}

bool desk_gguf_get_bool(const desk_gguf *g, const char *key, bool *v) {
    int64_t i = desk_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != DESK_GGUF_BOOL) return false;
    *v = g->kv[i].val[0] != 0;
    return true;
}

bool desk_gguf_get_str(const desk_gguf *g, const char *key, const char **s, uint64_t *len) {
    int64_t i = desk_gguf_find(g, key);
    if (i < 0 || g->kv[i].type != DESK_GGUF_STRING) return false;
    *len = rd_u64(g->kv[i].val);
    *s = (const char *)g->kv[i].val + 8;
    return true;
}

bool desk_gguf_arr_str(const desk_gguf *g, int64_t i, uint64_t j, const char **s, uint64_t *len) {
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != DESK_GGUF_ARRAY || kv->arr_type != DESK_GGUF_STRING || j >= kv->arr_n) return false;
    *len = rd_u64(kv->str_at[j]);
    *s = (const char *)kv->str_at[j] + 8;
    return true;
}

static void fmt_scalar(uint32_t t, const uint8_t *p, char *buf, size_t cap) {
    switch (t) {
    case DESK_GGUF_UINT8: snprintf(buf, cap, "%u", p[0]); break;
    case DESK_GGUF_INT8: snprintf(buf, cap, "%d", (int8_t)p[0]); break;
    case DESK_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); snprintf(buf, cap, "%u", v); break; }
    case DESK_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); snprintf(buf, cap, "%d", v); break; }
    case DESK_GGUF_UINT32: snprintf(buf, cap, "%u", rd_u32(p)); break;
    case DESK_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); snprintf(buf, cap, "%d", v); break; }
    case DESK_GGUF_FLOAT32: { float v; memcpy(&v, p, 4); snprintf(buf, cap, "%g", v); break; }
    case DESK_GGUF_BOOL: snprintf(buf, cap, "%s", p[0] ? "true" : "false"); break;
    case DESK_GGUF_UINT64: snprintf(buf, cap, "%llu", (unsigned long long)rd_u64(p)); break;
    case DESK_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); snprintf(buf, cap, "%lld", (long long)v); break; }
    case DESK_GGUF_FLOAT64: { double v; memcpy(&v, p, 8); snprintf(buf, cap, "%g", v); break; }
    default: snprintf(buf, cap, "?");
    }
}

/* Printable, single-line rendering of a string (control bytes escaped),
 * cut with "..." when it does not fit. */
static void fmt_str(const char *s, uint64_t len, char *buf, size_t cap) {
    size_t o = 0;
    if (cap < 8) { if (cap) buf[0] = 0; return; }
    buf[o++] = '"';
    uint64_t k = 0;
    /* each byte takes at most 4 output bytes; keep 5 for '..."' and the NUL */
    for (; k < len && o + 4 + 5 <= cap; k++) {
        unsigned char ch = (unsigned char)s[k];
        if (ch == '\n') { buf[o++] = '\\'; buf[o++] = 'n'; }
        else if (ch < 0x20 || ch == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
        else buf[o++] = (char)ch;
    }
    if (k < len) { memcpy(buf + o, "...", 3); o += 3; }
    buf[o++] = '"';
    buf[o] = 0;
}

void desk_gguf_kv_format(const desk_gguf *g, int64_t i, char *buf, size_t cap) {
    const gguf_kv *kv = &g->kv[i];
    if (kv->type == DESK_GGUF_STRING) {
        fmt_str((const char *)kv->val + 8, rd_u64(kv->val), buf, cap);
    } else if (kv->type == DESK_GGUF_ARRAY) {
        size_t o = (size_t)snprintf(buf, cap, "[%s x %llu]", vtype_name(kv->arr_type),
                                    (unsigned long long)kv->arr_n);
        uint64_t show = kv->arr_n < 4 ? kv->arr_n : 4;
        for (uint64_t j = 0; j < show && o + 40 < cap; j++) {
            char tmp[48];
            if (kv->arr_type == DESK_GGUF_STRING) {
                const char *s = "";
                uint64_t l = 0;
                desk_gguf_arr_str(g, i, j, &s, &l);
                fmt_str(s, l, tmp, 32);
            } else {
                fmt_scalar(kv->arr_type, kv->val + j * vtype_size(kv->arr_type), tmp, sizeof tmp);
            }
            o += (size_t)snprintf(buf + o, cap - o, " %s", tmp);
        }
        if (show < kv->arr_n && o + 5 < cap) snprintf(buf + o, cap - o, " ...");
    } else {
        fmt_scalar(kv->type, kv->val, buf, cap);
    }
}

int64_t desk_gguf_n_tensors(const desk_gguf *g) { return g->n_tensors; }
const desk_tensor_info *desk_gguf_tensor(const desk_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}
const desk_tensor_info *desk_gguf_find_tensor(const desk_gguf *g, const char *name) {
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *bytes;   /* serialised value (after the type field) */
    size_t n;
} wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    void *data;
    uint64_t nbytes;
} wtensor;

struct desk_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

desk_gguf_writer *desk_gguf_writer_new(void) { return calloc(1, sizeof(desk_gguf_writer)); }

void desk_gguf_writer_free(desk_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].bytes); }
    for (size_t i = 0; i < w->n_t; i++) { free(w->t[i].name); free(w->t[i].data); }
    free(w->kv);
    free(w->t);
    free(w);
}

static desk_status put_kv(desk_gguf_writer *w, const char *key, uint32_t type, uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].bytes);
            w->kv[i].type = type;
            w->kv[i].bytes = bytes;
            w->kv[i].n = n;
            return DESK_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, nc * sizeof *nk);
        if (!nk) { free(bytes); return DESK_ENOMEM; }
        w->kv = nk;
        w->cap_kv = nc;
    }
    char *k = strdup(key);
    if (!k) { free(bytes); return DESK_ENOMEM; }
    w->kv[w->n_kv++] = (wkv){k, type, bytes, n};
    return DESK_OK;
}

static desk_status put_scalar(desk_gguf_writer *w, const char *key, uint32_t type, const void *v) {
    size_t n = vtype_size(type);
    uint8_t *b = malloc(n);
    if (!b) return DESK_ENOMEM;
    memcpy(b, v, n);
    return put_kv(w, key, type, b, n);
}

desk_status desk_gguf_set_u32(desk_gguf_writer *w, const char *key, uint32_t v) { return put_scalar(w, key, DESK_GGUF_UINT32, &v); }
desk_status desk_gguf_set_i32(desk_gguf_writer *w, const char *key, int32_t v) { return put_scalar(w, key, DESK_GGUF_INT32, &v); }
desk_status desk_gguf_set_f32(desk_gguf_writer *w, const char *key, float v) { return put_scalar(w, key, DESK_GGUF_FLOAT32, &v); }
desk_status desk_gguf_set_bool(desk_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return put_scalar(w, key, DESK_GGUF_BOOL, &b);
}

desk_status desk_gguf_set_str(desk_gguf_writer *w, const char *key, const char *val) {
    uint64_t l = strlen(val);
    uint8_t *b = malloc(8 + l);
    if (!b) return DESK_ENOMEM;
    memcpy(b, &l, 8);
    memcpy(b + 8, val, l);
    return put_kv(w, key, DESK_GGUF_STRING, b, 8 + l);
}

desk_status desk_gguf_set_arr(desk_gguf_writer *w, const char *key, desk_gguf_vtype elem, const void *data, uint64_t n) {
    size_t es = vtype_size(elem);
    if (!es || n > (SIZE_MAX - 12) / es) return DESK_EINVAL;
    uint8_t *b = malloc(12 + n * es);
    if (!b) return DESK_ENOMEM;
    uint32_t e = elem;
    memcpy(b, &e, 4);
    memcpy(b + 4, &n, 8);
    if (n) memcpy(b + 12, data, n * es);
    return put_kv(w, key, DESK_GGUF_ARRAY, b, 12 + n * es);
}

desk_status desk_gguf_set_arr_str(desk_gguf_writer *w, const char *key, const char *const *strs,
                                  const uint64_t *lens, uint64_t n) {
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) total += 8 + (lens ? lens[i] : strlen(strs[i]));
    uint8_t *b = malloc(total), *p = b + 12;
    if (!b) return DESK_ENOMEM;
    uint32_t e = DESK_GGUF_STRING;
    memcpy(b, &e, 4);
    memcpy(b + 4, &n, 8);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = lens ? lens[i] : strlen(strs[i]);
        memcpy(p, &l, 8);
        memcpy(p + 8, strs[i], l);
        p += 8 + l;
    }
    return put_kv(w, key, DESK_GGUF_ARRAY, b, total);
}

desk_status desk_gguf_copy_kv(desk_gguf_writer *w, const desk_gguf *src, int64_t i) {
    const gguf_kv *kv = &src->kv[i];
    const uint8_t *start = kv->val, *end;
    if (kv->type == DESK_GGUF_STRING) {
        end = start + 8 + rd_u64(start);
    } else if (kv->type == DESK_GGUF_ARRAY) {
        start = kv->val - 12;
        if (kv->arr_type == DESK_GGUF_STRING) {
            if (kv->arr_n == 0) end = kv->val;
            else end = kv->str_at[kv->arr_n - 1] + 8 + rd_u64(kv->str_at[kv->arr_n - 1]);
        } else {
            end = kv->val + kv->arr_n * vtype_size(kv->arr_type);
        }
    } else {
        end = start + vtype_size(kv->type);
    }
    size_t n = (size_t)(end - start);
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return DESK_ENOMEM;
    memcpy(b, start, n);
    return put_kv(w, kv->key, kv->type, b, n);
}

desk_status desk_gguf_add_tensor(desk_gguf_writer *w, const char *name, int type, int n_dims,
                                 const int64_t *ne, const void *data) {
    if (!desk_type_supported(type) || n_dims < 1 || n_dims > 4 || strlen(name) >= GGUF_MAX_NAME)
        return DESK_EINVAL;
    uint64_t rows = 1;
    for (int d = 1; d < n_dims; d++)
        if (ne[d] <= 0 || !desk_mul_ok(rows, (uint64_t)ne[d], &rows)) return DESK_EINVAL;
    uint64_t rs = desk_type_row_size(type, ne[0]), nbytes;
    if (ne[0] <= 0 || rs == 0 || !desk_mul_ok(rs, rows, &nbytes)) return DESK_EINVAL;
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) return DESK_ENOMEM;
        w->t = nt;
        w->cap_t = nc;
    }
    wtensor t = {0};
    t.name = strdup(name);
    t.data = data ? malloc(nbytes) : NULL; /* NULL: filled by the callback at write time */
    if (!t.name || (data && !t.data)) { free(t.name); free(t.data); return DESK_ENOMEM; }
    if (data) memcpy(t.data, data, nbytes);
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < 4; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    t.nbytes = nbytes;
    w->t[w->n_t++] = t;
    return DESK_OK;
}

static bool wr(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

desk_status desk_gguf_write(desk_gguf_writer *w, const char *path, desk_error *err) {
    return desk_gguf_write_with(w, path, NULL, NULL, err);
}

desk_status desk_gguf_write_with(desk_gguf_writer *w, const char *path, desk_gguf_fill_fn fill, void *ctx,
                                 desk_error *err) {
    uint64_t biggest = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        if (w->t[i].data) continue;
        if (!fill) return desk_fail(err, DESK_EINVAL, "%s: tensor '%s' has no data and no fill callback", path, w->t[i].name);
        if (w->t[i].nbytes > biggest) biggest = w->t[i].nbytes;
    }
    void *scratch = biggest ? malloc(biggest) : NULL;
    if (biggest && !scratch) return desk_fail(err, DESK_ENOMEM, "out of memory for a %llu-byte tensor", (unsigned long long)biggest);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(scratch);
        return desk_fail(err, DESK_EIO, "%s: cannot create: %s", path, strerror(errno));
    }
    uint64_t align = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0 && w->kv[i].type == DESK_GGUF_UINT32)
            align = rd_u32(w->kv[i].bytes);
    uint32_t magic = GGUF_MAGIC, version = 3;
    uint64_t nt = w->n_t, nkv = w->n_kv, pos = 0;
    bool ok = wr(f, &magic, 4) && wr(f, &version, 4) && wr(f, &nt, 8) && wr(f, &nkv, 8);
    pos = 24;
    for (size_t i = 0; ok && i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kv[i].key);
        ok = wr(f, &kl, 8) && wr(f, w->kv[i].key, kl) && wr(f, &w->kv[i].type, 4) &&
             wr(f, w->kv[i].bytes, w->kv[i].n);
        pos += 8 + kl + 4 + w->kv[i].n;
    }
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        ok = wr(f, &nl, 8) && wr(f, t->name, nl) && wr(f, &nd, 4);
        for (int d = 0; d < t->n_dims && ok; d++) {
            uint64_t v = (uint64_t)t->ne[d];
            ok = wr(f, &v, 8);
        }
        ok = ok && wr(f, &ty, 4) && wr(f, &off, 8);
        pos += 8 + nl + 4 + 8 * nd + 4 + 8;
        off += (t->nbytes + align - 1) / align * align;
    }
    static const uint8_t zeros[256];
    uint64_t pad = (align - pos % align) % align;
    while (ok && pad) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        ok = wr(f, zeros, k);
        pad -= k;
    }
    desk_status fs = DESK_OK;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        const void *data = t->data;
        if (!data) {
            if ((fs = fill(ctx, (int64_t)i, t->name, scratch, t->nbytes, err)) != DESK_OK) break;
            data = scratch;
        }
        ok = wr(f, data, t->nbytes);
        uint64_t tp = (align - t->nbytes % align) % align;
        while (ok && tp) {
            size_t k = tp < sizeof zeros ? (size_t)tp : sizeof zeros;
            ok = wr(f, zeros, k);
            tp -= k;
        }
    }
    if (fclose(f) != 0) ok = false;
    free(scratch);
    if (fs) return fs;
    if (!ok) return desk_fail(err, DESK_EIO, "%s: write failed: %s", path, strerror(errno));
    return DESK_OK;
}
