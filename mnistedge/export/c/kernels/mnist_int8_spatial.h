/* mnist_int8_spatial.h: int8 DEPTHWISE_CONV_2D, AVERAGE_POOL_2D and MEAN, bit-exact with LiteRT's
 * BUILTIN_REF kernels (OpResolverType.BUILTIN_REF).
 *
 * C99, header only, no heap, nothing from libc beyond <stdint.h>, <stddef.h> and <limits.h>; the
 * shared types and requantization helpers come from mnist_int8.h. Parameters are derived at
 * generation time by mnistedge/export/c/emit_spatial.py, as LiteRT's Prepare derives them.
 *
 * What BUILTIN_REF runs, read in LiteRT's tflite/kernels and measured (tests/test_c_spatial.py):
 *   - DEPTHWISE_CONV_2D: reference_integer_ops::DepthwiseConvPerChannel, requantized with DOUBLE
 *     rounding (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), as CONV_2D.
 *   - AVERAGE_POOL_2D: reference_integer_ops::AveragePool: the raw int8 sum over the in-image part
 *     of the window, divided by that cell count rounding halves away from zero; no rescaling
 *     (input and output share scale and zero point).
 *   - MEAN: reference_ops::QuantizedMeanOrSum: int32 sum, minus input_zero_point * count, then
 *     DOUBLE-rounding MultiplyByQuantizedMultiplier with a multiplier that folds 1/count in
 *     (Prepare quantizes input_scale / output_scale; Eval divides it by count, see emit_spatial.py).
 */
#ifndef MNIST_INT8_SPATIAL_H
#define MNIST_INT8_SPATIAL_H

#include "mnist_int8.h"

/* A MEAN over one contiguous block of axes, the input seen as [outer, reduce, inner] (row major). */
typedef struct {
    int32_t outer;  /* product of the dimensions before the reduced axes */
    int32_t reduce; /* product of the reduced dimensions: the element count of each mean */
    int32_t inner;  /* product of the dimensions after them */
} mnist_reduce_dims;

/* DEPTHWISE_CONV_2D, int8, per-channel weights (reference_integer_ops::DepthwiseConvPerChannel), NHWC.
 * filter [1, filter_h, filter_w, out_channels] (zero point 0), out_channels = in_channels * depth_multiplier,
 * output channel ic * depth_multiplier + m reads input channel ic; bias int32 or NULL. */
static inline void mnist_depthwise_conv_s8(const mnist_quant_params *params, const mnist_per_channel_quant *quant,
                                           const mnist_conv_geometry *geo, int32_t depth_multiplier,
                                           const mnist_dims *in_dims, const int8_t *input, int32_t filter_h,
                                           int32_t filter_w, const int8_t *filter, const int32_t *bias,
                                           const mnist_dims *out_dims, int8_t *output) {
    const int32_t in_c = in_dims->channels, out_c = out_dims->channels;
    for (int32_t b = 0; b < out_dims->batches; ++b) {
        for (int32_t oy = 0; oy < out_dims->height; ++oy) {
            const int32_t in_y0 = oy * geo->stride_h - geo->pad_h;
            for (int32_t ox = 0; ox < out_dims->width; ++ox) {
                const int32_t in_x0 = ox * geo->stride_w - geo->pad_w;
                int8_t *out = output + (((size_t)b * (size_t)out_dims->height + (size_t)oy) *
                                            (size_t)out_dims->width + (size_t)ox) * (size_t)out_c;
                for (int32_t ic = 0; ic < in_c; ++ic) {
                    for (int32_t m = 0; m < depth_multiplier; ++m) {
                        const int32_t oc = ic * depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t fy = 0; fy < filter_h; ++fy) {
                            const int32_t iy = in_y0 + geo->dilation_h * fy;
                            if (iy < 0 || iy >= in_dims->height) continue;
                            for (int32_t fx = 0; fx < filter_w; ++fx) {
                                const int32_t ix = in_x0 + geo->dilation_w * fx;
                                if (ix < 0 || ix >= in_dims->width) continue; /* zero padding: skipped */
                                const int32_t x = input[(((size_t)b * (size_t)in_dims->height + (size_t)iy) *
                                                             (size_t)in_dims->width + (size_t)ix) * (size_t)in_c +
                                                        (size_t)ic];
                                const int32_t w =
                                    filter[((size_t)fy * (size_t)filter_w + (size_t)fx) * (size_t)out_c + (size_t)oc];
                                acc += w * (x + params->input_offset);
                            }
                        }
                        if (bias) acc += bias[oc];
                        out[oc] = mnist_requantize_s8(acc, quant->multiplier[oc], quant->shift[oc],
                                                      params->output_offset, params->act_min, params->act_max);
                    }
                }
            }
        }
    }
}

