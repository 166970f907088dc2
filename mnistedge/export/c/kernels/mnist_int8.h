/* mnist_int8.h: int8 inference kernels, bit-exact with TFLite's reference integer kernels.
 *
 * C99, header only, no heap, nothing from libc beyond <stdint.h>, <stddef.h> and <limits.h>.
 * Each kernel is one function named by op and type (mnist_fully_connected_s8, ...), its
 * parameters in small structs, int32 accumulators and one shared requantization helper.
 *
 * Which rounding, measured (tests/test_c_kernels.py; trained tiny models, every output element):
 *   - LiteRT OpResolverType.BUILTIN_REF FULLY_CONNECTED uses SINGLE rounding (TFLITE_SINGLE_ROUNDING's
 *     MultiplyByQuantizedMultiplier: one int64 product, one round-half-up shift). On a 784-32-10
 *     Dense model over 800 images: 0 mismatches; TFLite's double rounding: 13.
 *   - LiteRT BUILTIN_REF CONV_2D (per-channel) uses DOUBLE rounding (SaturatingRoundingDoublingHighMul
 *     then RoundingDivideByPOT); single rounding differs by 1 LSB on some elements.
 *   - LiteRT's optimized FULLY_CONNECTED (BUILTIN_WITHOUT_DEFAULT_DELEGATES, ruy) uses neither:
 *     SaturatingRoundingDoublingHighMul, then a right shift rounding half UP, (x + 2**(e-1)) >> e,
 *     not RoundingDivideByPOT's half away from zero: 0 mismatches on the same model and images,
 *     13 with double rounding, 14 with single rounding.
 *   So BUILTIN_REF, the optimized kernels and TFLM (double rounding) can differ by 1 LSB on a
 *   product that lands on or next to a rounding tie. To match BUILTIN_REF, the FC kernel here
 *   requantizes with mnist_requantize_single_s8 and the conv kernel with mnist_requantize_s8.
 *
 * Shifts are done on unsigned or 64-bit values and right shifts of negative values through
 * mnist_asr*, so nothing relies on signed overflow or implementation-defined shifts.
 */
#ifndef MNIST_INT8_H
#define MNIST_INT8_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Constant arrays are word-aligned so kernels may load 4 int8 at a time (GNU C; a no-op elsewhere). */
#if defined(__GNUC__) || defined(__clang__)
#define MNIST_ALIGNED(n) __attribute__((aligned(n)))
#else
#define MNIST_ALIGNED(n)
#endif

/* ---- Requantization primitives (mirrors of mnistedge/export/c/quant.py) ---- */

/* Arithmetic (flooring) right shift, defined for negative values too. */
static inline int64_t mnist_asr64(int64_t x, int n) { return x >= 0 ? x >> n : -1 - ((-1 - x) >> n); }
static inline int32_t mnist_asr32(int32_t x, int n) { return x >= 0 ? x >> n : -1 - ((-1 - x) >> n); }

/* The low 32 bits of x as a two's-complement int32 (what an int32 product wraps to). */
static inline int32_t mnist_wrap_i32(int64_t x) {
    uint32_t u = (uint32_t)x; /* conversion to unsigned is modular: well defined */
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 2147483648u) - INT32_MAX - 1;
}

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2**31), INT32_MIN^2 -> INT32_MAX. */
static inline int32_t mnist_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : (1 - (INT64_C(1) << 30));
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* C99 '/' truncates toward zero */
}

