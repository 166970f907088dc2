/* mnist_int8.h: int8 inference kernels, bit-exact with TFLite's reference integer kernels.
 *
 * C99, header only, no heap, nothing from libc beyond <stdint.h>, <stddef.h> and <limits.h> (and, on a
 * core with the DSP extension such as the Cortex-M4, the compiler's <arm_acle.h>).
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

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2**31), INT32_MIN^2 -> INT32_MAX.
 * gemmlowp adds a nudge of 2**30 (1 - 2**30 for a negative product) and truncates toward zero;
 * that is exactly floor((a * b + 2**30) / 2**31) either way (for a product p < 0, truncating
 * p + 1 - 2**30 toward zero is flooring it plus 2**31 - 1), which the M4 does in one SMLAL and
 * two shifts instead of a branchy 64-bit division. */
static inline int32_t mnist_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    return (int32_t)mnist_asr64((int64_t)a * (int64_t)b + (INT64_C(1) << 30), 31); /* in int32 range */
}

/* gemmlowp RoundingDivideByPOT: x / 2**exponent, halves away from zero; exponent in [0, 31]. */
static inline int32_t mnist_rounding_divide_by_pot(int32_t x, int exponent) {
    const uint32_t mask = 0x7FFFFFFFu >> (31 - exponent); /* 2**exponent - 1 */
    const int32_t remainder = (int32_t)((uint32_t)x & mask);
    const int32_t threshold = (int32_t)(mask >> 1) + (x < 0 ? 1 : 0);
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

/* ---- Dot products: the Cortex-M4's DSP extension, plain C elsewhere ----
 *
 * A convolution multiplies int8 weights by int8 inputs plus the input offset, a value in [-255, 255]:
 * both fit int16, so the M4's SMLAD (two 16x16 multiplies added to an int32 accumulator in one
 * instruction) computes exactly the sum the plain C loop does. It does not saturate, and products
 * are at most 128 * 255, so the int32 sums of a few thousand of them never wrap either: the
 * result is bit-identical to plain C, whatever the order of the additions. SXTB16 widens int8
 * bytes 0 and 2 of a word to two int16 (with ROR #8, bytes 1 and 3), so four weights loaded as one
 * word become (w0, w2) and (w1, w3), and the inputs are stored in that order to match (below). */

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h> /* the compiler's ACLE intrinsics: __sxtb16, __sadd16, __smlad */
#define MNIST_DSP 1
#else
#define MNIST_DSP 0
#endif

#if MNIST_DSP
/* 4 bytes from any address in one LDR: the M4 loads unaligned words, and memcpy is how C says
 * so without breaking aliasing rules (GCC's builtin, so no <string.h>). */
static inline uint32_t mnist_load32(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

static inline void mnist_store32(void *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }

/* Bytes 1 and 3 of x sign-extended to int16 halves; GCC does not fold a rotate into SXTB16's
 * operand, and a separate ROR would cost one instruction per four MACs. */
static inline int16x2_t mnist_sxtb16_ror8(uint32_t x) {
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* The same int16 value in both halves (for SADD16). */
static inline int16x2_t mnist_dup16(int32_t v) {
    uint32_t u = ((uint32_t)v & 0xFFFFu) * 0x00010001u;
    return (int16x2_t)u; /* GCC converts out-of-range values modulo 2**32 (documented) */
}
#endif

/* Convolution patches are copied (im2col) into a column pair: two output pixels' patches
 * (filter_h * filter_w * in_c values each: input value + input offset, or 0 in the padding) as
 * int16, so that one pass over a filter row serves both pixels.
 * On the M4 the two are interleaved: patch values k < k4 (k4 = patch & ~3) in groups of four,
 * (x0, x2, x1, x3) of pixel 0 then of pixel 1, matching SXTB16's order; the patch % 4 values
 * left follow one by one, pixel 0 then pixel 1. Elsewhere pixel 1's patch simply follows pixel
 * 0's, in order, which a host compiler vectorizes. */
static inline size_t mnist_column_index(int32_t k, int32_t pixel, int32_t patch) {
#if MNIST_DSP
    const int32_t k4 = patch & ~3;
    if (k >= k4) return (size_t)(2 * k4 + 2 * (k - k4) + pixel);
    return (size_t)(2 * (k & ~3) + 4 * pixel + ((k & 1) << 1) + ((k >> 1) & 1));
#else
    return (size_t)pixel * (size_t)patch + (size_t)k;
#endif
}

/* Column values k .. k + count - 1 of `pixel`: src[i] + offset, or 0 where src is NULL (padding:
 * TFLite skips those taps, and a 0 adds nothing to the sum). */
static inline void mnist_column_run(int16_t *column, int32_t pixel, int32_t patch, int32_t k, int32_t count,
                                    const int8_t *src, int32_t offset) {
    int32_t i = 0;
#if MNIST_DSP
    const int32_t k4 = patch & ~3;
    for (; i < count && ((k + i) & 3) != 0; ++i)
        column[mnist_column_index(k + i, pixel, patch)] = (int16_t)(src ? src[i] + offset : 0);
    const int32_t groups_end = (k + count < k4 ? k + count : k4) - k; /* whole groups: i < groups_end */
    int16_t *dst = column + 2 * (k + i) + 4 * pixel;
    if (src) {
        const int16x2_t offsets = mnist_dup16(offset);
        for (; i + 4 <= groups_end; i += 4, dst += 8) { /* 4 int8 in one load, widened two at a time */
            const uint32_t x = mnist_load32(src + i);
            mnist_store32(dst, (uint32_t)__sadd16(__sxtb16(x), offsets));
            mnist_store32(dst + 2, (uint32_t)__sadd16(mnist_sxtb16_ror8(x), offsets));
        }
    } else {
        for (; i + 4 <= groups_end; i += 4, dst += 8) {
            mnist_store32(dst, 0);
            mnist_store32(dst + 2, 0);
        }
    }
#endif
    for (; i < count; ++i) column[mnist_column_index(k + i, pixel, patch)] = (int16_t)(src ? src[i] + offset : 0);
}

/* im2col of the output pixel whose window starts at input (in_y0, in_x0): each filter row's
 * valid taps [fx0, fx1) are one contiguous run of the NHWC input row when dilation_w is 1. */
static inline void mnist_column_fill(int16_t *column, int32_t pixel, int32_t patch, const mnist_conv_geometry *geo,
                                     const mnist_dims *in_dims, const int8_t *image, int32_t filter_h,
                                     int32_t filter_w, int32_t input_offset, int32_t in_y0, int32_t in_x0) {
    const int32_t in_c = in_dims->channels, width = in_dims->width, dil_w = geo->dilation_w;
    int32_t fx0 = 0, fx1 = filter_w;
    while (fx0 < filter_w && in_x0 + dil_w * fx0 < 0) ++fx0;
    while (fx1 > fx0 && in_x0 + dil_w * (fx1 - 1) >= width) --fx1;
    int32_t k = 0;
    for (int32_t fy = 0; fy < filter_h; ++fy) {
        const int32_t iy = in_y0 + geo->dilation_h * fy;
        if (iy < 0 || iy >= in_dims->height) {
            mnist_column_run(column, pixel, patch, k, filter_w * in_c, NULL, 0);
            k += filter_w * in_c;
            continue;
        }
        const int8_t *row = image + (size_t)iy * (size_t)width * (size_t)in_c;
        mnist_column_run(column, pixel, patch, k, fx0 * in_c, NULL, 0);
        k += fx0 * in_c;
        if (dil_w == 1) {
            mnist_column_run(column, pixel, patch, k, (fx1 - fx0) * in_c, row + (size_t)(in_x0 + fx0) * (size_t)in_c,
                             input_offset);
            k += (fx1 - fx0) * in_c;
        } else {
            for (int32_t fx = fx0; fx < fx1; ++fx, k += in_c)
                mnist_column_run(column, pixel, patch, k, in_c, row + (size_t)(in_x0 + dil_w * fx) * (size_t)in_c,
                                 input_offset);
        }
        mnist_column_run(column, pixel, patch, k, (filter_w - fx1) * in_c, NULL, 0);
        k += (filter_w - fx1) * in_c;
    }
}

/* acc[2 * p + r] += sum over k of row_r[k] * (pixel p's column value k): two filter rows (output
 * channels) against a column pair, each weight load serving two pixels and each column load two
 * channels (CMSIS-NN's arm_nn_mat_mult_kernel_s8_s16). 16 MACs a group: 8 SMLAD, 2 + 4 loads,
 * 4 SXTB16. */
static inline void mnist_dot_2x2(const int16_t *column, const int8_t *row0, const int8_t *row1, int32_t patch,
                                 int32_t acc[4]) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0; /* a<pixel><row> */
    const int16_t *c = column;
    int32_t k = 0;
#if MNIST_DSP
    /* Hand-scheduled: in C, GCC keeps all four column words and the loop end live, runs out of
     * registers and spills inside the loop (24 instructions a group instead of 20). Here the
     * column words stream through one register: 13 registers, 16 MACs in 20 instructions, two
     * groups an iteration (38 instructions) while at least two are left. */
#define MNIST_DOT_2X2_GROUP                                                                             \
    "ldr %[we], [%[w0]], #4\n\t"                                                                        \
    "ldr %[ve], [%[w1]], #4\n\t"                                                                        \
    "ldr %[x], [%[c]], #4\n\t" /* pixel 0: (x0, x2) */                                                  \
    "sxtb16 %[wo], %[we], ror #8\n\t"                                                                   \
    "sxtb16 %[we], %[we]\n\t"                                                                           \
    "sxtb16 %[vo], %[ve], ror #8\n\t"                                                                   \
    "sxtb16 %[ve], %[ve]\n\t"                                                                           \
    "smlad %[a00], %[we], %[x], %[a00]\n\t"                                                             \
    "smlad %[a01], %[ve], %[x], %[a01]\n\t"                                                             \
    "ldr %[x], [%[c]], #4\n\t" /* pixel 0: (x1, x3) */                                                  \
    "smlad %[a00], %[wo], %[x], %[a00]\n\t"                                                             \
    "smlad %[a01], %[vo], %[x], %[a01]\n\t"                                                             \
    "ldr %[x], [%[c]], #4\n\t" /* pixel 1 */                                                            \
    "smlad %[a10], %[we], %[x], %[a10]\n\t"                                                             \
    "smlad %[a11], %[ve], %[x], %[a11]\n\t"                                                             \
    "ldr %[x], [%[c]], #4\n\t"                                                                          \
    "smlad %[a10], %[wo], %[x], %[a10]\n\t"                                                             \
    "smlad %[a11], %[vo], %[x], %[a11]\n\t"
    const int32_t k4 = patch & ~3, pairs = k4 / 8;
    if (pairs > 0 || k4 >= 4) {
        int32_t we, wo, ve, vo, x;
        const int8_t *w0 = row0, *w1 = row1;
        if (pairs > 0) {
            const int8_t *end = row0 + 8 * pairs;
            __asm__("1:\n\t" MNIST_DOT_2X2_GROUP MNIST_DOT_2X2_GROUP
                    "cmp %[w0], %[end]\n\t"
                    "bne 1b"
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+&r"(c),
                      [w0] "+&r"(w0), [w1] "+&r"(w1), [we] "=&r"(we), [wo] "=&r"(wo), [ve] "=&r"(ve),
                      [vo] "=&r"(vo), [x] "=&r"(x)
                    : [end] "r"(end) /* "+&r" above: end may equal w1's start, yet needs its own register */
                    : "cc", "memory");
        }
        if (k4 & 4) {
            __asm__(MNIST_DOT_2X2_GROUP
                    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+&r"(c),
                      [w0] "+&r"(w0), [w1] "+&r"(w1), [we] "=&r"(we), [wo] "=&r"(wo), [ve] "=&r"(ve),
                      [vo] "=&r"(vo), [x] "=&r"(x)
                    :
                    : "memory");
        }
    }
#undef MNIST_DOT_2X2_GROUP
    k = k4;
    for (; k < patch; ++k, c += 2) {
        a00 += row0[k] * c[0];
        a10 += row0[k] * c[1];
        a01 += row1[k] * c[0];
        a11 += row1[k] * c[1];
    }
#else
    /* Blocks of 16 with a constant trip count: what GCC's -O2 ("very cheap") vectorizer takes. */
    for (; k + 16 <= patch; k += 16) {
        for (int32_t j = 0; j < 16; ++j) {
            a00 += row0[k + j] * c[k + j];
            a10 += row0[k + j] * c[patch + k + j];
            a01 += row1[k + j] * c[k + j];
            a11 += row1[k + j] * c[patch + k + j];
        }
    }
    for (; k < patch; ++k) {
        a00 += row0[k] * c[k];
        a10 += row0[k] * c[patch + k];
        a01 += row1[k] * c[k];
        a11 += row1[k] * c[patch + k];
    }
#endif
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* ---- Kernels ---- */

/* FULLY_CONNECTED, int8, per-channel weights (reference_integer_ops::FullyConnectedPerChannel).
 * input [batches, input_depth], filter [output_depth, input_depth] (zero point 0),
 * bias [output_depth] int32 or NULL, output [batches, output_depth].
 * Two output channels a pass, so each input word is loaded and widened once for both (on the M4);
 * an odd last channel is paired with itself. */
static inline void mnist_fully_connected_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                            int32_t batches, int32_t input_depth, int32_t output_depth,
                                            const int8_t *input, const int8_t *filter, const int32_t *bias,
                                            int8_t *output) {
    const int32_t offset = params->input_offset;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + (size_t)b * (size_t)input_depth;
        int8_t *out = output + (size_t)b * (size_t)output_depth;
        for (int32_t oc = 0; oc < output_depth; oc += 2) {
            const int32_t oc1 = oc + 1 < output_depth ? oc + 1 : oc;
            const int8_t *w = filter + (size_t)oc * (size_t)input_depth;
            const int8_t *v = filter + (size_t)oc1 * (size_t)input_depth;
            int32_t acc0 = 0, acc1 = 0, d = 0;
#if MNIST_DSP
            for (; d + 4 <= input_depth; d += 4) {
                const uint32_t x = mnist_load32(in + d), ww = mnist_load32(w + d), vv = mnist_load32(v + d);
                const int16x2_t x_even = __sadd16(__sxtb16(x), mnist_dup16(offset));
                const int16x2_t x_odd = __sadd16(mnist_sxtb16_ror8(x), mnist_dup16(offset));
                acc0 = __smlad(__sxtb16(ww), x_even, acc0);
                acc0 = __smlad(mnist_sxtb16_ror8(ww), x_odd, acc0);
                acc1 = __smlad(__sxtb16(vv), x_even, acc1);
                acc1 = __smlad(mnist_sxtb16_ror8(vv), x_odd, acc1);
            }
#endif
            for (; d < input_depth; ++d) {
                const int32_t x = in[d] + offset;
                acc0 += w[d] * x;
                acc1 += v[d] * x;
            }
            if (bias) {
                acc0 += bias[oc];
                acc1 += bias[oc1];
            }
            out[oc] = mnist_requantize_single_s8(acc0, quant->multiplier[oc], quant->shift[oc],
                                                 params->output_offset, params->act_min, params->act_max);
            out[oc1] = mnist_requantize_single_s8(acc1, quant->multiplier[oc1], quant->shift[oc1],
                                                  params->output_offset, params->act_min, params->act_max);
        }
    }
}

/* The straightforward CONV_2D loop: a bounds check per tap, one MAC at a time. What the column
 * kernel below falls back to for patches over MNIST_CONV_PATCH_MAX values, and its reference in
 * the tests. */
static inline void mnist_convolve_rows_direct_s8(const mnist_quant_params *params,
                                                 const mnist_per_channel_quant *quant, const mnist_conv_geometry *geo,
                                                 const mnist_dims *in_dims, const int8_t *input, int32_t filter_h,
                                                 int32_t filter_w, const int8_t *filter, const int32_t *bias,
                                                 const mnist_dims *out_dims, int32_t b, int32_t row_begin,
                                                 int32_t row_end, int8_t *rows_out) {
    const int32_t in_c = in_dims->channels, out_c = out_dims->channels;
    int8_t *out = rows_out;
    for (int32_t oy = row_begin; oy < row_end; ++oy) {
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
                *out++ = mnist_requantize_s8(acc, quant->multiplier[oc], quant->shift[oc], params->output_offset,
                                             params->act_min, params->act_max);
            }
        }
    }
}