/* C's integer division rounding halves away from zero (reference_integer_ops::AveragePool);
 * count > 0. C99 '/' truncates toward zero, so +-count/2 first makes it round. */
static inline int32_t mnist_divide_round_away_s32(int32_t sum, int32_t count) {
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* AVERAGE_POOL_2D, int8 (reference_integer_ops::AveragePool): padding cells are left out of both
 * the sum and the count; input and output share scale and zero point, so only the clamp applies. */
static inline void mnist_avg_pool_s8(const mnist_conv_geometry *geo, int32_t filter_h, int32_t filter_w,
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
                const int32_t count = (fy_end - fy_start) * (fx_end - fx_start);
                for (int32_t c = 0; c < depth; ++c) {
                    int32_t sum = 0;
                    for (int32_t fy = fy_start; fy < fy_end; ++fy) {
                        for (int32_t fx = fx_start; fx < fx_end; ++fx) {
                            sum += input[(((size_t)b * (size_t)in_dims->height + (size_t)(in_y0 + fy)) *
                                              (size_t)in_dims->width + (size_t)(in_x0 + fx)) * (size_t)depth +
                                         (size_t)c];
                        }
                    }
                    /* An empty window cannot occur with TFLite's SAME/VALID padding (the reference
                     * fails the op there); 0 keeps the division defined. */
                    const int32_t avg = count > 0 ? mnist_divide_round_away_s32(sum, count) : 0;
                    output[(((size_t)b * (size_t)out_dims->height + (size_t)oy) * (size_t)out_dims->width +
                            (size_t)ox) * (size_t)depth + (size_t)c] = (int8_t)mnist_clamp_i32(avg, act_min, act_max);
                }
            }
        }
    }
}

/* MEAN, int8 (reference_ops::QuantizedMeanOrSum, compute_sum false) over the middle axis of
 * [outer, reduce, inner]; output [outer, inner]. multiplier/shift already include 1/reduce.
 * params->act_min/act_max are the int8 limits (MEAN has no fused activation). The int32 sum is
 * exact while reduce * 256 < 2**31, which the emitter checks. */
static inline void mnist_mean_s8(const mnist_quant_params *params, int32_t multiplier, int32_t shift,
                                 const mnist_reduce_dims *dims, const int8_t *input, int8_t *output) {
    const int32_t offset = params->input_offset * dims->reduce; /* -input_zero_point * count */
    for (int32_t o = 0; o < dims->outer; ++o) {
        const int8_t *in = input + (size_t)o * (size_t)dims->reduce * (size_t)dims->inner;
        int8_t *out = output + (size_t)o * (size_t)dims->inner;
        for (int32_t i = 0; i < dims->inner; ++i) {
            int32_t sum = 0;
            for (int32_t r = 0; r < dims->reduce; ++r) sum += in[(size_t)r * (size_t)dims->inner + (size_t)i];
            out[i] = mnist_requantize_s8(sum + offset, multiplier, shift, params->output_offset, params->act_min,
                                         params->act_max);
        }
    }
}

#endif /* MNIST_INT8_SPATIAL_H */
