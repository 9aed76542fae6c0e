/* Wisdom in memory and as text: the table of measured times, keyed by machine, team and shape, and the
 * line format it is kept in. The parser treats the text as hostile input: every line bounded, every number
 * range-checked, every entry's machine declared, and a damaged text refused whole. */
#include "wisdom.h"

#include "error.h"
#include "platform.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096 /* a product line of 64 candidates takes under 2,000 */
#define DIM_MAX (1 << 24)
#define TEAM_MAX 4096
#define NS_MAX (1ull << 50) /* 13 days: no product takes that long */

uint64_t bn_wisdom_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    h = h ? h : 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t desc_id(const char *desc)
{
    return bn_wisdom_hash(0, desc, strlen(desc));
}

/* Declares a machine (id from its description); its index, or -1 when the table is full. */
static int add_machine(bn_wisdom *w, const char *desc)
{
    uint64_t id = desc_id(desc);
    for (int i = 0; i < w->machines; i++)
        if (w->machine_id[i] == id)
            return i;
    if (w->machines == BN_WISDOM_MAX_MACHINES)
        return -1;
    w->machine_id[w->machines] = id;
    snprintf(w->machine_desc[w->machines], BN_WISDOM_DESC_BYTES, "%s", desc);
    return w->machines++;
}

int bn_wisdom_init(bn_wisdom *w)
{
    memset(w, 0, sizeof *w);
    char desc[BN_WISDOM_DESC_BYTES];
    bn_machine_describe(desc, sizeof desc);
    add_machine(w, desc);
    w->machine = w->machine_id[0];
    return BN_OK;
}

void bn_wisdom_free(bn_wisdom *w)
{
    free(w->entry);
    memset(w, 0, sizeof *w);
}

bn_wisdom_shape bn_wisdom_shape_of(const bn_gemm *g)
{
    return (bn_wisdom_shape){.ta = g->ta, .tb = g->tb, .beta = g->beta != 0.0f, .M = g->M, .N = g->N, .K = g->K};
}

static bool same_shape(const bn_wisdom_shape *x, const bn_wisdom_shape *y)
{
    return x->ta == y->ta && x->tb == y->tb && x->beta == y->beta && x->M == y->M && x->N == y->N && x->K == y->K;
}

static bool same_key(const bn_wisdom_entry *e, uint64_t machine, bn_wisdom_kind kind, int team,
                     const bn_wisdom_shape *a, const bn_wisdom_shape *b, uint64_t step_key)
{
    if (e->machine != machine || e->kind != kind || e->team != team)
        return false;
    if (kind == BN_WISDOM_STEP)
        return e->step_key == step_key;
    return same_shape(&e->a, a) && (kind != BN_WISDOM_PAIR || same_shape(&e->b, b));
}

static bn_wisdom_entry *find_in(bn_wisdom *w, uint64_t machine, bn_wisdom_kind kind, int team,
                                const bn_wisdom_shape *a, const bn_wisdom_shape *b, uint64_t step_key)
{
    for (int i = 0; i < w->n; i++)
        if (same_key(&w->entry[i], machine, kind, team, a, b, step_key))
            return &w->entry[i];
    return NULL;
}

bn_wisdom_entry *bn_wisdom_find(bn_wisdom *w, bn_wisdom_kind kind, int team, const bn_wisdom_shape *a,
                                const bn_wisdom_shape *b, uint64_t step_key)
{
    return find_in(w, w->machine, kind, team, a, b, step_key);
}

/* Stores e under its own machine, replacing the entry of the same key. */
static int put_entry(bn_wisdom *w, const bn_wisdom_entry *e)
{
    bn_wisdom_entry *old = find_in(w, e->machine, (bn_wisdom_kind)e->kind, e->team, &e->a, &e->b, e->step_key);
    if (old) {
        *old = *e;
        return BN_OK;
    }
    if (w->n == BN_WISDOM_MAX_ENTRIES)
        return bn_fail(BN_E_NOMEM, "the wisdom holds %d entries already: delete its file", BN_WISDOM_MAX_ENTRIES);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        bn_wisdom_entry *grown = realloc(w->entry, (size_t)cap * sizeof *grown);
        if (!grown)
            return bn_fail(BN_E_NOMEM, "no memory for %d wisdom entries", cap);
        w->entry = grown, w->cap = cap;
    }
    w->entry[w->n++] = *e;
    return BN_OK;
}

