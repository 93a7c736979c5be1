// Forward-Laplacian jet of a coordinate MLP after its first linear layer, and its backward, in
// blocks of points small enough to stay in one core's cache (inr/model/fused_jet.py builds and calls it).
//
// Work items are (model m, block of points); each runs on one thread, through every layer, so an
// activation's Taylor rule reads the streams its matmul has just written and the next matmul reads
// what the rule has just written, all in cache. The matmuls are serial BLAS calls (the MKL inside
// libtorch_cpu) on (streams x points, width) row blocks.
//
// Neither pass's results depend on the number of threads or on which thread ran what: each item
// writes its own outputs, and the backward sums the parameter gradients of a model's blocks in a
// fixed order (GROUPS).
//
// Layouts (row-major; S = 1 + cols + lap streams: value, Jacobian columns, Laplacian last):
//   u      (M, N, W)      value pre-activation of the first activation
//   a      (M, cols, W)   its Jacobian columns (constant in the points; its Laplacian is 0)
//   w[l]   (M, W, out)    scaled weight of linear layer l = 1..depth+1 (out = W, last C)
//   b[l]   (M, out)       its scaled bias, added to the value stream only
//   out    (M, S, N, C)   pre-activation streams after the last layer
//   saved  depth x (M, S*N*W): pre-activation streams z_1..z_depth, block-major inside a model:
//          the block of points [n0, n0 + n) is (S, n, W) at offset S * n0 * W
// The Jacobian columns x and y are streams 1 and 2 whenever there is a Laplacian stream.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

extern "C" {
// Fortran BLAS (column-major) as exported by libtorch_cpu
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
            const int*, const float*, const int*, const float*, float*, const int*);
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*,
            const int*, const double*, const int*, const double*, double*, const int*);

#if defined(__x86_64__) && defined(__GLIBC__)
// glibc's libmvec holds SIMD versions of these; declaring them lets the loops below vectorize.
#pragma omp declare simd notinbranch
float sinf(float);
#pragma omp declare simd notinbranch
float cosf(float);
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double sin(double);
#pragma omp declare simd notinbranch
double cos(double);
#pragma omp declare simd notinbranch
double exp(double);
#endif

// The calling convention: JetArgs, the entry points' arguments and the array layouts above. Bump it
// (and LAYOUT_VERSION in inr/model/fused_jet.py) on any change to them.
const int64_t LAYOUT_VERSION = 1;

struct JetArgs {            // mirrored by _JetArgs in inr/model/fused_jet.py
    int64_t models, points, width, outs, cols, lap, depth, act, block, threads, itemsize;
    double w0;              // FINER's w0
    const void* u;
    const void* a;
    const void* const* w;   // depth + 1 pointers
    const void* const* b;
};
}

