// Forward-Laplacian jet of a coordinate MLP after its first linear layer, and its backward, in
// blocks of points small enough to stay in one core's cache (inr/model/fused_jet.py builds and calls it).
//
// Work items are (model m, block of points); each runs on one thread, through every layer, so an
// activation's Taylor rule reads the streams its matmul has just written and the next matmul reads
// what the rule has just written, all in cache. The matmuls are serial BLAS calls (the MKL inside
// libtorch_cpu) on (streams x points, width) row blocks. The first activation applies the Taylor rule
// JetArgs.first_act, the hidden ones JetArgs.act (they differ for H-SIREN only).
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
#if __GLIBC_PREREQ(2, 35)   // libmvec's sinh and cosh came with glibc 2.35
#pragma omp declare simd notinbranch
float sinhf(float);
#pragma omp declare simd notinbranch
float coshf(float);
#pragma omp declare simd notinbranch
double sinh(double);
#pragma omp declare simd notinbranch
double cosh(double);
#endif
#endif

// The calling convention: JetArgs, the entry points' arguments and the array layouts above. Bump it
// (and LAYOUT_VERSION in inr/model/fused_jet.py) on any change to them.
const int64_t LAYOUT_VERSION = 2;

struct JetArgs {            // mirrored by _JetArgs in inr/model/fused_jet.py
    int64_t models, points, width, outs, cols, lap, depth, act, first_act, block, threads, itemsize;
    double w0;              // w0 of FINER and of H-SIREN's first activation
    double r2;              // WIRE's r2 = (s0 / w0)^2, 0 for the others
    const void* u;
    const void* a;
    const void* const* w;   // depth + 1 pointers
    const void* const* b;
};
}