/* The largest patch (filter_h * filter_w * in_c) the column kernel takes: its column pair lives on
 * the stack, 4 bytes per patch value (2.3 KB for a 3x3x64 filter, 4 KB at most by default).
 * Larger patches run the direct loop. */
#ifndef MNIST_CONV_PATCH_MAX
#define MNIST_CONV_PATCH_MAX 1024
#endif

/* CONV_2D output rows [row_begin, row_end) of batch b, written contiguously to rows_out
 * (row_end - row_begin rows of out_dims->width * out_dims->channels int8 values).
 * Two output pixels at a time: both patches go into a column pair (im2col), then each pair of
 * output channels takes one pass over its two filter rows (mnist_dot_2x2). An odd last pixel or
 * channel is paired with itself and its duplicate result dropped. */
/* The column pair's bytes for a filter of `patch` values (0: the direct loop runs, no workspace). */
#define MNIST_CONV_WORKSPACE_BYTES(patch) ((patch) > MNIST_CONV_PATCH_MAX ? 0 : 4 * (patch))

/* The same with the column pair in `column` (MNIST_CONV_WORKSPACE_BYTES(patch) bytes, 4-aligned):
 * generated code passes planned scratch there, so the static buffer accounts for it, not the stack. */
static inline void mnist_convolve_rows_ws_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                             const mnist_conv_geometry *geo, const mnist_dims *in_dims,
                                             const int8_t *input, int32_t filter_h, int32_t filter_w,
                                             const int8_t *filter, const int32_t *bias, const mnist_dims *out_dims,
                                             int32_t b, int32_t row_begin, int32_t row_end, int8_t *rows_out,
                                             int16_t *column) {
    const int32_t out_c = out_dims->channels, width = out_dims->width;
    const int32_t patch = filter_h * filter_w * in_dims->channels;
    if (patch > MNIST_CONV_PATCH_MAX || column == NULL) {
        mnist_convolve_rows_direct_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, out_dims,
                                      b, row_begin, row_end, rows_out);
        return;
    }
    const int8_t *image =
        input + (size_t)b * (size_t)in_dims->height * (size_t)in_dims->width * (size_t)in_dims->channels;
    const int32_t first = row_begin * width, last = row_end * width;
    int8_t *out = rows_out;
    for (int32_t pixel = first; pixel < last; pixel += 2) {
        const int32_t pixels = last - pixel >= 2 ? 2 : 1;
        for (int32_t p = 0; p < 2; ++p) {
            const int32_t at = pixel + (p < pixels ? p : 0), oy = at / width, ox = at % width;
            mnist_column_fill(column, p, patch, geo, in_dims, image, filter_h, filter_w, params->input_offset,
                              oy * geo->stride_h - geo->pad_h, ox * geo->stride_w - geo->pad_w);
        }
        for (int32_t oc = 0; oc < out_c; oc += 2) {
            const int32_t channels = out_c - oc >= 2 ? 2 : 1;
            const int8_t *row0 = filter + (size_t)oc * (size_t)patch;
            int32_t acc[4];
            mnist_dot_2x2(column, row0, channels == 2 ? row0 + patch : row0, patch, acc);
            for (int32_t r = 0; r < channels; ++r) { /* both pixels at once: one channel's constants */
                const int32_t multiplier = quant->multiplier[oc + r], shift = quant->shift[oc + r];
                const int32_t add = bias ? bias[oc + r] : 0;
                const int8_t y0 = mnist_requantize_s8(acc[r] + add, multiplier, shift, params->output_offset,
                                                      params->act_min, params->act_max);
                const int8_t y1 = mnist_requantize_s8(acc[2 + r] + add, multiplier, shift, params->output_offset,
                                                      params->act_min, params->act_max);
                out[oc + r] = y0;
                if (pixels == 2) out[out_c + oc + r] = y1;
            }
        }
        out += pixels * out_c;
    }
}

