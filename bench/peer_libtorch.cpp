/* blasnet-peer-libtorch: blasnet's benchmark MLP in libtorch's C++ API, the peer without Python in the way.
 * Same model and step as blasnet-bench's: nn::Linear layers with He-normal weights and zero biases, a
 * relu|sigmoid|tanh hidden activation, softmax cross-entropy (mean over the batch), SGD with momentum 0.9.
 * --mode steps times whole steps on random data (2 warm-ups, then the median over --budget seconds, at
 * least 3 steps), like bench/peers.py; --mode mnist trains --epochs on the first 50,000 MNIST training
 * images (the rest validate, as blasnet train's default) and reports the training loop's samples/s and the
 * test accuracy. One `peer=libtorch ...` line per measurement; lines starting `#` describe the run.
 *
 * Its best settings. Three variables are read when glibc, libgomp and OpenBLAS load, so main() cannot set
 * them; --best-env sets them as this machine wants and re-executes the binary (the `#` lines say which):
 *   - GLIBC_TUNABLES=glibc.malloc.trim_threshold=2000000000:glibc.malloc.mmap_threshold=2000000000, always:
 *     glibc otherwise hands each step's freed batch-sized buffers back to the kernel and page-faults them
 *     in again (9x the minor faults in --mode steps here; 784-1024-1024-10 at batch 512, 2 threads:
 *     1.1-1.25x faster; no measurable change at smaller batches or in the 2-epoch MNIST run).
 *   - OMP_WAIT_POLICY=passive only where the BLAS runs a pthread pool of its own beside libgomp's, both
 *     spinning (PLATFORM.md: up to 2x and more on 2 cores). With the OpenMP OpenBLAS
 *     (openblas_get_parallel() == 2) libtorch and the BLAS share one libgomp team, and passive cost 20-35%
 *     here (784-64-10 at batch 32 and 128) by putting the team to sleep between regions: it stays unset.
 *   - OPENBLAS_CORETYPE=<this CPU's best kernel>: Debian's libtorch multiplies in the libblas.so.3
 *     alternative, OpenBLAS, whose fallback on an AVX-512 CPU it does not recognise is Prescott (4-5x
 *     slower here).
 * In the code: torch::set_num_threads(T); the input batch lives in tensors allocated once and filled by
 * index_select_out; gradients are zeroed in place (their buffers persist); the hidden activation is applied
 * in place on each Linear output; evaluation runs under InferenceMode.
 * Built only where Debian's libtorch-dev is installed; never a dependency of blasnet itself. */
#include <torch/torch.h>

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const char no_trim[] = "glibc.malloc.trim_threshold=2000000000:glibc.malloc.mmap_threshold=2000000000";

enum class activation { relu, sigmoid, tanh };

struct options {
    std::vector<int64_t> layers{784, 1024, 1024, 10};
    std::string act_name = "relu";
    activation act = activation::relu;
    std::vector<int64_t> batches{128};
    int threads = 1;
    std::string mode = "steps";
    double budget = 1.0;
    int epochs = 2;
    std::string data = "data/mnist";
    int64_t val = 10000;
    double lr = -1.0; /* default: 1e-3 for steps (blasnet-bench's), 0.05 for mnist (blasnet train's) */
    double momentum = 0.9;
    uint64_t seed = 1;
    bool want_best_env = false;
};

const char usage_text[] =
    "usage: blasnet-peer-libtorch [options]\n"
    "  --mode steps|mnist   time steps on random data, or train on MNIST (default: steps)\n"
    "  --layers LIST        e.g. 784,1024,1024,10 (default)\n"
    "  --act NAME           relu | sigmoid | tanh (default: relu)\n"
    "  --batches LIST       batch sizes, e.g. 32,128,512 (default: 128; mnist uses the first)\n"
    "  --threads N          torch::set_num_threads (default: 1)\n"
    "  --budget S           seconds of repeats per batch size in steps mode (default: 1)\n"
    "  --epochs N           mnist mode (default: 2)\n"
    "  --data DIR           the four MNIST IDX files (default: data/mnist)\n"
    "  --val N              validation images taken from the end of the training file (default: 10000)\n"
    "  --lr F               learning rate (default: 1e-3 steps, 0.05 mnist)\n"
    "  --momentum F         (default: 0.9)\n"
    "  --seed N             (default: 1)\n"
    "  --best-env           re-execute with GLIBC_TUNABLES, OMP_WAIT_POLICY and OPENBLAS_CORETYPE at their\n"
    "                       best for this machine's libraries (see the top of bench/peer_libtorch.cpp)\n";