namespace {

// The Taylor rules: ACTIVATION_IDS in inr/model/fused_jet.py maps each Activation.name to its rule
// (act: the hidden activations'; first_act: the first activation's, which differs for H-SIREN).
enum Act { SINE = 0, FINER = 1, GAUSS = 2, ELU = 3, WIRE = 4, SINC = 5, SINH_SINE = 6 };
const int ACTS = 7;

// sinc's derivatives come from its power series at |u| <= SINC_SERIES_BELOW, as in inr.model.networks:
// SINC_SERIES[n][k] = (-1)^k (2k)! / ((2k - n)! (2k + 1)!), the coefficient of u^(2k - n) in the
// n-th derivative of sin(u) / u = sum_k (-1)^k u^(2k) / (2k + 1)!, for 2k >= n (_sinc_series, whose
// float64 values these are, digit for digit).
const double SINC_SERIES_BELOW = 1.0;
const int SINC_TERMS = 10;
const double SINC_SERIES[4][SINC_TERMS] = {
    {1.0, -0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-06,
     -2.505210838544172e-08, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15,
     -8.22063524662433e-18},
    {0, -0.3333333333333333, 0.03333333333333333, -0.0011904761904761906, 2.2045855379188714e-05,
     -2.505210838544172e-07, 1.9270852604185937e-09, -1.0706029224547743e-11, 4.498331606952833e-14,
     -1.4797143443923793e-16},
    {0, -0.3333333333333333, 0.1, -0.005952380952380952, 0.00015432098765432098, -2.2546897546897547e-06,
     2.1197937864604532e-08, -1.3917837991912066e-10, 6.74749741042925e-13, -2.515514385467045e-15},
    {0, 0, 0.2, -0.023809523809523808, 0.000925925925925926, -1.8037518037518038e-05, 2.119793786460453e-07,
     -1.6701405590294479e-09, 9.44649637460095e-12, -4.024823016747272e-14}};

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

// The n-th derivative (n <= 3) of sin(u) / u by its power series, from u2 = u^2 (times u for odd n:
// the caller's), Horner in u^2 as inr.model.networks._sinc_series.
template <int D, typename T>
inline T sinc_series(T u2) {
    T out = T(SINC_SERIES[D][SINC_TERMS - 1]);
    #pragma GCC unroll 16   // unrolled before vectorization: the element loops around it then vectorize
    for (int k = SINC_TERMS - 2; 2 * k >= D; k--) out = out * u2 + T(SINC_SERIES[D][k]);
    return out;
}

// t[k][i] = f^(k)(u[i]) for k <= 3; `order` says which derivatives the caller reads, and only
// the transcendental calls it needs are made. Same formulas as the `taylor` of the activation
// classes in inr.model.networks; w0 and r2 as JetArgs.
template <typename T>
void taylor(int act, double w0, double r2, const T* u, long n, int order, T* const* t) {
    T *t0 = t[0], *t1 = t[1], *t2 = t[2], *t3 = t[3];
    const T w = T(w0);
    switch (act) {
    case SINE:
        if (!sin_cos(u, n, order, t0, t1)) return;
        #pragma omp simd
        for (long i = 0; i < n; i++) { t2[i] = -t0[i]; t3[i] = -t1[i]; }
        return;
    case FINER:   // f = sin(g), g = u + u |u| / w0, g' = 1 + 2 |u| / w0, g'' = 2 sign(u) / w0
        #pragma omp simd
        for (long i = 0; i < n; i++) t3[i] = u[i] + u[i] * std::abs(u[i]) / w;
        if (!sin_cos(t3, n, order, t0, t1)) return;
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T s = t0[i], c = t1[i], g1 = 1 + 2 * std::abs(u[i]) / w;
            T g2 = 2 * T((u[i] > 0) - (u[i] < 0)) / w;
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
    case ELU:     // f = u for u > 0, exp(u) - 1 otherwise
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
        return;
    case WIRE: {  // f = cos(u) e, e = exp(-r2 u^2); e^(k) = p_k(u) e, and f^(k) by Leibniz's rule
        const T na = T(-r2), e1u = T(-2 * r2), e2u2 = T(4 * r2 * r2), e20 = T(2 * r2), e3u = T(12 * r2 * r2),
                e3u3 = T(8 * std::pow(r2, 3));
        #pragma omp simd
        for (long i = 0; i < n; i++) t1[i] = std::exp(na * u[i] * u[i]);
        #pragma omp simd
        for (long i = 0; i < n; i++) t0[i] = std::cos(u[i]);
        if (order < 1) {
            #pragma omp simd
            for (long i = 0; i < n; i++) t0[i] *= t1[i];
            return;
        }
        #pragma omp simd
        for (long i = 0; i < n; i++) t2[i] = std::sin(u[i]);
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T v = u[i], e = t1[i], c = t0[i], s = t2[i];
            T e1 = e1u * v * e, e2 = (e2u2 * v * v - e20) * e, e3 = (e3u * v - e3u3 * (v * v * v)) * e;
            t0[i] = c * e;
            t1[i] = -s * e + c * e1;
            t2[i] = -c * e - 2 * s * e1 + c * e2;
            t3[i] = s * e - 3 * c * e1 - 3 * s * e2 + c * e3;
        }
        return;
    }
    case SINC: {  // f = sin(u) / u: closed forms in v = u above SINC_SERIES_BELOW, the series at and below
        const T below = T(SINC_SERIES_BELOW);
        #pragma omp simd
        for (long i = 0; i < n; i++) t3[i] = std::abs(u[i]) <= below ? T(1) : u[i];   // v: never 0
        if (!sin_cos(t3, n, order, t0, t1)) {
            #pragma omp simd
            for (long i = 0; i < n; i++) {
                T x = u[i], p0 = sinc_series<0>(x * x), f0 = t0[i] / t3[i];
                t0[i] = std::abs(x) <= below ? p0 : f0;
            }
            return;
        }
        #pragma omp simd   // both forms everywhere, then a select: no branch in the loop
        for (long i = 0; i < n; i++) {
            T x = u[i], x2 = x * x, v = t3[i], s = t0[i], c = t1[i], v2 = v * v, v3 = v2 * v;
            bool small = std::abs(x) <= below;
            T f0 = s / v, f1 = (v * c - s) / v2, f2 = (2 * s - 2 * v * c - v * v * s) / v3;
            T f3 = (6 * v * c - 6 * s + 3 * v * v * s - v3 * c) / (v2 * v2);
            T p0 = sinc_series<0>(x2), p1 = sinc_series<1>(x2) * x, p2 = sinc_series<2>(x2);
            T p3 = sinc_series<3>(x2) * x;
            t0[i] = small ? p0 : f0;
            t1[i] = small ? p1 : f1;
            t2[i] = small ? p2 : f2;
            t3[i] = small ? p3 : f3;
        }
        return;
    }
    case SINH_SINE: {   // H-SIREN's first activation: f = sin(g), g = w0 sinh(x), x = 2 u / w0,
        // g' = 2 cosh(x), g'' = 4 sinh(x) / w0, g''' = 8 cosh(x) / w0^2
        const T ww = T(w0 * w0);
        #pragma omp simd
        for (long i = 0; i < n; i++) t2[i] = std::sinh(2 * u[i] / w);
        #pragma omp simd
        for (long i = 0; i < n; i++) t1[i] = w * t2[i];
        if (!sin_cos(t1, n, order, t0, t1)) return;   // cos(g) overwrites g
        #pragma omp simd
        for (long i = 0; i < n; i++) t3[i] = std::cosh(2 * u[i] / w);
        #pragma omp simd
        for (long i = 0; i < n; i++) {
            T s = t0[i], c = t1[i], g1 = 2 * t3[i], g2 = 4 * t2[i] / w, g3 = 8 * t3[i] / ww;
            t1[i] = c * g1;
            t2[i] = c * g2 - s * (g1 * g1);
            t3[i] = c * g3 - 3 * s * g1 * g2 - c * (g1 * g1 * g1);
        }
        return;
    }
    }
}