namespace {

enum Act { SINE = 0, FINER = 1, GAUSS = 2, ELU = 3 };   // ACTIVATION_IDS in inr/model/fused_jet.py

// Each model's blocks of points fall into min(blocks, GROUPS) groups of consecutive blocks, whatever
// the thread count. The backward sums a group's parameter gradients block after block into the
// group's own buffer, then the groups' buffers in group order: a fixed order of additions. GROUPS
// trades the backward's parallelism (M * GROUPS items) against its buffers, GROUPS copies of a
// model's parameter gradients per model, and their final sum: at width 256 on one thread, 16
// copies cost about 2% of the backward's time, 32 about 5%.
const long GROUPS = 16;

void gemm(char ta, char tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
          float beta, float* c, int ldc) {
    const float one = 1;
    sgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

void gemm(char ta, char tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb,
          double beta, double* c, int ldc) {
    const double one = 1;
    dgemm_(&ta, &tb, &m, &n, &k, &one, a, &lda, b, &ldb, &beta, c, &ldc);
}

// Row-major matmuls of a block of `rows` stream rows, in terms of column-major BLAS.
template <typename T>   // z (rows, out) = h (rows, in) w (in, out)
void linear(const T* h, const T* w, long rows, long in, long out, T* z) {
    gemm('N', 'N', out, rows, in, w, out, h, in, T(0), z, out);
}

template <typename T>   // dw (in, out) += h^T g
void add_weight_grad(const T* h, const T* g, long rows, long in, long out, T* dw) {
    gemm('N', 'T', out, in, rows, g, out, h, in, T(1), dw, out);
}

template <typename T>   // dh (rows, in) = g (rows, out) w^T
void input_grad(const T* g, const T* w, long rows, long in, long out, T* dh) {
    gemm('T', 'N', in, rows, out, w, out, g, out, T(0), dh, in);
}

template <typename T>   // s = sin(x), and c = cos(x) unless order is 0 (separate loops: both vectorize)
bool sin_cos(const T* x, long n, int order, T* s, T* c) {
    #pragma omp simd
    for (long i = 0; i < n; i++) s[i] = std::sin(x[i]);
    if (order < 1) return false;
    #pragma omp simd
    for (long i = 0; i < n; i++) c[i] = std::cos(x[i]);
    return true;
}

// t[k][i] = f^(k)(u[i]) for k <= 3; `order` says which derivatives the caller reads, and only
// the transcendental calls it needs are made. Same formulas as inr.models.Activation.taylor.
template <typename T>
void taylor(int act, T w0, const T* u, long n, int order, T* const* t) {
    T *t0 = t[0], *t1 = t[1], *t2 = t[2], *t3 = t[3];
    switch (act) {
    case SINE:
        if (!sin_cos(u, n, order, t0, t1)) return;
        #pragma omp simd
        for (long i = 0; i < n; i++) { t2[i] = -t0[i]; t3[i] = -t1[i]; }
        return;
    case FINER:   // f = sin(g), g = u + u |u| / w0, g' = 1 + 2 |u| / w0, g'' = 2 sign(u) / w0
        #pragma omp simd
        for (long i = 0; i < n; i++) t3[i] = u[i] + u[i] * std::abs(u[i]) / w0;
        if (!sin_cos(t3, n, order, t0, t1)) return;
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T s = t0[i], c = t1[i], g1 = 1 + 2 * std::abs(u[i]) / w0;
            T g2 = 2 * T((u[i] > 0) - (u[i] < 0)) / w0;
            t1[i] = c * g1;
            t2[i] = c * g2 - s * g1 * g1;
            t3[i] = -c * g1 * g1 * g1 - 3 * s * g1 * g2;
        }
        return;
    case GAUSS:   // f = exp(-u^2)
        #pragma omp simd
        for (long i = 0; i < n; i++) t0[i] = std::exp(-u[i] * u[i]);
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T e = t0[i], v = u[i], v2 = v * v;
            t1[i] = -2 * v * e;
            t2[i] = (4 * v2 - 2) * e;
            t3[i] = (12 - 8 * v2) * v * e;
        }
        return;
    default:      // ELU: f = u for u > 0, exp(u) - 1 otherwise
        #pragma omp simd
        for (long i = 0; i < n; i++) t1[i] = std::exp(std::min(u[i], T(0)));
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T e = t1[i];
            bool pos = u[i] > 0;
            t0[i] = pos ? u[i] : e - 1;
            t2[i] = pos ? T(0) : e;
            t3[i] = t2[i];
        }
    }
}

// The shapes of one call, and the per-thread work of one block of points.
template <typename T>
struct Jet {
    long M, N, W, C, K, S, depth, block;
    bool lap;
    int act;
    T w0;
    const T* u;
    const T* a;
    std::vector<const T*> w, b;

    explicit Jet(const JetArgs& x)
        : M(x.models), N(x.points), W(x.width), C(x.outs), K(x.cols), S(1 + x.cols + x.lap),
          depth(x.depth), block(x.block), lap(x.lap != 0), act(int(x.act)), w0(T(x.w0)),
          u(static_cast<const T*>(x.u)), a(static_cast<const T*>(x.a)) {
        for (long l = 0; l <= depth; l++) {
            w.push_back(static_cast<const T*>(x.w[l]));
            b.push_back(static_cast<const T*>(x.b[l]));
        }
    }

    long blocks() const { return (N + block - 1) / block; }
    long out_width(long l) const { return l == depth ? C : W; }   // of linear layer l (0-based here)

    // h streams (S, n, W) of a hidden activation from its pre-activation streams z (S, n, W)
    void jet(const T* z, long n, T* const* t, T* h) const {
        const long len = n * W;
        std::memcpy(h, t[0], len * sizeof(T));
        for (long k = 1; k < S; k++) {
            const T *zk = z + k * len, *t1 = t[1];
            T* hk = h + k * len;
            #pragma omp simd
            for (long i = 0; i < len; i++) hk[i] = t1[i] * zk[i];
        }
        if (lap) {   // + f'' (J_x^2 + J_y^2)
            const T *zx = z + len, *zy = z + 2 * len, *t2 = t[2];
            T* hl = h + (S - 1) * len;
            #pragma omp simd
            for (long i = 0; i < len; i++) hl[i] += t2[i] * (zx[i] * zx[i] + zy[i] * zy[i]);
        }
    }