[[noreturn]] void usage_error(const std::string &msg)
{
    std::fprintf(stderr, "blasnet-peer-libtorch: %s\n%s", msg.c_str(), usage_text);
    std::exit(2);
}

std::vector<int64_t> parse_list(const std::string &text, const char *flag)
{
    std::vector<int64_t> v;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        char *end = nullptr;
        long long x = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end || x < 1 || x > (1 << 24))
            usage_error(std::string(flag) + " wants a comma list of positive integers, got '" + text + "'");
        v.push_back(x);
    }
    if (v.empty())
        usage_error(std::string(flag) + " is empty");
    return v;
}

double parse_number(const char *text, const char *flag, double lo, double hi)
{
    char *end = nullptr;
    double x = std::strtod(text, &end);
    if (end == text || *end || !(x >= lo && x <= hi))
        usage_error(std::string(flag) + " wants a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                    "], got '" + text + "'");
    return x;
}

activation parse_activation(const std::string &name)
{
    if (name == "relu")
        return activation::relu;
    if (name == "sigmoid")
        return activation::sigmoid;
    if (name == "tanh")
        return activation::tanh;
    usage_error("--act wants relu, sigmoid or tanh, got '" + name + "'");
}

options parse_options(int argc, char **argv)
{
    options o;
    for (int i = 1; i < argc; i++) {
        std::string flag = argv[i];
        if (flag == "--best-env") {
            o.want_best_env = true;
            continue;
        }
        if (flag == "--help" || flag == "-h") {
            std::fputs(usage_text, stdout);
            std::exit(0);
        }
        if (i + 1 >= argc)
            usage_error(flag + " needs a value (or is unknown)");
        const char *v = argv[++i];
        if (flag == "--mode" && (std::strcmp(v, "steps") == 0 || std::strcmp(v, "mnist") == 0))
            o.mode = v;
        else if (flag == "--layers")
            o.layers = parse_list(v, "--layers");
        else if (flag == "--act") {
            o.act = parse_activation(v);
            o.act_name = v;
        }
        else if (flag == "--batches" || flag == "--batch")
            o.batches = parse_list(v, "--batches");
        else if (flag == "--threads")
            o.threads = (int)parse_number(v, "--threads", 1, 1024);
        else if (flag == "--budget")
            o.budget = parse_number(v, "--budget", 0, 3600);
        else if (flag == "--epochs")
            o.epochs = (int)parse_number(v, "--epochs", 1, 1000);
        else if (flag == "--data")
            o.data = v;
        else if (flag == "--val")
            o.val = (int64_t)parse_number(v, "--val", 0, 1e9);
        else if (flag == "--lr")
            o.lr = parse_number(v, "--lr", 1e-9, 10);
        else if (flag == "--momentum")
            o.momentum = parse_number(v, "--momentum", 0, 0.999999);
        else if (flag == "--seed")
            o.seed = (uint64_t)parse_number(v, "--seed", 0, 1e18);
        else
            usage_error("unknown option or bad value: " + flag + " " + v);
    }
    if (o.layers.size() < 2)
        usage_error("--layers needs at least an input and an output size");
    if (o.lr < 0)
        o.lr = o.mode == "mnist" ? 0.05 : 1e-3;
    return o;
}

/* OpenBLAS 0.3.21's best x86-64 kernel for this CPU, by the rule of bn_cpu_best_blas_core() and peers.py;
 * nullptr when none applies. Debian's libtorch does its matrix products in the libblas.so.3 alternative,
 * which is OpenBLAS (see the libraries line), and OpenBLAS does not recognise every AVX-512 CPU. */
const char *best_blas_core()
{
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    std::set<std::string> flags;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) != 0)
            continue;
        std::stringstream ss(line.substr(line.find(':') + 1));
        for (std::string f; ss >> f;)
            flags.insert(f);
        break;
    }
    auto has = [&flags](const char *f) { return flags.count(f) > 0; };
    if (has("avx512_bf16"))
        return "Cooperlake";
    if (has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq"))
        return "SkylakeX";
    if (has("avx2") && has("fma"))
        return "Haswell";
    return nullptr;
}

/* How the BLAS that libtorch loaded runs its threads: OpenBLAS's openblas_get_parallel() (0 serial,
 * 1 pthreads, 2 OpenMP), or -1 when the BLAS is not OpenBLAS. */
int blas_parallel()
{
    auto fn = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
    return fn ? fn() : -1;
}

struct setting {
    const char *name;
    const char *value; /* nullptr: best left unset */
};