// The shapes of one call, and the per-thread work of one block of points.
template <typename T>
struct Jet {
    long M, N, W, C, K, S, depth, block;
    bool lap;
    int act, first_act;   // the Taylor rules of the hidden activations and of the first
    double w0, r2;
    const T* u;
    const T* a;
    std::vector<const T*> w, b;

    explicit Jet(const JetArgs& x)
        : M(x.models), N(x.points), W(x.width), C(x.outs), K(x.cols), S(1 + x.cols + x.lap),
          depth(x.depth), block(x.block), lap(x.lap != 0), act(int(x.act)),
          first_act(int(x.first_act)), w0(x.w0), r2(x.r2),
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
            taylor(jet.first_act, jet.w0, jet.r2, jet.u + (m * N + n0) * W, n * W, order, s.t);
            jet.first_jet(m, n, s.t, s.x);
            for (long l = 0; l <= jet.depth; l++) {
                const long o = jet.out_width(l);
                T* z = l == jet.depth ? s.y : saved ? saved + (l * M + m) * S * N * W + S * n0 * W : spare.data();
                linear(s.x, jet.w[l] + m * W * o, S * n, W, o, z);
                const T* bias = jet.b[l] + m * o;
                for (long r = 0; r < n; r++)
                    for (long j = 0; j < o; j++) z[r * o + j] += bias[j];
                if (l < jet.depth) {
                    taylor(jet.act, jet.w0, jet.r2, z, n * W, order, s.t);
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
        if (l) taylor(jet.act, jet.w0, jet.r2, z, n * W, 3, s.t);
        else taylor(jet.first_act, jet.w0, jet.r2, jet.u + (m * N + n0) * W, n * W, 3, s.t);
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
    {"sine", SINE}, {"finer", FINER}, {"gauss", GAUSS}, {"elu", ELU}, {"wire", WIRE}, {"sinc", SINC},
    {"hsiren", SINE}, {"hsiren-first", SINH_SINE}};

// The fields _JetArgs in inr/model/fused_jet.py names, with their offsets in JetArgs
#define FIELD(name) {#name, offsetof(JetArgs, name)}
const struct { const char* name; size_t offset; } FIELDS[] = {
    FIELD(models), FIELD(points), FIELD(width), FIELD(outs), FIELD(cols), FIELD(lap), FIELD(depth), FIELD(act),
    FIELD(first_act), FIELD(block), FIELD(threads), FIELD(itemsize), FIELD(w0), FIELD(r2), FIELD(u), FIELD(a),
    FIELD(w), FIELD(b)};
#undef FIELD

// Whether the call names Taylor rules of enum Act and an item size of float or double
bool valid(const JetArgs* args) {
    return args->act >= 0 && args->act < ACTS && args->first_act >= 0 && args->first_act < ACTS &&
           (args->itemsize == 4 || args->itemsize == 8);
}

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
// Returns 1, having done nothing, where valid() refuses the arguments.
int jet_forward(const JetArgs* args, void* saved, void* out) {
    if (!valid(args)) return 1;
    if (args->itemsize == 4) forward(*args, static_cast<float*>(saved), static_cast<float*>(out));
    else if (args->itemsize == 8) forward(*args, static_cast<double*>(saved), static_cast<double*>(out));
    else return 1;
    return 0;
}

// Backward pass from gout = dloss/dout: writes du (M, N, W), da (M, cols, W), dw[l], db[l].
int jet_backward(const JetArgs* args, const void* saved, const void* gout, void* du, void* da,
                 void* const* dw, void* const* db) {
    if (!valid(args)) return 1;
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
