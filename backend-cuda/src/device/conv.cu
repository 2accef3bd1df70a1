// Convolutions: the column matrices of im2col (a convolution is then one GEMM per image, see
// matmul.cu) and their adjoint col2im, which gathers columns back into images.
//
// Both kernels see one convolution from its input side: images of `channels` x `height` x
// `width`, a kernel of `kernel_h` x `kernel_w` taps placed at `out_h` x `out_w` positions.
// Position (oh, ow) and tap (kh, kw) meet at image pixel
// (oh * stride_h - pad_h + kh * dilation_h, ow * stride_w - pad_w + kw * dilation_w);
// pixels outside the image are the zero padding. The columns of an image are
// [channels, kernel_h, kernel_w, out_h, out_w]: row (c, kh, kw) holds what tap (kh, kw) of
// channel c reads at every position.
#include "common.cuh"

// The layout of `ConvGeometry` in conv.rs.
struct ConvGeometry {
    long long channels, height, width;
    long long kernel_h, kernel_w;
    long long out_h, out_w;
    long long stride_h, stride_w;
    long long pad_h, pad_w;
    long long dilation_h, dilation_w;
};

// cols[i, c, kh, kw, oh, ow] = x[i, c, oh * sh - ph + kh * dh, ow * sw - pw + kw * dw] (zero in
// the padding) for `images` images.
template <typename T>
__device__ __forceinline__ void im2col(T* cols, const T* x, const ConvGeometry& g,
                                       long long images) {
    const long long positions = g.out_h * g.out_w;
    const long long n = images * g.channels * g.kernel_h * g.kernel_w * positions;
    GRID_STRIDE_LOOP(e, n) {
        long long row = e / positions;
        const long long p = e - row * positions;
        const long long oh = p / g.out_w;
        const long long ow = p - oh * g.out_w;
        long long rest = row / g.kernel_w;
        const long long kw = row - rest * g.kernel_w;
        const long long image_channel = rest / g.kernel_h;
        const long long kh = rest - image_channel * g.kernel_h;
        const long long y = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
        const long long xx = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
        const bool inside = y >= 0 && y < g.height && xx >= 0 && xx < g.width;
        cols[e] = inside ? x[(image_channel * g.height + y) * g.width + xx] : T(0);
    }
}

// The taps of one axis that reach image pixel `pos`: every k in [*first, *last] with
// pos + pad - k * dilation = o * stride for an integer o in [0, out), which *first and *last
// bound and the caller checks for divisibility. Returns pos + pad.
__device__ __forceinline__ long long tap_range(long long pos, long long pad, long long stride,
                                               long long dilation, long long kernel,
                                               long long out, long long* first,
                                               long long* last) {
    const long long top = pos + pad;  // o >= 0: k * dilation <= top
    const long long bottom = top - (out - 1) * stride;  // o < out: k * dilation >= bottom
    const long long highest = top / dilation;
    *last = highest < kernel - 1 ? highest : kernel - 1;
    *first = bottom <= 0 ? 0 : (bottom + dilation - 1) / dilation;
    return top;
}

// The adjoint of im2col: x[i, c, y, xx] = the sum of cols[i, c, kh, kw, oh, ow] over the taps
// and positions that meet at pixel (y, xx), gathered in increasing (kh, kw) order by the
// thread that owns the pixel (no two threads write one element, the order is fixed).
template <typename T>
__device__ __forceinline__ void col2im(T* x, const T* cols, const ConvGeometry& g,
                                       long long images) {
    const long long pixels = g.height * g.width;
    const long long positions = g.out_h * g.out_w;
    const long long taps = g.kernel_h * g.kernel_w;
    const long long n = images * g.channels * pixels;
    GRID_STRIDE_LOOP(e, n) {
        const long long image_channel = e / pixels;
        const long long pixel = e - image_channel * pixels;
        const long long y = pixel / g.width;
        const long long xx = pixel - y * g.width;
        long long kh0, kh1, kw0, kw1;
        const long long top = tap_range(y, g.pad_h, g.stride_h, g.dilation_h, g.kernel_h,
                                        g.out_h, &kh0, &kh1);
        const long long left = tap_range(xx, g.pad_w, g.stride_w, g.dilation_w, g.kernel_w,
                                         g.out_w, &kw0, &kw1);
        const T* channel_cols = cols + image_channel * taps * positions;
        T sum = T(0);
        for (long long kh = kh0; kh <= kh1; ++kh) {
            const long long dy = top - kh * g.dilation_h;
            const long long oh = dy / g.stride_h;
            if (oh * g.stride_h != dy) continue;
            for (long long kw = kw0; kw <= kw1; ++kw) {
                const long long dx = left - kw * g.dilation_w;
                const long long ow = dx / g.stride_w;
                if (ow * g.stride_w != dx) continue;
                sum += channel_cols[(kh * g.kernel_w + kw) * positions + oh * g.out_w + ow];
            }
        }
        x[e] = sum;
    }
}

// A column of padding holds zeros, and 0 * inf is NaN where the definition skips the tap: an
// output whose taps reach the padding under an infinite or NaN weight comes out of the GEMM
// as NaN. Only NaN outputs can be such, so this recomputes each NaN output of the `images`
// images (`outputs` channels, weight [outputs, channels, kernel_h, kernel_w]) by the
// definition, in (c, kh, kw) order, skipping the padding.
template <typename T>
__device__ __forceinline__ void redo_nan(T* out, const T* x, const T* w, const ConvGeometry& g,
                                         long long outputs, long long images) {
    const long long positions = g.out_h * g.out_w;
    const long long n = images * outputs * positions;
    GRID_STRIDE_LOOP(e, n) {
        if (out[e] == out[e]) continue;
        const long long image_output = e / positions;
        const long long p = e - image_output * positions;
        const long long image = image_output / outputs;
        const long long o = image_output - image * outputs;
        const long long oh = p / g.out_w;
        const long long ow = p - oh * g.out_w;
        T sum = T(0);
        for (long long c = 0; c < g.channels; ++c) {
            const T* plane = x + (image * g.channels + c) * g.height * g.width;
            const T* taps = w + (o * g.channels + c) * g.kernel_h * g.kernel_w;
            for (long long kh = 0; kh < g.kernel_h; ++kh) {
                const long long y = oh * g.stride_h - g.pad_h + kh * g.dilation_h;
                if (y < 0 || y >= g.height) continue;
                for (long long kw = 0; kw < g.kernel_w; ++kw) {
                    const long long xx = ow * g.stride_w - g.pad_w + kw * g.dilation_w;
                    if (xx < 0 || xx >= g.width) continue;
                    sum += plane[y * g.width + xx] * taps[kh * g.kernel_w + kw];
                }
            }
        }
        out[e] = sum;
    }
}

#define CONV_KERNELS(SUFFIX, T)                                                              \
    extern "C" __global__ void im2col_##SUFFIX(T* cols, const T* x, ConvGeometry g,          \
                                               long long images) {                           \
        im2col<T>(cols, x, g, images);                                                       \
    }                                                                                        \
    extern "C" __global__ void col2im_##SUFFIX(T* x, const T* cols, ConvGeometry g,          \
                                               long long images) {                           \
        col2im<T>(x, cols, g, images);                                                       \
    }                                                                                        \
    extern "C" __global__ void conv2d_redo_nan_##SUFFIX(T* out, const T* x, const T* w,      \
                                                        ConvGeometry g, long long outputs,   \
                                                        long long images) {                  \
        redo_nan<T>(out, x, w, g, outputs, images);                                          \
    }
CONV_KERNELS(f32, float)
CONV_KERNELS(f64, double)
