/* mnist_int8_elementwise.h: int8 ADD and MUL, bit-exact with LiteRT's BUILTIN_REF kernels.
 *
 * C99, header only, no heap, nothing from libc beyond <stdint.h>, <stddef.h> and <limits.h>.
 * The arithmetic is reference_integer_ops::AddFunc and MulElementwise (LiteRT tflite/kernels/add.cc,
 * mul.cc); the parameters are derived at generation time (mnistedge/export/c/emit_elementwise.py).
 *
 * Which rounding, measured (tests/test_c_elementwise.py; one-op models over all 65536 int8 pairs):
 *   - BUILTIN_REF ADD and MUL both use DOUBLE rounding (SaturatingRoundingDoublingHighMul, then
 *     RoundingDivideByPOT), like CONV_2D and unlike FULLY_CONNECTED. With single rounding: ADD 6,
 *     MUL 25011 of 6553600 same-shape elements differ (100 random parameter sets per op).
 *   - The same arithmetic runs for same-shape (Add/Mul) and broadcast (BroadcastAdd6DSlow/
 *     BroadcastMul6DSlow) dispatch: 0 mismatches with a scalar on either side or a per-channel vector.
 * Every requantization goes through mnist_multiply_by_quantized_multiplier_double_rounding.
 *
 * Broadcasting: the *_broadcast_s8 kernels repeat a small operand (a scalar, or a vector over the
 * trailing dimensions, e.g. one value per channel) over a full one. The full operand is always
 * input 1; for an op whose constant is its first input the generator swaps the per-input
 * parameters instead, which is exact (the two scaled inputs are summed/multiplied as integers).
 */
#ifndef MNIST_INT8_ELEMENTWISE_H
#define MNIST_INT8_ELEMENTWISE_H

#include "mnist_int8.h"

/* ADD, as TFLite's ArithmeticParams for the 8-bit path (field order = the generator's). */
typedef struct {
    int32_t input1_offset, input2_offset; /* -input zero points */
    int32_t left_shift;                   /* 20 for int8 */
    int32_t input1_multiplier, input1_shift; /* Q0.31, shift <= 0 */
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_offset; /* output zero point */
    int32_t act_min, act_max;
} mnist_add_params;

/* MUL: one requantization of the product of the offset inputs. */
typedef struct {
    int32_t input1_offset, input2_offset; /* -input zero points */
    int32_t output_multiplier, output_shift; /* Q0.31, shift positive = left */
    int32_t output_offset;
    int32_t act_min, act_max;
} mnist_mul_params;

/* reference_integer_ops::AddFunc: both inputs to a common scale at 2**left_shift, summed, requantized. */
static inline int8_t mnist_add_one_s8(const mnist_add_params *p, int8_t a, int8_t b) {
    /* |offset input| <= 255, so << 20 fits; multiplied in int64 so no shift count makes it UB. */
    const int32_t shifted1 = mnist_wrap_i32(((int64_t)a + p->input1_offset) * (INT64_C(1) << p->left_shift));
    const int32_t shifted2 = mnist_wrap_i32(((int64_t)b + p->input2_offset) * (INT64_C(1) << p->left_shift));
    const int32_t scaled1 =
        mnist_multiply_by_quantized_multiplier_double_rounding(shifted1, p->input1_multiplier, (int)p->input1_shift);
    const int32_t scaled2 =
        mnist_multiply_by_quantized_multiplier_double_rounding(shifted2, p->input2_multiplier, (int)p->input2_shift);
    const int32_t raw = mnist_multiply_by_quantized_multiplier_double_rounding(
                            scaled1 + scaled2, p->output_multiplier, (int)p->output_shift) +
                        p->output_offset;
    return (int8_t)mnist_clamp_i32(raw, p->act_min, p->act_max);
}

/* reference_integer_ops::MulElementwise for one element: |product| <= 256 * 256 fits int32. */
static inline int8_t mnist_mul_one_s8(const mnist_mul_params *p, int8_t a, int8_t b) {
    const int32_t product = ((int32_t)a + p->input1_offset) * ((int32_t)b + p->input2_offset);
    const int32_t raw =
        mnist_multiply_by_quantized_multiplier_double_rounding(product, p->output_multiplier, (int)p->output_shift) +
        p->output_offset;
    return (int8_t)mnist_clamp_i32(raw, p->act_min, p->act_max);
}

/* ADD of two same-shape tensors of `size` elements. */
static inline void mnist_add_s8(const mnist_add_params *p, int32_t size, const int8_t *input1, const int8_t *input2,
                                int8_t *output) {
    for (int32_t i = 0; i < size; ++i) output[i] = mnist_add_one_s8(p, input1[i], input2[i]);
}

/* ADD with input2's `period` elements repeated over input1's `size` (size a multiple of period;
 * period 1: a scalar). */
static inline void mnist_add_broadcast_s8(const mnist_add_params *p, int32_t size, const int8_t *input1,
                                          const int8_t *input2, int32_t period, int8_t *output) {
    for (int32_t base = 0; base < size; base += period)
        for (int32_t j = 0; j < period; ++j) output[base + j] = mnist_add_one_s8(p, input1[base + j], input2[j]);
}

/* MUL of two same-shape tensors of `size` elements. */
static inline void mnist_mul_s8(const mnist_mul_params *p, int32_t size, const int8_t *input1, const int8_t *input2,
                                int8_t *output) {
    for (int32_t i = 0; i < size; ++i) output[i] = mnist_mul_one_s8(p, input1[i], input2[i]);
}

/* MUL with input2's `period` elements repeated over input1's `size` (as mnist_add_broadcast_s8). */
static inline void mnist_mul_broadcast_s8(const mnist_mul_params *p, int32_t size, const int8_t *input1,
                                          const int8_t *input2, int32_t period, int8_t *output) {
    for (int32_t base = 0; base < size; base += period)
        for (int32_t j = 0; j < period; ++j) output[base + j] = mnist_mul_one_s8(p, input1[base + j], input2[j]);
}

#endif /* MNIST_INT8_ELEMENTWISE_H */
