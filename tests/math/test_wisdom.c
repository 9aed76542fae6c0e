/* Wisdom (src/gemm/wisdom.c, plan_tune.c): the planner picks from kept times, never measuring what it has.
 * Times are injected here, so every case runs the same on any CPU: the Zen 1's serial cliff (issue 24: a
 * serial sgemm at 11-12 GFLOP/s for N <= 320, 34-36 above, where OpenBLAS's own two threads reach 67) makes
 * the planner choose OpenBLAS's threading for the cliff's shapes and its own split elsewhere; a step
 * measured slower than the library's is not kept; the text reads back to the same plans, and a damaged one
 * is refused whole. */
#include "blasnet.h"
#include "gemm_plan.h"
#include "harness.h"
#include "plan_run.h"
#include "wisdom.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEAM 2

/* A step's list of products for `sizes` at batch B, in the order the step runs them (as net_plan.c makes it):
 * the forward products, then from the top each layer's dW beside its dA (none for the first layer). */
static int step_items(const int *sizes, int depth, int B, bn_plan_item *items)
{
    int n = 0;
    for (int l = 0; l < depth; l++)
        items[n++] = (bn_plan_item){.first = {.M = B, .N = sizes[l + 1], .K = sizes[l], .alpha = 1.0f}};
    for (int l = depth - 1; l >= 0; l--) {
        items[n] = (bn_plan_item){.first = {.ta = true, .M = sizes[l], .N = sizes[l + 1], .K = B, .alpha = 1.0f}};
        if (l > 0) {
            items[n].second = (bn_gemm){.tb = true, .M = B, .N = sizes[l], .K = sizes[l + 1], .alpha = 1.0f};
            items[n].second_given = true;
        }
        n++;
    }
    return n;
}

/* The cliff machine's time for a plan of g, in ns: each thread's serial tiles at 11.5 GFLOP/s where the
 * tile's N is 320 or less and 35 above, OpenBLAS's own two threads at 67 on the whole product. */
static uint64_t cliff_ns(const bn_gemm *g, const bn_gemm_plan *p)
{
    double flops = 2.0 * g->M * g->N * g->K;
    if (p->split == BN_SPLIT_LIBRARY)
        return (uint64_t)(flops / 67.0) + 1000;
    double busiest = 0.0;
    int tiles = bn_plan_tile_count(p), workers = p->threads;
    for (int w = 0; w < workers; w++) {
        double ns = 0.0;
        for (int i = w; i < tiles; i += workers) {
            tile_bounds t = bn_plan_tile_of(g, p, i);
            double tf = 2.0 * (t.m1 - t.m0) * (double)(t.n1 - t.n0) * (t.k1 - t.k0);
            ns += tf / (t.n1 - t.n0 <= 320 ? 11.5 : 35.0);
        }
        busiest = ns > busiest ? ns : busiest;
    }
    return (uint64_t)busiest + 1500;
}

/* Every product of items, with every candidate's cliff time, into w. */
static void inject_cliff(bn_wisdom *w, const bn_plan_item *items, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 1 + items[i].second_given; j++) {
            const bn_gemm *g = j ? &items[i].second : &items[i].first;
            bn_gemm_plan c[BN_PLAN_MAX_CANDIDATES];
            int count = bn_plan_candidates(g, TEAM, true, false, c);
            bn_wisdom_entry e = {.kind = BN_WISDOM_PRODUCT, .team = TEAM, .a = bn_wisdom_shape_of(g), .n = count};
            for (int k = 0; k < count; k++)
                e.t[k] = (bn_wisdom_time){.split = c[k].split, .pm = c[k].parts_m, .pn = c[k].parts_n,
                                          .pk = c[k].parts_k, .threads = (uint16_t)c[k].threads,
                                          .ns = cliff_ns(g, &c[k])};
            CHECK(bn_wisdom_put(w, &e) == BN_OK);
        }
}