/* gemmlowp RoundingDivideByPOT: x / 2**exponent, halves away from zero; exponent in [0, 31]. */
static inline int32_t mnist_rounding_divide_by_pot(int32_t x, int exponent) {
    uint32_t mask = (exponent >= 31) ? 0x7FFFFFFFu : ((1u << exponent) - 1u);
    int32_t remainder = (int32_t)((uint32_t)x & mask);
    int32_t threshold = (int32_t)(mask >> 1) + (x < 0 ? 1 : 0);
    return mnist_asr32(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's double-rounding MultiplyByQuantizedMultiplier (TFLM; BUILTIN_REF's CONV_2D, measured). */
static inline int32_t mnist_multiply_by_quantized_multiplier_double_rounding(int32_t x, int32_t multiplier,
                                                                             int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t scaled = mnist_wrap_i32((int64_t)x * (INT64_C(1) << left)); /* not x * (1 << left): UB */
    return mnist_rounding_divide_by_pot(mnist_saturating_rounding_doubling_high_mul(scaled, multiplier), right);
}

/* TFLITE_SINGLE_ROUNDING MultiplyByQuantizedMultiplier, what BUILTIN_REF's FC runs (measured, above):
 * multiplier >= 0, shift in [-31, 30]. */
static inline int32_t mnist_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
    int total_shift = 31 - shift;
    int64_t product = (int64_t)x * (int64_t)multiplier + (INT64_C(1) << (total_shift - 1));
    return mnist_wrap_i32(mnist_asr64(product, total_shift));
}

static inline int32_t mnist_clamp_i32(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* Requantization of an int32 accumulator to int8 with double rounding (BUILTIN_REF's CONV_2D). */
static inline int8_t mnist_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                         int32_t act_min, int32_t act_max) {
    int32_t y = mnist_multiply_by_quantized_multiplier_double_rounding(acc, multiplier, (int)shift) + output_offset;
    return (int8_t)mnist_clamp_i32(y, act_min, act_max);
}

/* The same with single rounding (BUILTIN_REF's FULLY_CONNECTED). */
static inline int8_t mnist_requantize_single_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                                int32_t output_offset, int32_t act_min, int32_t act_max) {
    int32_t y = mnist_multiply_by_quantized_multiplier(acc, multiplier, (int)shift) + output_offset;
    return (int8_t)mnist_clamp_i32(y, act_min, act_max);
}

/* ---- Parameter structs ---- */

typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t act_min;       /* fused activation clamp, int8 */
    int32_t act_max;
} mnist_quant_params;

typedef struct {
    const int32_t *multiplier; /* one per output channel (Q0.31) */
    const int32_t *shift;      /* one per output channel (positive = left) */
} mnist_per_channel_quant;

typedef struct {
    int32_t batches, height, width, channels; /* NHWC */
} mnist_dims;

typedef struct {
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w; /* from mnist_compute_padding */
} mnist_conv_geometry;

/* TFLite's ComputePaddingHeightWidth for one axis: SAME and VALID both reduce to this, given the
 * output size ((in + stride - 1) / stride for SAME, (in - eff + stride) / stride for VALID). */
static inline int32_t mnist_compute_padding(int32_t stride, int32_t dilation, int32_t in_size, int32_t filter_size,
                                            int32_t out_size) {
    int32_t effective = (filter_size - 1) * dilation + 1;
    int32_t padding = ((out_size - 1) * stride + effective - in_size) / 2;
    return padding > 0 ? padding : 0;
}

/* ---- Kernels ---- */

/* FULLY_CONNECTED, int8, per-channel weights (reference_integer_ops::FullyConnectedPerChannel).
 * input [batches, input_depth], filter [output_depth, input_depth] (zero point 0),
 * bias [output_depth] int32 or NULL, output [batches, output_depth]. */
static inline void mnist_fully_connected_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                            int32_t batches, int32_t input_depth, int32_t output_depth,
                                            const int8_t *input, const int8_t *filter, const int32_t *bias,
                                            int8_t *output) {
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + (size_t)b * (size_t)input_depth;
        for (int32_t oc = 0; oc < output_depth; ++oc) {
            const int8_t *w = filter + (size_t)oc * (size_t)input_depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < input_depth; ++d) acc += (int32_t)w[d] * ((int32_t)in[d] + params->input_offset);
            if (bias) acc += bias[oc];
            output[(size_t)b * (size_t)output_depth + (size_t)oc] = mnist_requantize_single_s8(
                acc, quant->multiplier[oc], quant->shift[oc], params->output_offset, params->act_min, params->act_max);
        }
    }
}

/* CONV_2D, int8, per-channel weights (reference_integer_ops::ConvPerChannel), NHWC.
 * filter [out_channels, filter_h, filter_w, in_channels] (OHWI, zero point 0), bias int32 or NULL. */
