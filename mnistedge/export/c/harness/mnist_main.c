/* mnist_main.c: runs a generated model on int8 images from a file and writes its int8 outputs.
 *
 *     mnist_main IMAGES.bin OUTPUTS.bin [REPEAT [TIMES.bin]]
 *
 * IMAGES.bin holds N images of MODEL_INPUT_SIZE int8 values each (already quantized with the
 * header's INPUT_SCALE / INPUT_ZERO_POINT); OUTPUTS.bin gets N * MODEL_OUTPUT_SIZE int8 values.
 * Built for the host by mnistedge's tests and bench, and for the Cortex-M4 (-DMNIST_M4) where
 * fopen/fwrite are semihosted to the host's files and each inference is measured: guest
 * instructions via SysTick (m4_timing.h) and the model's own stack depth. The model is named at
 * build time: -DMODEL_HEADER='"mnist_model.h"' -DMODEL_INVOKE=mnist_model_invoke
 * -DMODEL_INPUT_SIZE=784 -DMODEL_OUTPUT_SIZE=10. On the host, REPEAT > 1 runs every image that
 * many times and prints the wall time; TIMES.bin gets the last pass's seconds per invoke (double);
 * at most 10,000 images.
 */
#if !defined(MNIST_M4)
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <time.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include MODEL_HEADER

#if defined(MNIST_M4)
#include "m4_timing.h"
#endif

#if defined(MNIST_M4)
/* The M4 streams: one image in, one output out, so RAM holds the model's buffers alone. */
int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s IMAGES.bin OUTPUTS.bin\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 3;
    }
    static int8_t image[MODEL_INPUT_SIZE], output[MODEL_OUTPUT_SIZE];
    uint32_t n = 0, min_instructions = UINT32_MAX, max_instructions = 0;
    uint64_t total_instructions = 0;
    size_t base = m4_stack_in_use(), stack = 0;
    while (fread(image, 1, MODEL_INPUT_SIZE, in) == MODEL_INPUT_SIZE) {
        m4_stack_repaint(); /* after fread: its own stack use must not count */
        m4_timer_start();
        int status = MODEL_INVOKE(image, output);
        uint32_t instructions = (uint32_t)m4_instructions_since_start();
        size_t used = m4_stack_high_water() - base;
        if (used > stack) stack = used;
        if (status != 0) return 5;
        if (fwrite(output, 1, MODEL_OUTPUT_SIZE, out) != MODEL_OUTPUT_SIZE) return 7;
        total_instructions += instructions;
        if (instructions < min_instructions) min_instructions = instructions;
        if (instructions > max_instructions) max_instructions = instructions;
        ++n;
    }
    fclose(in);
    fclose(out);
    if (n == 0) return 4;
    /* newlib-nano's printf has no %llu: the 64-bit total goes out as two 32-bit halves. */
    printf("images=%lu instructions_min=%lu instructions_max=%lu instructions_total_hi=%lu "
           "instructions_total_lo=%lu stack_bytes=%lu\n",
           (unsigned long)n, (unsigned long)min_instructions, (unsigned long)max_instructions,
           (unsigned long)(total_instructions >> 32), (unsigned long)(total_instructions & 0xFFFFFFFFu),
           (unsigned long)stack);
    return 0;
}
#else
#define MAX_IMAGES 10000

static int8_t images[MAX_IMAGES][MODEL_INPUT_SIZE];
static int8_t outputs[MAX_IMAGES][MODEL_OUTPUT_SIZE];
static double seconds_per_invoke[MAX_IMAGES];

static double since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s IMAGES.bin OUTPUTS.bin [REPEAT]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 3;
    }
    size_t n = fread(images, MODEL_INPUT_SIZE, MAX_IMAGES, in);
    fclose(in);
    if (n == 0) {
        fprintf(stderr, "no whole image in %s\n", argv[1]);
        return 4;
    }
    long repeat = argc > 3 ? strtol(argv[3], NULL, 10) : 1;
    if (repeat < 1) repeat = 1;
    struct timespec start, one;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long r = 0; r < repeat; ++r) {
        for (size_t i = 0; i < n; ++i) {
            clock_gettime(CLOCK_MONOTONIC, &one);
            if (MODEL_INVOKE(images[i], outputs[i]) != 0) return 5;
            seconds_per_invoke[i] = since(&one);
        }
    }
    printf("images=%lu repeat=%ld seconds=%.9f\n", (unsigned long)n, repeat, since(&start));
    if (argc > 4) {
        FILE *times = fopen(argv[4], "wb");
        if (times == NULL || fwrite(seconds_per_invoke, sizeof(double), n, times) != n) return 8;
        fclose(times);
    }
    FILE *out = fopen(argv[2], "wb");
    if (out == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        return 6;
    }
    size_t written = fwrite(outputs, MODEL_OUTPUT_SIZE, n, out);
    fclose(out);
    return written == n ? 0 : 7;
}
#endif
