/* Finding a data set's files: in a folder, the four IDX files under the names people keep them (plain or .gz,
 * a hyphen or a dot before idx, any prefix) or a train/test pair of CSV files, grouped into sets by prefix;
 * or a CSV file and its test twin. Only names are read here; the readers judge the contents. */
#include "blasnet.h"
#include "error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, TRAIN_CSV, TEST_CSV, N_ROLES };
#define NAME_MAX_LEN 256

/* The IDX roles' names, for a message that says which file is missing. */
static const char *const role_names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

/* A file whose name could serve a role in a set. */
typedef struct {
    char *file, *name, *prefix; /* one allocation: the three strings one after the other */
    int role;
    bool csv, gz;
} found_file;

/* The files of one set found in a folder, by role (NULL where none). */
typedef struct {
    const char *name;   /* the prefix without its trailing separator */
    const char *prefix; /* as written, separator included */
    bool csv;
    const char *file[N_ROLES];
} found_set;

/* Every file that names a role, and the sets they make: as many as the folder holds, each sorted by name. */
typedef struct {
    found_file *files;
    size_t n_files;
    found_set *sets;
    int n;
} found_sets;

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len >= k && memcmp(s + len - k, suffix, k) == 0;
}

static bool is_separator(char c)
{
    return c == '-' || c == '_' || c == '.';
}

/* "emnist-letters-" -> "emnist-letters": a set's name is its prefix without the separator. */
static void set_name(char *out, const char *prefix, size_t len)
{
    while (len > 0 && is_separator(prefix[len - 1]))
        len--;
    snprintf(out, NAME_MAX_LEN, "%.*s", (int)len, prefix);
}

/* An IDX name without .gz: PREFIX{train,t10k,test}-{images,labels}{-,.}idx{3,1}-ubyte. The role, or -1. */
static int idx_role(const char *name, size_t len, size_t *prefix_len)
{
    static const char *const kinds[2] = {"images", "labels"}, *const splits[3] = {"train", "t10k", "test"};
    for (int k = 0; k < 2; k++) {
        const char *tail = k == 0 ? "idx3-ubyte" : "idx1-ubyte";
        size_t tl = strlen(tail), kl = strlen(kinds[k]);
        if (!ends_with(name, len, tail) || len < tl + kl + 2 || !strchr("-.", name[len - tl - 1]))
            continue;
        size_t end = len - tl - 1; /* name[0..end) ends with the kind */
        if (!ends_with(name, end, kinds[k]) || name[end - kl - 1] != '-')
            continue;
        end -= kl + 1;
        for (int s = 0; s < 3; s++) {
            size_t sl = strlen(splits[s]);
            if (!ends_with(name, end, splits[s]) || (end > sl && !is_separator(name[end - sl - 1])))
                continue;
            *prefix_len = end - sl;
            return (s == 0 ? TRAIN_IMAGES : TEST_IMAGES) + k;
        }
    }
    return -1;
}

/* A CSV name without .gz: PREFIX{train,test}SUFFIX.csv; the set is named by PREFIX and SUFFIX. The role, or -1. */
static int csv_role(const char *name, size_t len, char *set)
{
    if (!ends_with(name, len, ".csv"))
        return -1;
    len -= 4;
    char stem[NAME_MAX_LEN];
    snprintf(stem, sizeof stem, "%.*s", (int)len, name);
    const char *train = strstr(stem, "train"), *test = strstr(stem, "test");
    if (!train && !test)
        return -1;
    const char *at = train ? train : test;
    size_t before = (size_t)(at - stem), after = before + (train ? 5 : 4);
    char prefix[NAME_MAX_LEN];
    set_name(prefix, stem, before);
    const char *suffix = stem + after;
    while (is_separator(*suffix))
        suffix++;
    if ((size_t)snprintf(set, NAME_MAX_LEN, "%s%s%s", prefix, *prefix && *suffix ? "-" : "", suffix) >= NAME_MAX_LEN)
        return -1;
    return train ? TRAIN_CSV : TEST_CSV;
}

/* The file one name could serve, appended to found->files (cap: its room); a name that serves no role is
 * skipped. */