static inline void mnist_convolve_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                     const mnist_conv_geometry *geo, const mnist_dims *in_dims, const int8_t *input,
                                     int32_t filter_h, int32_t filter_w, const int8_t *filter, const int32_t *bias,
                                     const mnist_dims *out_dims, int8_t *output) {
    const int32_t in_c = in_dims->channels, out_c = out_dims->channels;
    for (int32_t b = 0; b < out_dims->batches; ++b) {
        for (int32_t oy = 0; oy < out_dims->height; ++oy) {
            const int32_t in_y0 = oy * geo->stride_h - geo->pad_h;
            for (int32_t ox = 0; ox < out_dims->width; ++ox) {
                const int32_t in_x0 = ox * geo->stride_w - geo->pad_w;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    int32_t acc = 0;
                    for (int32_t fy = 0; fy < filter_h; ++fy) {
                        const int32_t iy = in_y0 + geo->dilation_h * fy;
                        if (iy < 0 || iy >= in_dims->height) continue;
                        for (int32_t fx = 0; fx < filter_w; ++fx) {
                            const int32_t ix = in_x0 + geo->dilation_w * fx;
                            if (ix < 0 || ix >= in_dims->width) continue; /* zero padding: skipped */
                            const int8_t *in = input + (((size_t)b * (size_t)in_dims->height + (size_t)iy) *
                                                            (size_t)in_dims->width + (size_t)ix) * (size_t)in_c;
                            const int8_t *w = filter + (((size_t)oc * (size_t)filter_h + (size_t)fy) *
                                                            (size_t)filter_w + (size_t)fx) * (size_t)in_c;
                            for (int32_t ic = 0; ic < in_c; ++ic)
                                acc += (int32_t)w[ic] * ((int32_t)in[ic] + params->input_offset);
                        }
                    }
                    if (bias) acc += bias[oc];
                    output[(((size_t)b * (size_t)out_dims->height + (size_t)oy) * (size_t)out_dims->width +
                            (size_t)ox) * (size_t)out_c + (size_t)oc] =
                        mnist_requantize_s8(acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                                            params->act_min, params->act_max);
                }
            }
        }
    }
}

/* MAX_POOL_2D, int8 (reference_integer_ops::MaxPool): padding cells are skipped, never max'ed;
 * input and output share scale and zero point, so only the activation clamp applies. */
static inline void mnist_max_pool_s8(const mnist_conv_geometry *geo, int32_t filter_h, int32_t filter_w,
                                     int32_t act_min, int32_t act_max, const mnist_dims *in_dims, const int8_t *input,
                                     const mnist_dims *out_dims, int8_t *output) {
    const int32_t depth = in_dims->channels;
    for (int32_t b = 0; b < out_dims->batches; ++b) {
        for (int32_t oy = 0; oy < out_dims->height; ++oy) {
            const int32_t in_y0 = oy * geo->stride_h - geo->pad_h;
            const int32_t fy_start = in_y0 < 0 ? -in_y0 : 0;
            const int32_t fy_end = filter_h < in_dims->height - in_y0 ? filter_h : in_dims->height - in_y0;
            for (int32_t ox = 0; ox < out_dims->width; ++ox) {
                const int32_t in_x0 = ox * geo->stride_w - geo->pad_w;
                const int32_t fx_start = in_x0 < 0 ? -in_x0 : 0;
                const int32_t fx_end = filter_w < in_dims->width - in_x0 ? filter_w : in_dims->width - in_x0;
                for (int32_t c = 0; c < depth; ++c) {
                    int32_t max = INT8_MIN;
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t v = input[(((size_t)b * (size_t)in_dims->height + (size_t)(in_y0 + fy)) *
                                                         (size_t)in_dims->width + (size_t)(in_x0 + fx)) * (size_t)depth +
                                                    (size_t)c];
                            if (v > max) max = v;
                        }
                    }
                    output[(((size_t)b * (size_t)out_dims->height + (size_t)oy) * (size_t)out_dims->width +
                            (size_t)ox) * (size_t)depth + (size_t)c] = (int8_t)mnist_clamp_i32(max, act_min, act_max);
                }
            }
        }
    }
}

#endif /* MNIST_INT8_H */
