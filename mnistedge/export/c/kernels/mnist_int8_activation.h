/* mnist_int8_activation.h: int8 SOFTMAX and LOGISTIC, bit-exact with LiteRT's BUILTIN_REF kernels.
 *
 * C99, header only, no heap, no float at run time, nothing from libc beyond <stdint.h>, <stddef.h>
 * and <limits.h> (through mnist_int8.h, whose requantization primitives it shares).
 *
 * What BUILTIN_REF runs (LiteRT tflite/kernels/activations.cc, kReference; measured in
 * tests/test_c_activation.py against one-op models and trained models):
 *   - SOFTMAX int8 -> int8: reference_ops::Softmax, gemmlowp fixed point. The input difference to
 *     the row maximum is rescaled to Q5.26 (MultiplyByQuantizedMultiplierGreaterThanOne), exp()
 *     evaluated by exp_on_negative_values, the sum (Q12.19) inverted by GetReciprocal
 *     (one_over_one_plus_x_for_x_in_0_1), output = exp * 1/sum in 1/256 steps, zero point -128.
 *     The rescale's single and double rounding agree whenever the shift is >= 0 (both round
 *     halves up), so mnist_multiply_by_quantized_multiplier (single) is used.
 *   - LOGISTIC int8 -> int8: a 256-entry lookup table that Prepare fills in float
 *     (LUTPopulate<int8_t> with 1 / (1 + expf(-x))). The table is computed at generation time
 *     (mnistedge/export/c/emit_activation.py), so the device only indexes it. TFLM's gemmlowp
 *     fixed-point logistic differs from it on some scales (1 element of 256 on one of 1500 scales).
 *
 * gemmlowp's FixedPoint additions are plain int32 adds that may wrap in principle; here they
 * wrap explicitly (mnist_add_wrap), so nothing relies on signed overflow.
 */
#ifndef MNIST_INT8_ACTIVATION_H
#define MNIST_INT8_ACTIVATION_H

#include "mnist_int8.h"

/* ---- gemmlowp fixed-point helpers (fixedpoint/fixedpoint.h), on raw int32 values ---- */

static inline int32_t mnist_add_wrap(int32_t a, int32_t b) { return mnist_wrap_i32((int64_t)a + (int64_t)b); }
static inline int32_t mnist_sub_wrap(int32_t a, int32_t b) { return mnist_wrap_i32((int64_t)a - (int64_t)b); }

/* FixedPoint operator*: the raw product is SaturatingRoundingDoublingHighMul, integer bits add up. */
static inline int32_t mnist_fp_mul(int32_t a, int32_t b) {
    return mnist_saturating_rounding_doubling_high_mul(a, b);
}

/* SaturatingRoundingMultiplyByPOT<exponent> for exponent in [1, 30]: a left shift saturating at
 * INT32_MIN/INT32_MAX (what Rescale to fewer integer bits does). */
static inline int32_t mnist_saturating_shift_left(int32_t x, int exponent) {
    const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - exponent)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((int64_t)x * (INT64_C(1) << exponent)); /* |x| <= threshold: fits */
}

/* RoundingHalfSum: (a + b) / 2, halves away from zero. */
static inline int32_t mnist_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* C99 '/' truncates, as the C++ */
}

/* exp(a) for a in [-1/4, 0), a and the result in Q0.31 (a Taylor expansion around -1/8). */
static inline int32_t mnist_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = mnist_add_wrap(a, INT32_C(1) << 28); /* a + 1/8 */
    const int32_t x2 = mnist_fp_mul(x, x);
    const int32_t x3 = mnist_fp_mul(x2, x);
    const int32_t x4 = mnist_fp_mul(x2, x2);
    const int32_t x4_over_4 = mnist_rounding_divide_by_pot(x4, 2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = mnist_rounding_divide_by_pot(
        mnist_add_wrap(mnist_fp_mul(mnist_add_wrap(x4_over_4, x3), constant_1_over_3), x2), 1);
    const int32_t series = mnist_add_wrap(x, x4_over_24_plus_x3_over_6_plus_x2_over_2);
    return mnist_add_wrap(constant_term, mnist_fp_mul(constant_term, series));
}

/* exp_on_negative_values for a Q5.26 input a <= 0 (softmax's kScaledDiffIntegerBits = 5), result Q0.31:
 * exp of a's fraction modulo 1/4, then one multiplier per set bit of the rest (a barrel shifter). */