int bn_wisdom_put(bn_wisdom *w, const bn_wisdom_entry *e)
{
    const bn_wisdom_shape *sh[2] = {&e->a, &e->b};
    for (int i = 0; i < 2; i++) /* what the text could not carry back is not kept */
        if (sh[i]->M > DIM_MAX || sh[i]->N > DIM_MAX || sh[i]->K > DIM_MAX)
            return bn_fail(BN_E_INVALID, "a product of %dx%dx%d is beyond what wisdom keeps", sh[i]->M, sh[i]->N,
                           sh[i]->K);
    bool step_times_fit = e->kind != BN_WISDOM_STEP || e->n == 3 || e->n == BN_WISDOM_STEP_LISTS;
    if (e->team < 1 || e->team > TEAM_MAX || e->n < 0 || e->n > BN_WISDOM_MAX_TIMES || !step_times_fit)
        return bn_fail(BN_E_INVALID, "a wisdom entry of %d threads and %d times is beyond what wisdom keeps",
                       e->team, e->n);
    bn_wisdom_entry mine = *e;
    mine.machine = w->machine;
    return put_entry(w, &mine);
}

uint64_t bn_wisdom_digest(uint64_t h, const bn_wisdom *w)
{
    for (int i = 0; i < w->n; i++) {
        const bn_wisdom_entry *e = &w->entry[i];
        if (e->machine != w->machine)
            continue;
        const uint64_t head[17] = {e->kind,    (uint64_t)e->team, e->a.ta, e->a.tb, e->a.beta, (uint64_t)e->a.M,
                                   (uint64_t)e->a.N, (uint64_t)e->a.K, e->b.ta, e->b.tb, e->b.beta,
                                   (uint64_t)e->b.M, (uint64_t)e->b.N, (uint64_t)e->b.K, e->step_key,
                                   e->step_plans, (uint64_t)e->n};
        h = bn_wisdom_hash(h, head, sizeof head);
        for (int j = 0; j < e->n; j++) {
            const bn_wisdom_time *t = &e->t[j];
            const uint64_t v[6] = {t->split, t->pm, t->pn, t->pk, t->threads, t->ns};
            h = bn_wisdom_hash(h, v, sizeof v);
        }
    }
    return h;
}

/* ---- writing ----------------------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t size, len;
} out_text;

static void emit(out_text *o, const char *fmt, ...) BN_PRINTF(2, 3);
static void emit(out_text *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL, o->len < o->size ? o->size - o->len : 0, fmt, ap);
    va_end(ap);
    o->len += n > 0 ? (size_t)n : 0;
}

static void emit_shape(out_text *o, const bn_wisdom_shape *s)
{
    emit(o, " %d%d%d %d %d %d", s->ta, s->tb, s->beta, s->M, s->N, s->K);
}

static void emit_entry(out_text *o, const bn_wisdom_entry *e)
{
    static const char *const kinds[] = {"product", "pair", "step"};
    emit(o, "%s %016" PRIx64 " %d", kinds[e->kind], e->machine, e->team);
    if (e->kind == BN_WISDOM_STEP) {
        emit(o, " %016" PRIx64 " %016" PRIx64, e->step_key, e->step_plans);
        for (int i = 0; i < e->n; i++)
            emit(o, " %" PRIu64, e->t[i].ns);
        emit(o, "\n");
        return;
    }
    emit_shape(o, &e->a);
    if (e->kind == BN_WISDOM_PAIR)
        emit_shape(o, &e->b);
    emit(o, " %d", e->n);
    for (int i = 0; i < e->n; i++) {
        const bn_wisdom_time *t = &e->t[i];
        if (e->kind == BN_WISDOM_PAIR)
            emit(o, " %u=%" PRIu64, t->threads, t->ns);
        else
            emit(o, " %u.%u.%u.%u.%u=%" PRIu64, t->split, t->pm, t->pn, t->pk, t->threads, t->ns);
    }
    emit(o, "\n");
}

size_t bn_wisdom_format(const bn_wisdom *w, char *buf, size_t size)
{
    out_text o = {buf, size, 0};
    if (size)
        buf[0] = '\0';
    emit(&o, "# blasnet wisdom: product plans measured on the machines below (times in nanoseconds).\n"
             "# Written by blasnet; delete the file to measure again.\n"
             "blasnet-wisdom %d\n",
         BN_WISDOM_FORMAT);
    for (int i = 0; i < w->machines; i++)
        emit(&o, "machine %016" PRIx64 " %s\n", w->machine_id[i], w->machine_desc[i]);
    for (int i = 0; i < w->n; i++)
        emit_entry(&o, &w->entry[i]);
    return o.len;
}

/* ---- reading ----------------------------------------------------------------------------------------- */