static void the_cliff_picks_library(void)
{
    /* The seeds' network at batch 512: every product has N <= 320 or a serial tile's N at most 300. */
    const int seeds[] = {784, 300, 10}, wide[] = {784, 1024, 10};
    bn_plan_item items[2 * BN_MAX_LAYERS];
    bn_pair_plan out[2 * BN_MAX_LAYERS];
    bn_wisdom w;
    CHECK(bn_wisdom_init(&w) == BN_OK);
    int n = step_items(seeds, 2, 512, items);
    inject_cliff(&w, items, n);
    bn_plan_list_tuned(items, n, TEAM, &w, false, NULL, 0, NULL, out);
    CHECKF(out[0].first.split == BN_SPLIT_LIBRARY, "fwd 512x300x784 on the cliff: %s, not library",
           bn_split_name(out[0].first.split));
    CHECKF(out[3].first.split == BN_SPLIT_LIBRARY, "dW 784x300x512 on the cliff: %s, not library",
           bn_split_name(out[3].first.split));
    CHECKF(w.measured == 0, "the planner measured %d entries it was told not to", w.measured);
    /* The wide layer: a serial tile of N = 1024 or 512 runs at 35, so two of them beat the library's 67. */
    n = step_items(wide, 2, 512, items);
    inject_cliff(&w, items, n);
    bn_plan_list_tuned(items, n, TEAM, &w, false, NULL, 0, NULL, out);
    CHECKF(out[0].first.split != BN_SPLIT_LIBRARY && out[0].first.threads == TEAM,
           "fwd 512x1024x784 off the cliff: %s on %d threads", bn_split_name(out[0].first.split),
           out[0].first.threads);
    bn_wisdom_free(&w);
}

/* A step entry: the step runs the fastest of its four lists (the products' own measured plans, all library,
 * the cost model's, the owned layout's); an entry measured for other plans (its digest) is not believed,
 * nor one of blasnet 0.3.0's three lists. */
static void the_fastest_step_list_wins(void)
{
    const int wide[] = {784, 1024, 10};
    bn_plan_item items[2 * BN_MAX_LAYERS];
    bn_pair_plan out[2 * BN_MAX_LAYERS], again[2 * BN_MAX_LAYERS], model[2 * BN_MAX_LAYERS];
    bn_pair_plan owned[2 * BN_MAX_LAYERS];
    bn_wisdom w;
    CHECK(bn_wisdom_init(&w) == BN_OK);
    int n = step_items(wide, 2, 512, items);
    inject_cliff(&w, items, n);
    bn_plan_list_tuned(items, n, TEAM, &w, false, NULL, 0, NULL, out);
    bn_plan_list(items, n, TEAM, BN_PLAN_ESTIMATE, NULL, 0, model);
    bn_plan_list(items, n, TEAM, BN_PLAN_OWNED, NULL, 0, owned);
    const uint64_t times[7][4] = {{9000000, 5000000, 7000000, 8000000}, {1000, 5000000, 7000000, 8000000},
                                  {9000000, 5000000, 2000000, 8000000}, {9000000, 5000000, 7000000, 3000},
                                  {9000000, 5000000, 7000000, 0},       {6930000, 9000000, 7000000, 6950000},
                                  {9000000, 6930000, 7000000, 8000000}};
    const char *text[7] = {"library fastest", "own plans fastest", "model fastest", "owned fastest",
                           "an entry of three lists", "own plans 1% faster: inside the margin, the model stays",
                           "library 1% faster: no margin, never slower than the library"};
    for (int verdict = 0; verdict < 7; verdict++) {
        bn_wisdom probe;
        CHECK(bn_wisdom_init(&probe) == BN_OK);
        for (int i = 0; i < w.n; i++)
            CHECK(bn_wisdom_put(&probe, &w.entry[i]) == BN_OK);
        bn_wisdom_entry step = {.kind = BN_WISDOM_STEP, .team = TEAM, .n = verdict == 4 ? 3 : 4};
        bn_pair_plan library[2 * BN_MAX_LAYERS];
        for (int i = 0; i < n; i++) { /* the library's list, as the planner makes it */
            library[i] = (bn_pair_plan){0};
            library[i].first = bn_plan_make(BN_SPLIT_LIBRARY, 1, 1, 1, TEAM);
            if (items[i].second_given)
                library[i].second = library[i].first;
        }
        step.step_plans =
            bn_plan_digest(bn_plan_digest(bn_plan_digest(bn_plan_digest(0, out, n), library, n), model, n), owned, n);
        step.step_key = bn_plan_step_key(items, n, TEAM);
        for (int i = 0; i < step.n; i++)
            step.t[i] = (bn_wisdom_time){.threads = (uint16_t)i, .ns = times[verdict][i]};
        CHECK(bn_wisdom_put(&probe, &step) == BN_OK);
        bn_plan_list_tuned(items, n, TEAM, &probe, false, NULL, 0, NULL, again);
        bool all_library = true;
        for (int i = 0; i < n; i++)
            all_library = all_library && again[i].first.split == BN_SPLIT_LIBRARY;
        uint64_t got = bn_plan_digest(0, again, n);
        CHECKF(all_library == (verdict == 0 || verdict == 6), "%s: all library %d", text[verdict], all_library);
        CHECKF((verdict != 1 && verdict != 4) || got == bn_plan_digest(0, out, n), "%s: not the products' own plans",
               text[verdict]);
        CHECKF((verdict != 2 && verdict != 5) || got == bn_plan_digest(0, model, n), "%s: not the model's plans",
               text[verdict]);
        CHECKF(verdict != 3 || got == bn_plan_digest(0, owned, n), "%s: not the owned layout", text[verdict]);
        /* The same entry for other plans is stale: the products' own plans stay. */
        bn_wisdom_entry *e = bn_wisdom_find(&probe, BN_WISDOM_STEP, TEAM, NULL, NULL, step.step_key);
        CHECK(e != NULL);
        if (e)
            e->step_plans ^= 1;
        bn_plan_list_tuned(items, n, TEAM, &probe, false, NULL, 0, NULL, again);
        CHECKF(bn_plan_digest(0, again, n) == bn_plan_digest(0, out, n), "%s: a stale step entry was believed",
               text[verdict]);
        bn_wisdom_free(&probe);
    }
    /* a step entry of another count of lists could not be read back: it is not kept */
    bn_wisdom_entry odd = {.kind = BN_WISDOM_STEP, .team = TEAM, .n = 5};
    CHECK(bn_wisdom_put(&w, &odd) == BN_E_INVALID);
    bn_wisdom_free(&w);
}