/* The environment at its best for this process, decided from the libraries it loaded (see the top). */
std::vector<setting> best_settings()
{
    std::vector<setting> s{
        {"GLIBC_TUNABLES", no_trim},
        /* passive only where a second, spinning pool runs beside libgomp's; with the OpenMP OpenBLAS there is
         * one team, and passive only adds the wake-up of sleeping threads to every parallel region */
        {"OMP_WAIT_POLICY", blas_parallel() == 2 ? nullptr : "passive"},
    };
    if (const char *core = best_blas_core())
        s.push_back({"OPENBLAS_CORETYPE", core});
    return s;
}

bool is_set_to(const char *name, const char *value)
{
    const char *now = std::getenv(name);
    return value ? now && std::strcmp(now, value) == 0 : !now;
}

/* GLIBC_TUNABLES, OMP_WAIT_POLICY and OPENBLAS_CORETYPE are read when glibc, libgomp and OpenBLAS load, before
 * main(): to change them the process sets them and executes itself again. Returns only when nothing needed
 * changing. */
void reexec_with_best_env(char **argv)
{
    bool changed = false;
    for (const setting &s : best_settings()) {
        if (is_set_to(s.name, s.value))
            continue;
        if (s.value)
            setenv(s.name, s.value, 1);
        else
            unsetenv(s.name);
        changed = true;
    }
    if (!changed)
        return;
    execv("/proc/self/exe", argv);
    std::perror("blasnet-peer-libtorch: re-executing with the best environment failed");
    std::exit(1);
}

/* ---- the model --------------------------------------------------------------------------------------- */

struct mlp {
    std::vector<torch::nn::Linear> fc;
    activation act;

    mlp(const std::vector<int64_t> &layers, activation a) : act(a)
    {
        torch::NoGradGuard no_grad;
        for (size_t l = 0; l + 1 < layers.size(); l++) {
            torch::nn::Linear lin(layers[l], layers[l + 1]); /* weight (OUT,IN), as torch stores it */
            lin->weight.normal_(0.0, std::sqrt(2.0 / (double)layers[l])); /* He, as blasnet's default */
            lin->bias.zero_();
            fc.push_back(lin);
        }
    }

    /* X (B,IN) -> logits (B,OUT); the hidden activation in place on each Linear output (addmm's backward
     * needs its inputs, not its output, so autograd allows it, and it saves one (B,N) buffer a layer). */
    torch::Tensor forward(torch::Tensor x)
    {
        for (size_t l = 0; l < fc.size(); l++) {
            x = fc[l]->forward(x);
            if (l + 1 == fc.size())
                break;
            switch (act) {
            case activation::relu: x.relu_(); break;
            case activation::sigmoid: x.sigmoid_(); break;
            case activation::tanh: x.tanh_(); break;
            }
        }
        return x;
    }

    std::vector<torch::Tensor> parameters() const
    {
        std::vector<torch::Tensor> p;
        for (const auto &lin : fc)
            for (const auto &t : lin->parameters())
                p.push_back(t);
        return p;
    }
};

/* One training step: zero the gradients in place, forward, loss, backward, SGD momentum update. */
void train_step(mlp &net, torch::optim::SGD &opt, const torch::Tensor &x, const torch::Tensor &y)
{
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(net.forward(x), y);
    loss.backward();
    opt.step();
}

double now_seconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string layers_text(const std::vector<int64_t> &layers)
{
    std::string s;
    for (size_t i = 0; i < layers.size(); i++)
        s += (i ? "-" : "") + std::to_string(layers[i]);
    return s;
}

/* ---- mode steps: random data, the median step ---------------------------------------------------------- */

struct step_timing {
    double median_s, min_s;
    size_t runs;
};

/* Two warm-up steps, then steps until the budget has passed and at least 3 were timed. */
step_timing time_steps(mlp &net, torch::optim::SGD &opt, const torch::Tensor &x, const torch::Tensor &y,
                       double budget)
{
    train_step(net, opt, x, y);
    train_step(net, opt, x, y);
    std::vector<double> t;
    t.reserve(100000);
    double start = now_seconds();
    while (t.size() < 3 || now_seconds() - start < budget) {
        double t0 = now_seconds();
        train_step(net, opt, x, y);
        t.push_back(now_seconds() - t0);
    }
    std::sort(t.begin(), t.end());
    size_t n = t.size();
    double median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return {median, t[0], n};
}