/* One line being read: its words, consumed left to right. */
typedef struct {
    char *p;
    int line;
    const char *why; /* the first thing found wrong */
} cursor;

static char *word(cursor *c)
{
    while (*c->p == ' ')
        c->p++;
    if (!*c->p) {
        c->why = c->why ? c->why : "the line ends early";
        return NULL;
    }
    char *start = c->p;
    while (*c->p && *c->p != ' ')
        c->p++;
    if (*c->p)
        *c->p++ = '\0';
    return start;
}

/* An unsigned number in [lo, hi], written in `base` (lower-case hex) with nothing around it. */
static uint64_t number(cursor *c, const char *text, int base, uint64_t lo, uint64_t hi)
{
    if (!text)
        return lo;
    size_t len = strlen(text);
    bool digits = len > 0 && len <= (base == 16 ? 16u : 19u) &&
                  strspn(text, base == 16 ? "0123456789abcdef" : "0123456789") == len;
    unsigned long long v = digits ? strtoull(text, NULL, base) : 0;
    if (!digits || v < lo || v > hi) {
        c->why = c->why ? c->why : "a number is malformed or out of range";
        return lo;
    }
    return v;
}

static uint64_t next_number(cursor *c, int base, uint64_t lo, uint64_t hi)
{
    return number(c, word(c), base, lo, hi);
}

static bn_wisdom_shape read_shape(cursor *c)
{
    bn_wisdom_shape s = {0};
    const char *flags = word(c);
    if (flags && (strlen(flags) != 3 || strspn(flags, "01") != 3))
        c->why = c->why ? c->why : "a shape's layout is not three 0/1 digits";
    if (flags && !c->why)
        s.ta = flags[0] == '1', s.tb = flags[1] == '1', s.beta = flags[2] == '1';
    s.M = (int)next_number(c, 10, 1, DIM_MAX);
    s.N = (int)next_number(c, 10, 1, DIM_MAX);
    s.K = (int)next_number(c, 10, 1, DIM_MAX);
    return s;
}