/* What a measuring planner keeps: an entry per product, per pair, and one for the step; planning again from
 * it measures nothing and gives the same plans. */
static void measured_once_then_kept(void)
{
    const int small[] = {64, 48, 10};
    float *buf = calloc(1 << 16, sizeof *buf);
    bn_plan_item items[2 * BN_MAX_LAYERS];
    bn_pair_plan first[2 * BN_MAX_LAYERS], second[2 * BN_MAX_LAYERS];
    int n = step_items(small, 2, 32, items);
    for (int i = 0; i < n; i++) { /* buffers for the products to run on: every operand fits in buf */
        bn_gemm *g[2] = {&items[i].first, &items[i].second};
        for (int j = 0; j < 2; j++) {
            g[j]->A = buf, g[j]->B = buf + (1 << 14), g[j]->C = buf + (1 << 15);
            g[j]->lda = g[j]->ta ? g[j]->M : g[j]->K;
            g[j]->ldb = g[j]->tb ? g[j]->K : g[j]->N;
            g[j]->ldc = g[j]->N;
        }
    }
    bn_wisdom w;
    CHECK(bn_wisdom_init(&w) == BN_OK);
    bn_plan_list_tuned(items, n, TEAM, &w, true, NULL, 0, NULL, first);
    /* five products, the pair (where the engine runs a call inside a region serially) and the step */
    CHECKF(w.measured == w.n && w.n >= 6, "measured %d entries, holds %d: want 5 products, a pair, a step",
           w.measured, w.n);
    CHECK(bn_wisdom_find(&w, BN_WISDOM_STEP, TEAM, NULL, NULL, bn_plan_step_key(items, n, TEAM)) != NULL);
    int entries = w.n;
    w.measured = 0;
    bn_plan_list_tuned(items, n, TEAM, &w, true, NULL, 0, NULL, second);
    CHECKF(w.measured == 0 && w.n == entries, "planning again measured %d entries", w.measured);
    CHECK(bn_plan_digest(0, first, n) == bn_plan_digest(0, second, n));
    bn_wisdom_free(&w);
    free(buf);
}

/* ---- the text ---------------------------------------------------------------------------------------- */

static char *format_all(const bn_wisdom *w)
{
    size_t need = bn_wisdom_format(w, NULL, 0);
    char *text = malloc(need + 1);
    bn_wisdom_format(w, text, need + 1);
    return text;
}