void run_steps(const options &o)
{
    mlp net(o.layers, o.act);
    torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(o.lr).momentum(o.momentum));
    for (int64_t b : o.batches) {
        torch::Tensor x = torch::rand({b, o.layers.front()});
        torch::Tensor y = torch::randint(o.layers.back(), {b}, torch::kLong);
        step_timing t = time_steps(net, opt, x, y, o.budget);
        std::printf("peer=libtorch layers=%s act=%s batch=%lld threads=%d mode=steps step_ms=%.4f best_ms=%.4f "
                    "runs=%zu samples_s=%.0f\n",
                    layers_text(o.layers).c_str(), o.act_name.c_str(), (long long)b, o.threads, t.median_s * 1e3,
                    t.min_s * 1e3, t.runs, (double)b / t.median_s);
        std::fflush(stdout);
    }
}

/* ---- mode mnist: the IDX files, a shuffled 2-epoch run, test accuracy -------------------------------- */

uint32_t big_endian_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads one IDX file: magic 0x801 (labels, 1 dimension) or 0x803 (images, 3), big-endian uint32 sizes, then
 * uint8 data whose length must match them. Returns a uint8 tensor shaped (n) or (n, rows*cols). */
torch::Tensor read_idx(const std::string &path, uint32_t magic)
{
    std::ifstream f(path, std::ios::binary);
    if (!f)
        throw std::runtime_error("cannot open " + path + " (data/fetch-mnist.sh fetches it)");
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    int dims = magic == 0x803 ? 3 : 1;
    size_t head = 4 + 4 * (size_t)dims;
    if (bytes.size() < head || big_endian_u32(bytes.data()) != magic)
        throw std::runtime_error(path + ": not an IDX file with magic " + std::to_string(magic));
    uint64_t n = big_endian_u32(&bytes[4]), row = 1;
    for (int d = 1; d < dims; d++)
        row *= big_endian_u32(&bytes[4 + 4 * (size_t)d]);
    if (row == 0 || n > (bytes.size() - head) / row || n * row != bytes.size() - head)
        throw std::runtime_error(path + ": " + std::to_string(bytes.size() - head) + " data bytes, expected " +
                                 std::to_string(n) + " x " + std::to_string(row));
    torch::Tensor t = torch::empty(dims == 3 ? std::vector<int64_t>{(int64_t)n, (int64_t)row}
                                             : std::vector<int64_t>{(int64_t)n}, torch::kUInt8);
    std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + head, bytes.size() - head);
    return t;
}

struct dataset {
    torch::Tensor x; /* (n, 784) float in [0,1], converted once */
    torch::Tensor y; /* (n) int64 */
};

dataset load_pair(const std::string &dir, const char *prefix)
{
    torch::Tensor x = read_idx(dir + "/" + prefix + "-images-idx3-ubyte", 0x803);
    torch::Tensor y = read_idx(dir + "/" + prefix + "-labels-idx1-ubyte", 0x801);
    if (x.size(0) != y.size(0))
        throw std::runtime_error(dir + "/" + prefix + ": " + std::to_string(x.size(0)) + " images but " +
                                 std::to_string(y.size(0)) + " labels");
    if (y.max().item<int>() > 9)
        throw std::runtime_error(dir + "/" + prefix + ": a label above 9");
    return {x.to(torch::kFloat).div_(255.0f), y.to(torch::kLong)};
}

/* Loss and accuracy (%) over a whole set, in chunks, without autograd's bookkeeping. */
std::pair<double, double> evaluate(mlp &net, const dataset &d)
{
    c10::InferenceMode guard;
    const int64_t n = d.x.size(0), chunk = 1000;
    double loss = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i += chunk) {
        int64_t m = std::min(chunk, n - i);
        torch::Tensor logits = net.forward(d.x.narrow(0, i, m));
        torch::Tensor y = d.y.narrow(0, i, m);
        loss += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
        correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }
    return {loss / (double)n, 100.0 * (double)correct / (double)n};
}

/* One epoch over a fresh shuffle; each batch gathered with index_select_out into xb/yb, allocated once
 * for the full batch (the last, partial batch uses a view of their first rows). */
void train_epoch(mlp &net, torch::optim::SGD &opt, const dataset &train, torch::Tensor &xb, torch::Tensor &yb)
{
    const int64_t n = train.x.size(0), batch = xb.size(0);
    torch::Tensor order = torch::randperm(n, torch::kLong);
    for (int64_t i = 0; i < n; i += batch) {
        int64_t m = std::min(batch, n - i);
        torch::Tensor idx = order.narrow(0, i, m);
        torch::Tensor x = m == batch ? xb : xb.narrow(0, 0, m);
        torch::Tensor y = m == batch ? yb : yb.narrow(0, 0, m);
        torch::index_select_out(x, train.x, 0, idx);
        torch::index_select_out(y, train.y, 0, idx);
        train_step(net, opt, x, y);
    }
}