/* "split.pm.pn.pk.threads=ns" (product) or "t1=ns" (pair). */
static bn_wisdom_time read_time(cursor *c, bn_wisdom_kind kind, int team)
{
    bn_wisdom_time t = {0};
    char *text = word(c), *eq = text ? strchr(text, '=') : NULL;
    if (text && !eq)
        c->why = c->why ? c->why : "a time lacks its '='";
    if (!eq)
        return t;
    *eq = '\0';
    t.ns = number(c, eq + 1, 10, 1, NS_MAX);
    if (kind == BN_WISDOM_PAIR) {
        t.threads = (uint16_t)number(c, text, 10, 1, team > 1 ? (uint64_t)team - 1 : 1);
        return t;
    }
    unsigned v[5];
    char tail;
    bool short_parts = true; /* at most 4 digits a part: %u would wrap longer ones silently */
    for (const char *q = text; *q; q += strcspn(q, ".") + (q[strcspn(q, ".")] == '.'))
        short_parts = short_parts && strcspn(q, ".") <= 4;
    if (!short_parts ||
        sscanf(text, "%u.%u.%u.%u.%u%c", &v[0], &v[1], &v[2], &v[3], &v[4], &tail) != 5 || v[0] >= BN_SPLIT_KINDS ||
        !v[1] || !v[2] || !v[3] || !v[4] || v[1] > TEAM_MAX || v[2] > TEAM_MAX || v[3] > TEAM_MAX ||
        v[4] > (unsigned)team || strspn(text, "0123456789.") != strlen(text))
        c->why = c->why ? c->why : "a partition is malformed";
    t.split = (uint8_t)v[0], t.pm = (uint16_t)v[1], t.pn = (uint16_t)v[2], t.pk = (uint16_t)v[3];
    t.threads = (uint16_t)v[4];
    return t;
}

static int machine_index(const bn_wisdom *w, uint64_t id)
{
    for (int i = 0; i < w->machines; i++)
        if (w->machine_id[i] == id)
            return i;
    return -1;
}

/* An entry line after its kind word. */
static void read_entry(cursor *c, const bn_wisdom *w, bn_wisdom_kind kind, bn_wisdom_entry *e)
{
    memset(e, 0, sizeof *e);
    e->kind = (uint8_t)kind;
    e->machine = next_number(c, 16, 0, UINT64_MAX);
    if (!c->why && machine_index(w, e->machine) < 0)
        c->why = "its machine is not declared above it";
    e->team = (int)next_number(c, 10, 1, TEAM_MAX);
    if (kind == BN_WISDOM_STEP) {
        e->step_key = next_number(c, 16, 0, UINT64_MAX);
        e->step_plans = next_number(c, 16, 0, UINT64_MAX);
        /* three lists' times (blasnet 0.3.0), or four (0.4.0 added the owned layout): an entry of three is
         * read, and measured again since its lists differ */
        e->n = 3;
        for (int i = 0; i < BN_WISDOM_STEP_LISTS; i++) {
            while (i == 3 && *c->p == ' ')
                c->p++;
            if (i == 3 && !*c->p)
                break;
            e->t[i] = (bn_wisdom_time){.threads = (uint16_t)i, .ns = next_number(c, 10, 1, NS_MAX)};
            e->n = i + 1;
        }
        return;
    }
    e->a = read_shape(c);
    if (kind == BN_WISDOM_PAIR)
        e->b = read_shape(c);
    e->n = (int)next_number(c, 10, 1, BN_WISDOM_MAX_TIMES);
    for (int i = 0; i < e->n && !c->why; i++)
        e->t[i] = read_time(c, kind, e->team);
}

/* One line into `into`: a comment, the format line, a machine or an entry. */
static void read_line(cursor *c, bn_wisdom *into, bool *seen_format)
{
    if (*c->p == '#' || !*c->p)
        return;
    const char *kind = word(c);
    if (!*seen_format) {
        if (!kind || strcmp(kind, "blasnet-wisdom") != 0)
            c->why = "it does not start with 'blasnet-wisdom'";
        else if (next_number(c, 10, 0, 1u << 30) != BN_WISDOM_FORMAT && !c->why)
            c->why = "it is of another format version (this blasnet reads version 1)";
        *seen_format = true;
    } else if (kind && strcmp(kind, "machine") == 0) {
        uint64_t id = next_number(c, 16, 0, UINT64_MAX);
        while (*c->p == ' ')
            c->p++;
        if (!c->why && strlen(c->p) >= BN_WISDOM_DESC_BYTES)
            c->why = "a machine's name is too long";
        else if (!c->why && (!*c->p || id != desc_id(c->p)))
            c->why = "a machine's name does not match its id";
        else if (!c->why && add_machine(into, c->p) < 0)
            c->why = "it names too many machines";
        c->p += strlen(c->p);
    } else {
        static const char *const kinds[] = {"product", "pair", "step"};
        int k = 0;
        while (k < 3 && kind && strcmp(kind, kinds[k]) != 0)
            k++;
        bn_wisdom_entry e;
        if (k == 3)
            c->why = c->why ? c->why : "a line of unknown kind";
        else
            read_entry(c, into, (bn_wisdom_kind)k, &e);
        if (k < 3 && !c->why && put_entry(into, &e))
            c->why = "it holds too many entries";
    }
    while (*c->p == ' ')
        c->p++;
    if (*c->p && !c->why)
        c->why = "a line goes on after its last field";
}