/* CONV_2D output rows with the column pair on the stack (a C99 VLA of 4 bytes per patch value). */
static inline void mnist_convolve_rows_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                          const mnist_conv_geometry *geo, const mnist_dims *in_dims,
                                          const int8_t *input, int32_t filter_h, int32_t filter_w,
                                          const int8_t *filter, const int32_t *bias, const mnist_dims *out_dims,
                                          int32_t b, int32_t row_begin, int32_t row_end, int8_t *rows_out) {
    const int32_t patch = filter_h * filter_w * in_dims->channels;
    if (patch > MNIST_CONV_PATCH_MAX) {
        mnist_convolve_rows_direct_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, out_dims,
                                      b, row_begin, row_end, rows_out);
        return;
    }
    int16_t column[2 * patch] MNIST_ALIGNED(4); /* bounded above by MNIST_CONV_PATCH_MAX */
    mnist_convolve_rows_ws_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, out_dims, b,
                              row_begin, row_end, rows_out, column);
}

/* CONV_2D, int8, per-channel weights (reference_integer_ops::ConvPerChannel), NHWC.
 * filter [out_channels, filter_h, filter_w, in_channels] (OHWI, zero point 0), bias int32 or NULL. */
static inline void mnist_convolve_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                     const mnist_conv_geometry *geo, const mnist_dims *in_dims, const int8_t *input,
                                     int32_t filter_h, int32_t filter_w, const int8_t *filter, const int32_t *bias,
                                     const mnist_dims *out_dims, int8_t *output) {
    const size_t image = (size_t)out_dims->height * (size_t)out_dims->width * (size_t)out_dims->channels;
    for (int32_t b = 0; b < out_dims->batches; ++b)
        mnist_convolve_rows_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, out_dims, b, 0,
                               out_dims->height, output + (size_t)b * image);
}