void run_mnist(const options &o)
{
    dataset full = load_pair(o.data, "train"), test = load_pair(o.data, "t10k");
    const int64_t n_all = full.x.size(0);
    if (o.val >= n_all)
        usage_error("--val " + std::to_string(o.val) + " leaves no training images of " + std::to_string(n_all));
    if (full.x.size(1) != o.layers.front())
        usage_error("the images have " + std::to_string(full.x.size(1)) + " pixels but --layers starts at " +
                    std::to_string(o.layers.front()));
    const int64_t n = n_all - o.val, batch = o.batches.front();
    dataset train{full.x.narrow(0, 0, n), full.y.narrow(0, 0, n)};
    dataset val{full.x.narrow(0, n, o.val), full.y.narrow(0, n, o.val)};
    mlp net(o.layers, o.act);
    torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(o.lr).momentum(o.momentum));
    torch::Tensor xb = torch::empty({batch, o.layers.front()}), yb = torch::empty({batch}, torch::kLong);
    double train_s = 0.0;
    for (int e = 0; e < o.epochs; e++) {
        double t0 = now_seconds();
        train_epoch(net, opt, train, xb, yb);
        train_s += now_seconds() - t0;
        if (o.val > 0) {
            auto v = evaluate(net, val);
            std::printf("# epoch %d: %.2f s so far, val loss %.4f acc %.2f%%\n", e + 1, train_s, v.first, v.second);
        }
    }
    auto t = evaluate(net, test);
    std::printf("peer=libtorch layers=%s act=%s batch=%lld threads=%d mode=mnist epochs=%d train_n=%lld lr=%g "
                "train_s=%.3f samples_s=%.0f test_loss=%.4f test_acc=%.2f\n",
                layers_text(o.layers).c_str(), o.act_name.c_str(), (long long)batch, o.threads, o.epochs,
                (long long)n, o.lr, train_s, (double)(n * o.epochs) / train_s, t.first, t.second);
}

/* ---- the run's description: versions, threads, environment, the BLAS-like libraries mapped ------------- */

std::string mapped_libraries()
{
    std::ifstream maps("/proc/self/maps");
    std::set<std::string> libs;
    std::string line;
    const char *keys[] = {"openblas", "libblas", "mkl", "dnnl", "gomp", "libomp", "blis", "torch_cpu"};
    while (std::getline(maps, line)) {
        size_t slash = line.find('/');
        if (slash == std::string::npos)
            continue;
        std::string path = line.substr(slash);
        std::string base = path.substr(path.rfind('/') + 1);
        for (const char *k : keys)
            if (base.find(k) != std::string::npos)
                libs.insert(path);
    }
    std::string s;
    for (const auto &p : libs)
        s += (s.empty() ? "" : " ") + p;
    return s.empty() ? "?" : s;
}

void describe_run(const options &o)
{
    static const char *const threading[] = {"serial", "pthreads: a second pool beside libgomp's",
                                            "OpenMP: one libgomp team with libtorch's"};
    int par = blas_parallel();
    std::printf("# libtorch %s, %s mode, threads %d (interop %d), seed %llu, lr %g, momentum %g\n", TORCH_VERSION,
                o.mode.c_str(), torch::get_num_threads(), torch::get_num_interop_threads(),
                (unsigned long long)o.seed, o.lr, o.momentum);
    std::printf("# BLAS threading: %s; libraries: %s\n", par >= 0 && par <= 2 ? threading[par] : "not OpenBLAS",
                mapped_libraries().c_str());
    bool best = true;
    for (const setting &s : best_settings()) {
        const char *now = std::getenv(s.name);
        std::printf("# %s=%s (best here: %s)\n", s.name, now ? now : "(unset)", s.value ? s.value : "unset");
        best = best && is_set_to(s.name, s.value);
    }
    if (!best)
        std::fprintf(stderr, "blasnet-peer-libtorch: warning: not at its best settings (see the # lines); "
                             "pass --best-env or see the top of bench/peer_libtorch.cpp\n");
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    if (o.want_best_env)
        reexec_with_best_env(argv);
    torch::set_num_threads(o.threads);
    torch::manual_seed(o.seed);
    try {
        describe_run(o);
        if (o.mode == "steps")
            run_steps(o);
        else
            run_mnist(o);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "blasnet-peer-libtorch: %s\n", e.what());
        return 1;
    }
    return 0;
}