/* Every line of text into `into`; the line number and reason of the first fault, or 0. */
static int read_all(const char *text, size_t len, bn_wisdom *into, const char **why)
{
    char line[LINE_MAX_BYTES + 1];
    bool seen_format = false;
    size_t at = 0;
    for (int number_ = 1; at < len; number_++) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        if (n > LINE_MAX_BYTES || memchr(text + at, '\0', n)) {
            *why = n > LINE_MAX_BYTES ? "a line is too long" : "it holds a NUL byte";
            return number_;
        }
        memcpy(line, text + at, n);
        line[n] = '\0';
        cursor c = {line, number_, NULL};
        read_line(&c, into, &seen_format);
        if (c.why) {
            *why = c.why;
            return number_;
        }
        at += n + (nl != NULL);
    }
    *why = "it is empty";
    return seen_format ? 0 : 1;
}

/* A file blasnet wrote names at most BN_WISDOM_MAX_MACHINES machines, its writer's first (bn_wisdom_format
 * writes them in index order, and a wisdom's own machine is its index 0), so its last machines are those
 * that wrote longest ago. Where this machine makes one too many (a new CPU, or a new blasnet: platform.c
 * keys machines by the version), those last machines and their entries are retired, not the file refused. */
static void retire_oldest_machines(const bn_wisdom *w, bn_wisdom *read)
{
    int room = BN_WISDOM_MAX_MACHINES - w->machines, fresh = 0, kept = 0;
    for (int i = 0; i < read->machines; i++) {
        if (machine_index(w, read->machine_id[i]) < 0 && fresh++ >= room)
            continue;
        read->machine_id[kept] = read->machine_id[i];
        memmove(read->machine_desc[kept], read->machine_desc[i], BN_WISDOM_DESC_BYTES);
        kept++;
    }
    read->machines = kept;
    int n = 0;
    for (int i = 0; i < read->n; i++)
        if (machine_index(read, read->entry[i].machine) >= 0)
            read->entry[n++] = read->entry[i];
    read->n = n;
}

int bn_wisdom_parse(bn_wisdom *w, const char *text, size_t len)
{
    if (len > BN_WISDOM_MAX_BYTES)
        return bn_fail(BN_E_FORMAT, "%zu bytes, over the %u a wisdom may take", len, BN_WISDOM_MAX_BYTES);
    bn_wisdom read = {0};
    read.machine = w->machine;
    const char *why = NULL;
    int line = read_all(text, len, &read, &why), status = BN_OK;
    if (line) {
        status = bn_fail(BN_E_FORMAT, "line %d: %s", line, why);
    } else {
        retire_oldest_machines(w, &read);
        if (w->n + read.n > BN_WISDOM_MAX_ENTRIES)
            status = bn_fail(BN_E_FORMAT, "it holds more than %d entries", BN_WISDOM_MAX_ENTRIES);
    }
    for (int i = 0; i < read.machines && !status; i++)
        add_machine(w, read.machine_desc[i]);
    for (int i = 0; i < read.n && !status; i++)
        status = put_entry(w, &read.entry[i]);
    free(read.entry);
    return status;
}