static int note_file(found_sets *found, size_t *cap, const char *file)
{
    size_t len = strlen(file), prefix_len = 0;
    bool gz = ends_with(file, len, ".gz");
    size_t stem = gz ? len - 3 : len;
    char name[NAME_MAX_LEN], prefix[NAME_MAX_LEN] = "";
    if (len >= NAME_MAX_LEN)
        return BN_OK;
    int role = idx_role(file, stem, &prefix_len);
    if (role >= 0) {
        set_name(name, file, prefix_len);
        snprintf(prefix, sizeof prefix, "%.*s", (int)prefix_len, file);
    } else if ((role = csv_role(file, stem, name)) < 0) {
        return BN_OK;
    }
    if (found->n_files == *cap) {
        size_t grown_cap = *cap ? 2 * *cap : 64;
        found_file *grown = realloc(found->files, grown_cap * sizeof *grown);
        if (!grown)
            return bn_fail(BN_E_NOMEM, "out of memory listing %zu data files", found->n_files);
        found->files = grown, *cap = grown_cap;
    }
    size_t nl = strlen(name), pl = strlen(prefix);
    char *text = malloc(len + nl + pl + 3);
    if (!text)
        return bn_fail(BN_E_NOMEM, "out of memory listing %zu data files", found->n_files);
    found_file *f = &found->files[found->n_files++];
    *f = (found_file){.file = text, .name = text + len + 1, .prefix = text + len + nl + 2, .role = role,
                      .csv = role >= TRAIN_CSV, .gz = gz};
    memcpy(f->file, file, len + 1), memcpy(f->name, name, nl + 1), memcpy(f->prefix, prefix, pl + 1);
    return BN_OK;
}

/* By set (name, then IDX before CSV), then role, then the file a role keeps: a plain file over its .gz,
 * else the first name in order. */
static int by_set_then_choice(const void *a, const void *b)
{
    const found_file *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c || x->csv != y->csv)
        return c ? c : (int)x->csv - (int)y->csv;
    if (x->role != y->role)
        return x->role - y->role;
    return x->gz != y->gz ? (int)x->gz - (int)y->gz : strcmp(x->file, y->file);
}

/* The sorted files into sets: each run of one name and kind is a set, and each role keeps its first file. */
static int group_sets(found_sets *found)
{
    if (found->n_files) /* qsort must not be given a NULL array, even empty */
        qsort(found->files, found->n_files, sizeof *found->files, by_set_then_choice);
    found->sets = calloc(found->n_files + 1, sizeof *found->sets);
    if (!found->sets)
        return bn_fail(BN_E_NOMEM, "out of memory grouping %zu data files", found->n_files);
    for (size_t i = 0; i < found->n_files; i++) {
        const found_file *f = &found->files[i];
        found_set *s = found->n ? &found->sets[found->n - 1] : NULL;
        if (!s || s->csv != f->csv || strcmp(s->name, f->name) != 0) {
            s = &found->sets[found->n++];
            *s = (found_set){.name = f->name, .prefix = f->prefix, .csv = f->csv};
        }
        if (!s->file[f->role])
            s->file[f->role] = f->file;
    }
    return BN_OK;
}

static void free_sets(found_sets *found)
{
    for (size_t i = 0; i < found->n_files; i++)
        free(found->files[i].file);
    free(found->files), free(found->sets);
}

static int roles_found(const found_set *s)
{
    int n = 0;
    for (int r = 0; r < N_ROLES; r++)
        n += s->file[r] != NULL;
    return n;
}

static bool complete(const found_set *s)
{
    return roles_found(s) == (s->csv ? 2 : 4);
}

static int scan_folder(found_sets *found, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return bn_fail_errno(BN_E_IO, "cannot open data folder '%s'", dir);
    size_t cap = 0;
    int status = BN_OK;
    for (struct dirent *e; !status && (e = readdir(d));)
        if (e->d_name[0] != '.')
            status = note_file(found, &cap, e->d_name);
    closedir(d);
    return status ? status : group_sets(found);
}

/* "a, b (CSV), (no prefix)": the complete sets, for a message; "and N more" where out is too short. */
static void list_sets(const found_sets *found, char *out, size_t size)
{
    size_t len = 0;
    int more = 0;
    out[0] = '\0';
    for (int i = 0; i < found->n; i++) {
        const found_set *s = &found->sets[i];
        if (!complete(s))
            continue;
        char one[NAME_MAX_LEN + 16];
        int n = snprintf(one, sizeof one, "%s%s%s", len ? ", " : "", s->name[0] ? s->name : "(no prefix)",
                         s->csv ? " (CSV)" : "");
        if (more || len + (size_t)n + 20 >= size)
            more++;
        else
            len += (size_t)snprintf(out + len, size - len, "%s", one);
    }
    if (more)
        snprintf(out + len, size - len, " and %d more", more);
}

/* No complete set: name what the most complete one lacks, or what was looked for. */
static int explain_missing(const found_sets *found, const char *dir)
{
    const found_set *best = NULL;
    for (int i = 0; i < found->n; i++)
        if (!best || roles_found(&found->sets[i]) > roles_found(best))
            best = &found->sets[i];
    if (!best)
        return bn_fail(BN_E_IO, "'%s' holds no data set: looked for train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                                "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz, - or . before idx, "
                                "any prefix) and for PREFIXtrain.csv with PREFIXtest.csv", dir);
    if (best->csv) { /* the twin of the one that is there */
        bool has_train = best->file[TRAIN_CSV] != NULL;
        const char *have = best->file[has_train ? TRAIN_CSV : TEST_CSV], *from = has_train ? "train" : "test";
        const char *at = strstr(have, from);
        return bn_fail(BN_E_IO, "'%s/%.*s%s%s' not found beside '%s'", dir, (int)(at - have), have,
                       has_train ? "test" : "train", at + strlen(from), have);
    }
    int missing = TRAIN_IMAGES;
    while (missing < TEST_LABELS && best->file[missing])
        missing++;
    return bn_fail(BN_E_IO, "'%s/%s%s' not found (nor .gz, nor with a dot before idx), but the folder holds the rest "
                            "of that set", dir, best->prefix, role_names[missing]);
}