    // g (S, n, W) = dloss/dh  ->  dloss/dz, in place
    void jet_backward(const T* z, long n, T* const* t, T* g) const {
        const long len = n * W;
        const T *t1 = t[1], *t2 = t[2], *t3 = t[3];
        T* g0 = g;
        #pragma omp simd
        for (long i = 0; i < len; i++) g0[i] *= t1[i];
        for (long k = 1; k < S; k++) {   // d/du of f'(u) z_k
            const T *zk = z + k * len, *gk = g + k * len;
            #pragma omp simd
            for (long i = 0; i < len; i++) g0[i] += t2[i] * gk[i] * zk[i];
        }
        const T* gl = g + (S - 1) * len;
        if (lap) {   // d/du and d/dz_x,y of f''(u) (z_x^2 + z_y^2)
            const T *zx = z + len, *zy = z + 2 * len;
            T *gx = g + len, *gy = g + 2 * len;
            #pragma omp simd
            for (long i = 0; i < len; i++) {
                g0[i] += gl[i] * t3[i] * (zx[i] * zx[i] + zy[i] * zy[i]);
                gx[i] = gx[i] * t1[i] + 2 * t2[i] * gl[i] * zx[i];
                gy[i] = gy[i] * t1[i] + 2 * t2[i] * gl[i] * zy[i];
            }
        }
        for (long k = lap ? 3 : 1; k < S; k++) {
            T* gk = g + k * len;
            #pragma omp simd
            for (long i = 0; i < len; i++) gk[i] *= t1[i];
        }
    }

    // h streams of the first activation: z is the value u (n, W) with columns am (K, W)
    void first_jet(long m, long n, T* const* t, T* h) const {
        const long len = n * W;
        const T* am = a + m * K * W;
        std::memcpy(h, t[0], len * sizeof(T));
        for (long k = 1; k <= K; k++) {
            const T* ak = am + (k - 1) * W;
            T* hk = h + k * len;
            for (long r = 0; r < n; r++) {
                const T* t1 = t[1] + r * W;
                #pragma omp simd
                for (long j = 0; j < W; j++) hk[r * W + j] = t1[j] * ak[j];
            }
        }
        if (lap) {
            T* hl = h + (S - 1) * len;
            for (long r = 0; r < n; r++) {
                const T* t2 = t[2] + r * W;
                #pragma omp simd
                for (long j = 0; j < W; j++) hl[r * W + j] = t2[j] * (am[j] * am[j] + am[W + j] * am[W + j]);
            }
        }
    }

    // g (S, n, W) = dloss/dh of the first activation -> du (n, W); dloss/da added to da (K, W)
    void first_backward(long m, long n, T* const* t, const T* g, T* du, T* da) const {
        const long len = n * W;
        const T* am = a + m * K * W;
        const T* gl = g + (S - 1) * len;
        for (long r = 0; r < n; r++) {
            const T *t1 = t[1] + r * W, *t2 = t[2] + r * W, *t3 = t[3] + r * W, *g0 = g + r * W;
            T* dur = du + r * W;
            #pragma omp simd
            for (long j = 0; j < W; j++) dur[j] = g0[j] * t1[j];
            for (long k = 1; k <= K; k++) {
                const T *gk = g + k * len + r * W, *ak = am + (k - 1) * W;
                T* dak = da + (k - 1) * W;
                #pragma omp simd
                for (long j = 0; j < W; j++) {
                    dur[j] += t2[j] * gk[j] * ak[j];
                    dak[j] += gk[j] * t1[j];
                }
            }
            if (lap) {
                const T* glr = gl + r * W;
                #pragma omp simd
                for (long j = 0; j < W; j++) {
                    T ax = am[j], ay = am[W + j];
                    dur[j] += glr[j] * t3[j] * (ax * ax + ay * ay);
                    da[j] += 2 * ax * glr[j] * t2[j];
                    da[W + j] += 2 * ay * glr[j] * t2[j];
                }
            }
        }
    }
};

// Per-thread scratch: two stream buffers and the four Taylor coefficient arrays of one block.
template <typename T>
struct Scratch {
    std::vector<T> buf;
    T *x, *y;
    T* t[4];
    Scratch(long streams, long block, long width) : buf((2 * streams + 4) * block * width) {
        const long len = block * width;
        x = buf.data();
        y = x + streams * len;
        for (int k = 0; k < 4; k++) t[k] = y + streams * len + k * len;
    }
};