/* CONV_2D with the column pair in `column` (see mnist_convolve_rows_ws_s8), as generated code calls it. */
static inline void mnist_convolve_ws_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                        const mnist_conv_geometry *geo, const mnist_dims *in_dims, const int8_t *input,
                                        int32_t filter_h, int32_t filter_w, const int8_t *filter, const int32_t *bias,
                                        const mnist_dims *out_dims, int8_t *output, int16_t *column) {
    const size_t image = (size_t)out_dims->height * (size_t)out_dims->width * (size_t)out_dims->channels;
    for (int32_t b = 0; b < out_dims->batches; ++b)
        mnist_convolve_rows_ws_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, out_dims, b, 0,
                                  out_dims->height, output + (size_t)b * image, column);
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

/* CONV_2D fused with the MAX_POOL_2D that reads it (batch 1): for each pooled row, only the
 * convolution rows its window covers are computed, into `scratch` (pool_filter_h rows of
 * conv_dims->width * channels int8), then pooled. The full convolution output never exists, which
 * is what the fusion saves; max pooling of int8 values is exact, so the result is bit-identical
 * to the two ops run one after the other. Rows shared by overlapping windows (pool stride <
 * filter) are computed again. `column` is the convolution's workspace (NULL: on the stack). */
static inline void mnist_convolve_max_pool_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                              const mnist_conv_geometry *geo, const mnist_dims *in_dims,
                                              const int8_t *input, int32_t filter_h, int32_t filter_w,
                                              const int8_t *filter, const int32_t *bias, const mnist_dims *conv_dims,
                                              const mnist_conv_geometry *pool_geo, int32_t pool_filter_h,
                                              int32_t pool_filter_w, int32_t pool_act_min, int32_t pool_act_max,
                                              const mnist_dims *out_dims, int8_t *output, int8_t *scratch,
                                              int16_t *column) {
    const int32_t depth = conv_dims->channels, conv_w = conv_dims->width;
    for (int32_t py = 0; py < out_dims->height; ++py) {
        const int32_t y0 = py * pool_geo->stride_h - pool_geo->pad_h;
        const int32_t row_begin = y0 < 0 ? 0 : y0;
        const int32_t row_end = y0 + pool_filter_h < conv_dims->height ? y0 + pool_filter_h : conv_dims->height;
        if (column != NULL)
            mnist_convolve_rows_ws_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, conv_dims,
                                      0, row_begin, row_end, scratch, column);
        else
            mnist_convolve_rows_s8(params, quant, geo, in_dims, input, filter_h, filter_w, filter, bias, conv_dims, 0,
                                   row_begin, row_end, scratch);
        for (int32_t px = 0; px < out_dims->width; ++px) {
            const int32_t x0 = px * pool_geo->stride_w - pool_geo->pad_w;
            const int32_t col_begin = x0 < 0 ? 0 : x0;
            const int32_t col_end = x0 + pool_filter_w < conv_w ? x0 + pool_filter_w : conv_w;
            for (int32_t c = 0; c < depth; ++c) {
                int32_t max = INT8_MIN;
                for (int32_t y = row_begin; y < row_end; ++y) {
                    const int8_t *row = scratch + (size_t)(y - row_begin) * (size_t)conv_w * (size_t)depth;
                    for (int32_t x = col_begin; x < col_end; ++x) {
                        const int32_t v = row[(size_t)x * (size_t)depth + (size_t)c];
                        if (v > max) max = v;
                    }
                }
                output[((size_t)py * (size_t)out_dims->width + (size_t)px) * (size_t)depth + (size_t)c] =
                    (int8_t)mnist_clamp_i32(max, pool_act_min, pool_act_max);
            }
        }
    }
}

#endif /* MNIST_INT8_H */