/* A wisdom with an entry of each kind and times that need all their digits. */
static void sample_wisdom(bn_wisdom *w)
{
    const int sizes[] = {784, 300, 10};
    bn_plan_item items[2 * BN_MAX_LAYERS];
    CHECK(bn_wisdom_init(w) == BN_OK);
    int n = step_items(sizes, 2, 512, items);
    inject_cliff(w, items, n);
    bn_wisdom_entry pair = {.kind = BN_WISDOM_PAIR, .team = TEAM, .a = bn_wisdom_shape_of(&items[2].first),
                            .b = bn_wisdom_shape_of(&items[2].second), .n = 1};
    pair.t[0] = (bn_wisdom_time){.threads = 1, .ns = 123456789012ull};
    bn_wisdom_entry step = {.kind = BN_WISDOM_STEP, .team = TEAM, .step_key = 0xfedcba9876543210ull,
                            .step_plans = 0x0123456789abcdefull, .n = 3};
    step.t[0] = (bn_wisdom_time){.threads = 0, .ns = 1};
    step.t[1] = (bn_wisdom_time){.threads = 1, .ns = (1ull << 50)};
    step.t[2] = (bn_wisdom_time){.threads = 2, .ns = 77};
    CHECK(bn_wisdom_put(w, &pair) == BN_OK && bn_wisdom_put(w, &step) == BN_OK);
}

static void text_reads_back_exactly(void)
{
    bn_wisdom w, back;
    sample_wisdom(&w);
    char *text = format_all(&w);
    CHECK(bn_wisdom_init(&back) == BN_OK);
    CHECKF(bn_wisdom_parse(&back, text, strlen(text)) == BN_OK, "%s", bn_errmsg());
    char *again = format_all(&back);
    CHECKF(strcmp(text, again) == 0, "the text read back writes differently:\n%s\n---\n%s", text, again);
    CHECK(back.n == w.n && bn_wisdom_digest(0, &back) == bn_wisdom_digest(0, &w));
    /* Reading it twice replaces, never doubles. */
    CHECK(bn_wisdom_parse(&back, text, strlen(text)) == BN_OK && back.n == w.n);
    /* Through a network, as the CLI keeps it. */
    bn_arch arch = {0};
    bn_net *net = NULL;
    CHECK(bn_arch_parse_sizes(&arch, "784,300,10") == BN_OK);
    CHECK(bn_net_create(&net, &arch, 16, bn_backend_find("blas")) == BN_OK);
    CHECK(bn_net_wisdom_import(net, text, strlen(text), BN_WISDOM_NO_MEASURE) == BN_OK);
    size_t need = bn_net_wisdom_export(net, NULL, 0);
    char *exported = malloc(need + 1);
    bn_net_wisdom_export(net, exported, need + 1);
    CHECK(need == strlen(text) && strcmp(exported, text) == 0);
    free(exported);
    bn_net_destroy(&net);
    free(text), free(again);
    bn_wisdom_free(&w), bn_wisdom_free(&back);
}

/* Replaces the first `what` in text by `with` into out. */
static void patch(const char *text, const char *what, const char *with, char *out, size_t size)
{
    const char *at = strstr(text, what);
    if (!at) {
        snprintf(out, size, "%s", text);
        return;
    }
    snprintf(out, size, "%.*s%s%s", (int)(at - text), text, with, at + strlen(what));
}