template <typename T>
void forward(const JetArgs& args, T* saved, T* out) {
    const Jet<T> jet(args);
    const long M = jet.M, N = jet.N, W = jet.W, S = jet.S, C = jet.C;
    const long items = M * jet.blocks();
    const int order = jet.lap ? 2 : jet.K ? 1 : 0;
    #pragma omp parallel num_threads(int(args.threads))
    {
        Scratch<T> s(S, jet.block, std::max(W, C));
        std::vector<T> spare(saved ? 0 : S * jet.block * W);   // z of the layer when nothing is saved
        #pragma omp for schedule(dynamic)
        for (long item = 0; item < items; item++) {
            const long m = item / jet.blocks(), n0 = (item % jet.blocks()) * jet.block;
            const long n = std::min(jet.block, N - n0);
            taylor(jet.act, jet.w0, jet.u + (m * N + n0) * W, n * W, order, s.t);
            jet.first_jet(m, n, s.t, s.x);
            for (long l = 0; l <= jet.depth; l++) {
                const long o = jet.out_width(l);
                T* z = l == jet.depth ? s.y : saved ? saved + (l * M + m) * S * N * W + S * n0 * W : spare.data();
                linear(s.x, jet.w[l] + m * W * o, S * n, W, o, z);
                const T* bias = jet.b[l] + m * o;
                for (long r = 0; r < n; r++)
                    for (long j = 0; j < o; j++) z[r * o + j] += bias[j];
                if (l < jet.depth) {
                    taylor(jet.act, jet.w0, z, n * W, order, s.t);
                    jet.jet(z, n, s.t, s.x);
                }
            }
            for (long k = 0; k < S; k++)
                std::memcpy(out + ((m * S + k) * N + n0) * C, s.y + k * n * C, n * C * sizeof(T));
        }
    }
}

// Where one model's parameter gradients lie in a flat buffer: dw (W, out) then db (out) of each
// linear layer l < L, then da (K, W); part p = 2l is dw of layer l, 2l + 1 its db, 2L is da.
template <typename T>
std::vector<long> grad_offsets(const Jet<T>& jet) {
    const long L = jet.depth + 1;
    std::vector<long> offset(2 * L + 2, 0);
    for (long l = 0; l < L; l++) {
        offset[2 * l + 1] = offset[2 * l] + jet.W * jet.out_width(l);
        offset[2 * l + 2] = offset[2 * l + 1] + jet.out_width(l);
    }
    offset[2 * L + 1] = offset[2 * L] + jet.K * jet.W;
    return offset;
}

// The backward of model m's points [n0, n0 + n): writes their du, adds their parameter gradients to
// grads (laid out by grad_offsets).
template <typename T>
void backward_block(const Jet<T>& jet, const std::vector<long>& offset, const T* saved, const T* gout, long m,
                    long n0, long n, Scratch<T>& s, T* du, T* grads) {
    const long M = jet.M, N = jet.N, W = jet.W, S = jet.S, C = jet.C, L = jet.depth + 1;
    T *g = s.x, *h = s.y;   // g = dloss/dz of the layer's output, h = its input activation streams
    for (long k = 0; k < S; k++)
        std::memcpy(g + k * n * C, gout + ((m * S + k) * N + n0) * C, n * C * sizeof(T));
    for (long l = L - 1; l >= 0; l--) {
        const long o = jet.out_width(l);
        const T* z = l ? saved + ((l - 1) * M + m) * S * N * W + S * n0 * W : nullptr;
        taylor(jet.act, jet.w0, l ? z : jet.u + (m * N + n0) * W, n * W, 3, s.t);
        if (l) jet.jet(z, n, s.t, h);
        else jet.first_jet(m, n, s.t, h);
        add_weight_grad(h, g, S * n, W, o, grads + offset[2 * l]);
        T* db = grads + offset[2 * l + 1];
        for (long r = 0; r < n; r++)
            for (long j = 0; j < o; j++) db[j] += g[r * o + j];
        input_grad(g, jet.w[l] + m * W * o, S * n, W, o, h);
        if (l) {
            jet.jet_backward(z, n, s.t, h);
            std::swap(g, h);
        } else {
            jet.first_backward(m, n, s.t, h, du + (m * N + n0) * W, grads + offset[2 * L]);
        }
    }
}