static inline int32_t mnist_exp_on_negative_values_q5_26(int32_t a) {
    /* exp(-1/4), exp(-1/2), exp(-1), exp(-2), exp(-4), exp(-8), exp(-16) in Q0.31, for bits 24..30 */
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int32_t one_quarter = INT32_C(1) << 24;
    const int32_t a_mod_quarter_minus_one_quarter =
        (int32_t)((uint32_t)a & (uint32_t)(one_quarter - 1)) - one_quarter;
    int32_t result = mnist_exp_on_interval_between_negative_one_quarter_and_0_excl(
        mnist_saturating_shift_left(a_mod_quarter_minus_one_quarter, 5)); /* Rescale<0> from Q5 */
    const uint32_t remainder = (uint32_t)mnist_sub_wrap(a_mod_quarter_minus_one_quarter, a);
    for (int k = 0; k < 7; ++k) {
        if (remainder & (UINT32_C(1) << (24 + k)))
            result = mnist_fp_mul(result, multipliers[k]);
    }
    return a == 0 ? INT32_MAX : result; /* exp(0) = One() */
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29. */
static inline int32_t mnist_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = mnist_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = mnist_add_wrap(constant_48_over_17, mnist_fp_mul(half_denominator, constant_neg_32_over_17));
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = mnist_fp_mul(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x =
            mnist_sub_wrap(INT32_C(1) << 29, half_denominator_times_x); /* F2::One() */
        const int32_t correction_q4 = mnist_fp_mul(x, one_minus_half_denominator_times_x);
        x = mnist_add_wrap(x, mnist_saturating_shift_left(correction_q4, 2)); /* Rescale<2> from Q4 */
    }
    return mnist_saturating_shift_left(x, 1); /* Rescale<0>(ExactMulByPot<-1>(x)) */
}

/* Leading zero bits of x (32 for 0). */
static inline int mnist_count_leading_zeros(uint32_t x) {
    int n = 0;
    while (n < 32 && !(x & UINT32_C(0x80000000))) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* TFLite's GetReciprocal: 1/x for x > 0 with x_integer_digits integer bits, as a Q0.31 scale and
 * the number of bits of x above 1.0. */
static inline int32_t mnist_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    /* x > 0 in softmax (the row max adds 2**19); 0 would shift by 32, so it is taken as 1 */
    const uint32_t ux = x > 0 ? (uint32_t)x : 1u;
    const int headroom_plus_one = mnist_count_leading_zeros(ux);
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    /* x scaled to [1, 2) minus 1, in Q0.31: below 2**31, so the conversion is exact */
    const int32_t shifted_sum_minus_one = (int32_t)((ux << headroom_plus_one) - (UINT32_C(1) << 31));
    return mnist_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* ---- Parameter structs ---- */

typedef struct {
    int32_t input_multiplier; /* Q0.31 multiplier of beta * input_scale * 2**26 */
    int32_t input_left_shift; /* in [0, 30] */
    int32_t diff_min;         /* differences to the row max below this give exp = 0 (output -128) */
} mnist_softmax_params;

/* ---- Kernels ---- */

/* exp(beta * input_scale * diff) in Q0.31 for a difference to the row maximum diff <= 0. */
static inline int32_t mnist_softmax_exp(const mnist_softmax_params *params, int32_t diff) {
    const int32_t scaled_diff_q5_26 =
        mnist_multiply_by_quantized_multiplier(diff, params->input_multiplier, (int)params->input_left_shift);
    return mnist_exp_on_negative_values_q5_26(scaled_diff_q5_26);
}

/* SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128), over the last axis
 * (reference_ops::Softmax): input and output [outer_size, depth], depth in [1, 511]. */
static inline void mnist_softmax_s8(const mnist_softmax_params *params, int32_t outer_size, int32_t depth,
                                    const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < outer_size; ++i) {
        const int8_t *in = input + (size_t)i * (size_t)depth;
        int8_t *out = output + (size_t)i * (size_t)depth;
        int32_t max_in_row = INT8_MIN;
        for (int32_t c = 0; c < depth; ++c)
            if (in[c] > max_in_row) max_in_row = in[c];

        int32_t sum_of_exps = 0; /* Q12.19: each term <= 2**19, depth <= 511, so it cannot wrap */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= params->diff_min) {
                const int32_t exp_q12_19 = mnist_rounding_divide_by_pot(mnist_softmax_exp(params, diff), 12);
                sum_of_exps = mnist_add_wrap(sum_of_exps, exp_q12_19); /* Rescale<12> above */
            }
        }

        /* The row maximum contributes exp(0) = 2**19, so sum_of_exps > 0 and, with depth <= 511,
         * below 2**28: exponent is in [23, 31] (TFLite checks 0 <= exponent <= 31). */
        int num_bits_over_unit;
        const int32_t shifted_scale = mnist_get_reciprocal(sum_of_exps, 12, &num_bits_over_unit);
        const int exponent = num_bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= params->diff_min) {
                const int32_t scaled_exp = mnist_fp_mul(shifted_scale, mnist_softmax_exp(params, diff));
                const int32_t unsat = mnist_rounding_divide_by_pot(scaled_exp, exponent);
                out[c] = (int8_t)mnist_clamp_i32(unsat + INT8_MIN, INT8_MIN, INT8_MAX);
            } else {
                out[c] = INT8_MIN;
            }
        }
    }
}

/* LOGISTIC, int8 (LiteRT's kReference: a lookup table built in Prepare). table[v + 128] is the
 * output for input v; emit_activation.logistic_table computes it as TFLite's LUTPopulate does. */
static inline void mnist_logistic_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; ++i) output[i] = table[(int32_t)input[i] + 128];
}

#endif /* MNIST_INT8_ACTIVATION_H */