/* The one complete set that set (NULL: any) names. */
static int choose(const found_sets *found, const char *dir, const char *set, const found_set **chosen)
{
    char names[400];
    int complete_sets = 0;
    *chosen = NULL;
    for (int i = 0; i < found->n; i++) {
        const found_set *s = &found->sets[i];
        if (!complete(s) || (set && strcmp(s->name, set) != 0))
            continue;
        complete_sets++;
        if (!*chosen)
            *chosen = s; /* sorted: IDX before a CSV set of the same name */
    }
    list_sets(found, names, sizeof names);
    if (set && !*chosen)
        return bn_fail(BN_E_INVALID, "'%s' holds no data set named '%s'%s%s", dir, set, names[0] ? "; it holds: " : "",
                       names);
    if (!*chosen)
        return explain_missing(found, dir);
    if (!set && complete_sets > 1)
        return bn_fail(BN_E_INVALID, "'%s' holds %d data sets (%s): name one", dir, complete_sets, names);
    return BN_OK;
}

static int join(char *out, const char *dir, const char *file)
{
    if (!file) {
        out[0] = '\0';
        return BN_OK;
    }
    if ((size_t)snprintf(out, BN_PATH_MAX, "%s/%s", dir, file) >= BN_PATH_MAX)
        return bn_fail(BN_E_INVALID, "data folder path '%s' is too long", dir);
    return BN_OK;
}

static int find_in_folder(bn_data_files *files, const char *dir, const char *set)
{
    found_sets found = {0};
    const found_set *s = NULL;
    int status = scan_folder(&found, dir);
    if (!status)
        status = choose(&found, dir, set, &s);
    if (!status) {
        snprintf(files->set, sizeof files->set, "%s", s->name);
        status = join(files->train.images, dir, s->file[TRAIN_IMAGES]) ||
                 join(files->train.labels, dir, s->file[TRAIN_LABELS]) ||
                 join(files->test.images, dir, s->file[TEST_IMAGES]) ||
                 join(files->test.labels, dir, s->file[TEST_LABELS]) ||
                 join(files->train.csv, dir, s->file[TRAIN_CSV]) || join(files->test.csv, dir, s->file[TEST_CSV])
                     ? BN_E_INVALID
                     : BN_OK;
    }
    free_sets(&found);
    return status;
}

/* path with the last `from` in its file name replaced by `to` into out, if that file exists. */
static bool twin(char *out, const char *path, const char *from, const char *to)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *at = NULL;
    for (const char *p = base; (p = strstr(p, from)); p++)
        at = p;
    struct stat st;
    if (!at || (size_t)snprintf(out, BN_PATH_MAX, "%.*s%s%s", (int)(at - path), path, to, at + strlen(from)) >=
                   BN_PATH_MAX)
        return false;
    return stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

/* A CSV file: the training part, with its test twin where there is one; or the test part, with its twin. */
static int find_csv_pair(bn_data_files *files, const char *path)
{
    if (strlen(path) >= BN_PATH_MAX)
        return bn_fail(BN_E_INVALID, "data path '%s' is too long", path);
    const char *base = strrchr(path, '/');
    bool test_only = strstr(base ? base : path, "test") && !strstr(base ? base : path, "train");
    char other[BN_PATH_MAX];
    bn_data_source *mine = test_only ? &files->test : &files->train, *theirs = test_only ? &files->train : &files->test;
    snprintf(mine->csv, BN_PATH_MAX, "%s", path);
    if (test_only ? twin(other, path, "test", "train") : twin(other, path, "train", "test"))
        snprintf(theirs->csv, BN_PATH_MAX, "%s", other);
    return BN_OK;
}

int bn_data_find(bn_data_files *files, const char *path, const char *set)
{
    memset(files, 0, sizeof *files);
    struct stat st;
    if (stat(path, &st) != 0)
        return bn_fail_errno(BN_E_IO, "cannot open data folder '%s'", path);
    if (S_ISDIR(st.st_mode))
        return find_in_folder(files, path, set);
    size_t len = strlen(path);
    if (ends_with(path, len, ".csv") || ends_with(path, len, ".csv.gz"))
        return find_csv_pair(files, path);
    return bn_fail(BN_E_IO, "'%s' is a file, not a folder of IDX files nor a .csv file", path);
}