template <typename T>
void backward(const JetArgs& args, const T* saved, const T* gout, T* du, T* da, T* const* dw, T* const* db) {
    const Jet<T> jet(args);
    const long M = jet.M, N = jet.N, W = jet.W, S = jet.S, C = jet.C, K = jet.K, parts = 2 * (jet.depth + 1) + 1;
    const long blocks = jet.blocks(), groups = std::min(blocks, GROUPS);
    const std::vector<long> offset = grad_offsets(jet);
    const long size = offset.back();
    // a group's gradients, [model * groups + group], each allocated apart: glibc's allocator then
    // serves them from its heap call after call, where one allocation of all, over its mmap
    // threshold at larger widths, would be mapped and faulted in anew at every call (+10% of time)
    std::vector<std::vector<T>> sums(M * groups);
    #pragma omp parallel num_threads(int(args.threads))
    {
        Scratch<T> s(S, jet.block, std::max(W, C));
        #pragma omp for schedule(dynamic)
        for (long item = 0; item < M * groups; item++) {
            const long m = item / groups, group = item % groups;
            sums[item].assign(size, T(0));
            T* part = sums[item].data();
            for (long i = group * blocks / groups; i < (group + 1) * blocks / groups; i++) {
                const long n0 = i * jet.block;
                backward_block(jet, offset, saved, gout, m, n0, std::min(jet.block, N - n0), s, du, part);
            }
        }
        #pragma omp for schedule(static)
        for (long item = 0; item < M * parts; item++) {   // part p of model m: the sum of its groups', in order
            const long m = item / parts, p = item % parts, len = offset[p + 1] - offset[p];
            T* target = p == parts - 1 ? da + m * K * W : p % 2 ? db[p / 2] + m * len : dw[p / 2] + m * len;
            std::copy_n(sums[m * groups].data() + offset[p], len, target);
            for (long group = 1; group < groups; group++) {
                const T* add = sums[m * groups + group].data() + offset[p];
                #pragma omp simd
                for (long i = 0; i < len; i++) target[i] += add[i];
            }
        }
    }
}

// The names ACTIVATION_IDS in inr/model/fused_jet.py maps to enum Act
const struct { const char* name; Act id; } ACTIVATIONS[] = {
    {"sine", SINE}, {"finer", FINER}, {"gauss", GAUSS}, {"elu", ELU}};

// The fields _JetArgs in inr/model/fused_jet.py names, with their offsets in JetArgs
#define FIELD(name) {#name, offsetof(JetArgs, name)}
const struct { const char* name; size_t offset; } FIELDS[] = {
    FIELD(models), FIELD(points), FIELD(width), FIELD(outs), FIELD(cols), FIELD(lap), FIELD(depth), FIELD(act),
    FIELD(block), FIELD(threads), FIELD(itemsize), FIELD(w0), FIELD(u), FIELD(a), FIELD(w), FIELD(b)};
#undef FIELD

}  // namespace

extern "C" {

// The layout checks of inr/model/fused_jet.py: the calling convention's version, sizeof(JetArgs), the
// offset of a JetArgs field and the enum Act value of an activation (-1: no such name).
int64_t jet_layout_version() { return LAYOUT_VERSION; }

int64_t jet_args_size() { return sizeof(JetArgs); }

int64_t jet_args_offset(const char* field) {
    for (const auto& f : FIELDS)
        if (!std::strcmp(f.name, field)) return int64_t(f.offset);
    return -1;
}

int64_t jet_activation_id(const char* name) {
    for (const auto& a : ACTIVATIONS)
        if (!std::strcmp(a.name, name)) return a.id;
    return -1;
}

// Forward pass: fills out and, unless saved is null, the pre-activations the backward needs.
int jet_forward(const JetArgs* args, void* saved, void* out) {
    if (args->itemsize == 4) forward(*args, static_cast<float*>(saved), static_cast<float*>(out));
    else if (args->itemsize == 8) forward(*args, static_cast<double*>(saved), static_cast<double*>(out));
    else return 1;
    return 0;
}

// Backward pass from gout = dloss/dout: writes du (M, N, W), da (M, cols, W), dw[l], db[l].
int jet_backward(const JetArgs* args, const void* saved, const void* gout, void* du, void* da,
                 void* const* dw, void* const* db) {
    if (args->itemsize == 4) {
        backward(*args, static_cast<const float*>(saved), static_cast<const float*>(gout), static_cast<float*>(du),
                 static_cast<float*>(da), reinterpret_cast<float* const*>(dw), reinterpret_cast<float* const*>(db));
    } else if (args->itemsize == 8) {
        backward(*args, static_cast<const double*>(saved), static_cast<const double*>(gout),
                 static_cast<double*>(du), static_cast<double*>(da), reinterpret_cast<double* const*>(dw),
                 reinterpret_cast<double* const*>(db));
    } else {
        return 1;
    }
    return 0;
}

}