static void damaged_text_is_refused_whole(void)
{
    bn_wisdom w, target;
    sample_wisdom(&w);
    char *text = format_all(&w), bad[1 << 16];
    CHECK(bn_wisdom_init(&target) == BN_OK);
    CHECK(bn_wisdom_parse(&target, text, strlen(text)) == BN_OK);
    const uint64_t before = bn_wisdom_digest(0, &target);
    const int entries = target.n;
    const struct {
        const char *what, *with, *needle;
    } cases[] = {
        {"blasnet-wisdom 1", "blasnet-wisdom 2", "format version"},
        {"blasnet-wisdom 1", "fftw-wisdom 1", "blasnet-wisdom"},
        {"machine ", "machine 0", "malformed"},
        {"; kernel", ";  kernel", "does not match"},
        {"\nproduct ", "\nproduct 0000000000000001 2 000 1 1 1 1 0.1.1.1.1=5\nproduct ", "not declared"},
        {"\nproduct ", "\nproduct 1", "malformed"},
        {"\nproduct ", "\nproducer ", "unknown kind"},
        {" 000 512 300 784", " 020 512 300 784", "three 0/1"},
        {" 000 512 300 784", " 000 512 300 0", "out of range"},
        {" 000 512 300 784", " 000 512 300 -784", "malformed"},
        {".1=", ".1=+", "malformed"},
        {".1=", ".1=99999999999999999999", "malformed"},
        {"0.1.1.1.1=", "9.1.1.1.1=", "partition"},
        {"0.1.1.1.1=", "0.1.1.1=", "partition"},
        {"0.1.1.1.1=", "0.1.1.1.1", "'='"},
        {"\nstep", " 7\nstep", "goes on"},
        {"\nstep", "\n\tstep", "unknown kind"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        patch(text, cases[i].what, cases[i].with, bad, sizeof bad);
        CHECKF(strcmp(bad, text) != 0, "case %zu: the patch did not apply", i);
        int status = bn_wisdom_parse(&target, bad, strlen(bad));
        CHECKF(status == BN_E_FORMAT && strstr(bn_errmsg(), cases[i].needle) && strstr(bn_errmsg(), "line "),
               "'%s' -> '%s': status %d, %s", cases[i].what, cases[i].with, status, bn_errmsg());
        CHECKF(target.n == entries && bn_wisdom_digest(0, &target) == before, "'%s' changed the wisdom",
               cases[i].with);
    }
    /* A NUL byte, a line too long, the whole over its cap: refused before anything else is read. */
    size_t len = strlen(text);
    memcpy(bad, text, len);
    bad[len / 2] = '\0';
    CHECK(bn_wisdom_parse(&target, bad, len) == BN_E_FORMAT && strstr(bn_errmsg(), "NUL"));
    memset(bad, '#', 5000);
    CHECK(bn_wisdom_parse(&target, bad, 5000) == BN_E_FORMAT && strstr(bn_errmsg(), "too long"));
    CHECK(bn_wisdom_parse(&target, text, (size_t)BN_WISDOM_MAX_BYTES + 1) == BN_E_FORMAT);
    /* Cut anywhere: read, or refused, never anything else; a cut inside a line never half-read. */
    for (size_t cut = 0; cut < len; cut++) {
        bn_wisdom part;
        CHECK(bn_wisdom_init(&part) == BN_OK);
        int status = bn_wisdom_parse(&part, text, cut);
        bool at_line_end = cut > 0 && text[cut - 1] == '\n';
        if (status != BN_OK && status != BN_E_FORMAT)
            CHECKF(false, "cut at %zu: status %d", cut, status);
        if (status == BN_OK && !at_line_end && cut > 0) /* a cut number can still parse: fewer digits */
            CHECKF(part.n <= w.n, "cut at %zu: %d entries", cut, part.n);
        bn_wisdom_free(&part);
    }
    free(text);
    bn_wisdom_free(&w), bn_wisdom_free(&target);
}

/* text with every line naming this machine renamed to "another CPU" (its declaration and its entries). */
static char *as_other_machine(const char *text, uint64_t mine, char *other_id, size_t id_size)
{
    char mine_id[17];
    snprintf(mine_id, sizeof mine_id, "%016llx", (unsigned long long)mine);
    snprintf(other_id, id_size, "%016llx", (unsigned long long)bn_wisdom_hash(0, "another CPU", 11));
    char *out = calloc(strlen(text) + 64, 1);
    size_t len = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "machine ", 8) == 0) {
            len += (size_t)sprintf(out + len, "machine %s another CPU\n", other_id);
        } else {
            memcpy(out + len, line, n);
            char *id = strstr(out + len, mine_id);
            if (id && id < out + len + n)
                memcpy(id, other_id, 16);
            len += n;
        }
        line += n;
    }
    return out;
}

/* Other machines' entries are kept and written back, but never planned from. */
static void other_machines_are_kept_not_used(void)
{
    bn_wisdom w, mine;
    sample_wisdom(&w);
    char *text = format_all(&w), other_id[32];
    char *other = as_other_machine(text, w.machine, other_id, sizeof other_id);
    CHECK(bn_wisdom_init(&mine) == BN_OK);
    /* another blasnet is another machine: its own kernels are in every step list's time */
    CHECKF(strstr(mine.machine_desc[0], "blasnet " BLASNET_VERSION ";") != NULL,
           "this machine's line lacks the version: %s", mine.machine_desc[0]);
    CHECKF(bn_wisdom_parse(&mine, other, strlen(other)) == BN_OK, "%s", bn_errmsg());
    CHECK(mine.n == w.n && mine.machines == 2);
    CHECKF(bn_wisdom_digest(0, &mine) == 0, "another machine's entries count as this one's");
    const int sizes[] = {784, 300, 10};
    bn_plan_item items[2 * BN_MAX_LAYERS];
    bn_pair_plan out[2 * BN_MAX_LAYERS];
    int n = step_items(sizes, 2, 512, items);
    bn_plan_list_tuned(items, n, TEAM, &mine, false, NULL, 0, NULL, out);
    /* five products (two forward, dW and dA of layer 2, dW of layer 1) and the pair, all from the model */
    CHECKF(mine.missing == 6, "%d products and pairs planned without wisdom, want 6", mine.missing);
    char *written = format_all(&mine);
    CHECK(strstr(written, "another CPU") != NULL && strstr(written, other_id) != NULL);
    free(written), free(other), free(text);
    bn_wisdom_free(&w), bn_wisdom_free(&mine);
}

/* A text of BN_WISDOM_MAX_MACHINES other machines, each with sample's entries, in the order a writer leaves
 * them; then read by this machine, a 17th: the text's last machine retires with its entries, the rest stay. */
static void a_new_machine_retires_the_oldest(void)
{
    bn_wisdom w, mine;
    sample_wisdom(&w);
    char *text = format_all(&w), mine_id[17], ids[BN_WISDOM_MAX_MACHINES][17];
    snprintf(mine_id, sizeof mine_id, "%016llx", (unsigned long long)w.machine);
    size_t cap = (strlen(text) + 128) * BN_WISDOM_MAX_MACHINES, len = 0, per_machine = 0;
    char *all = malloc(cap), desc[32];
    len += (size_t)snprintf(all, cap, "blasnet-wisdom 1\n");
    for (int m = 0; m < BN_WISDOM_MAX_MACHINES; m++) {
        snprintf(desc, sizeof desc, "CPU number %d", m);
        snprintf(ids[m], sizeof ids[m], "%016llx", (unsigned long long)bn_wisdom_hash(0, desc, strlen(desc)));
        len += (size_t)snprintf(all + len, cap - len, "machine %s %s\n", ids[m], desc);
    }
    for (int m = 0; m < BN_WISDOM_MAX_MACHINES; m++)
        for (const char *line = text; *line;) { /* sample's entry lines, under machine m's id */
            size_t n = strcspn(line, "\n");
            if (strncmp(line, "product ", 8) == 0 || strncmp(line, "pair ", 5) == 0 || strncmp(line, "step ", 5) == 0) {
                memcpy(all + len, line, n);
                char *id = strstr(all + len, mine_id);
                CHECK(id != NULL && id < all + len + n);
                if (id)
                    memcpy(id, ids[m], 16);
                len += n;
                all[len++] = '\n';
                per_machine += m == 0;
            }
            line += n + (line[n] == '\n');
        }
    all[len] = '\0';
    CHECK(bn_wisdom_init(&mine) == BN_OK);
    CHECKF(bn_wisdom_parse(&mine, all, len) == BN_OK, "%s", bn_errmsg());
    CHECKF(mine.machines == BN_WISDOM_MAX_MACHINES, "%d machines kept", mine.machines);
    CHECKF(mine.n == (int)(per_machine * (BN_WISDOM_MAX_MACHINES - 1)), "%d entries kept of %zu a machine", mine.n,
           per_machine);
    char *written = format_all(&mine);
    CHECK(strstr(written, ids[0]) != NULL && strstr(written, ids[BN_WISDOM_MAX_MACHINES - 2]) != NULL);
    CHECKF(strstr(written, ids[BN_WISDOM_MAX_MACHINES - 1]) == NULL, "the oldest machine was kept");
    free(written), free(all), free(text);
    bn_wisdom_free(&w), bn_wisdom_free(&mine);
}

int main(void)
{
    bn_test_case("the cliff's shapes are planned as library, the others split", the_cliff_picks_library);
    bn_test_case("a step runs the fastest of its own, the library's and the model's plans",
                 the_fastest_step_list_wins);
    bn_test_case("measured once, then planned from what was kept", measured_once_then_kept);
    bn_test_case("the text reads back to the same wisdom, byte for byte", text_reads_back_exactly);
    bn_test_case("a damaged text is refused whole, naming its line", damaged_text_is_refused_whole);
    bn_test_case("other machines' entries are kept, never used", other_machines_are_kept_not_used);
    bn_test_case("a 17th machine retires the one that wrote longest ago", a_new_machine_retires_the_oldest);
    return bn_test_exit("wisdom");
}
