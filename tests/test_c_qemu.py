"""The Cortex-M4 harness: build C with the startup file, run it under QEMU, read what it did."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mnistedge.export.c import qemu
from mnistedge.export.c.qemu import QemuRun, build_m4, elf_size, run_m4

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs arm-none-eabi-gcc and qemu-system-arm: "
    "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm (scripts/system-deps.sh)",
)


def _run_c(tmp_path: Path, source: str, *, args: tuple[str, ...] = (), timeout_s: float = 30) -> QemuRun:
    program = tmp_path / "program.c"
    program.write_text(source)
    return run_m4(build_m4([program], tmp_path / "program.elf"), args=args, timeout_s=timeout_s)


def test_hello_world_prints_and_returns_its_exit_code(tmp_path: Path) -> None:
    run = _run_c(
        tmp_path,
        """
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from the m4, argc=%d argv[1]=%s\\n", argc, argv[1]);
    return 3;
}
""",
        args=("one",),
    )
    assert run.exit_code == 3
    assert "hello from the m4, argc=2 argv[1]=one" in run.stdout
    assert run.wall_s > 0


def test_reads_a_host_file_through_semihosting(tmp_path: Path) -> None:
    payload = np.random.default_rng(0).integers(0, 256, size=100_003, dtype=np.uint8).tobytes()
    data = tmp_path / "payload.bin"
    data.write_bytes(payload)
    expected = 2166136261
    for byte in payload:  # FNV-1a, 32-bit
        expected = ((expected ^ byte) * 16777619) & 0xFFFFFFFF

    run = _run_c(
        tmp_path,
        """
#include <stdint.h>
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    FILE *file = fopen(argv[1], "rb");
    if (file == NULL) { printf("cannot open %s\\n", argv[1]); return 1; }
    static unsigned char chunk[4096];
    uint32_t hash = 2166136261u;
    unsigned long total = 0;
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, file)) > 0) {
        for (size_t i = 0; i < n; i++) hash = (hash ^ chunk[i]) * 16777619u;
        total += n;
    }
    fclose(file);
    printf("bytes=%lu fnv=%lu\\n", total, (unsigned long)hash);
    return 0;
}
""",
        args=(str(data),),
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    assert f"bytes={len(payload)} fnv={expected}" in run.stdout


def test_float_math_runs_on_the_fpu(tmp_path: Path) -> None:
    run = _run_c(
        tmp_path,
        """
#include <math.h>
#include <stdio.h>
int main(void) {
    volatile float two = 2.0f;
    float sum = 0.0f;
    for (int i = 1; i <= 100; i++) sum += 1.0f / (float)i;
    printf("sqrt2=%ld harmonic=%ld\\n", lround(sqrtf(two) * 1e6f), lround(sum * 1e6f));
    return 0;
}
""",
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    harmonic = np.float32(0)
    for i in range(1, 101):
        harmonic = np.float32(harmonic + np.float32(1) / np.float32(i))
    assert f"sqrt2={round(float(np.float32(np.sqrt(np.float32(2))) * np.float32(1e6)))}" in run.stdout
    assert f"harmonic={round(float(harmonic * np.float32(1e6)))}" in run.stdout


_NOP_LOOP = """
#include <stdio.h>
#include "m4_timing.h"
int main(void) {
    m4_timer_start();
    /* 10 instructions an iteration: 8 nops, subs, bne. */
    __asm volatile(
        "mov r0, %0\\n"
        "1:\\n nop\\n nop\\n nop\\n nop\\n nop\\n nop\\n nop\\n nop\\n subs r0, r0, #1\\n bne 1b\\n"
        :: "r"(ITERATIONS) : "r0", "cc");
    unsigned long instructions = (unsigned long)m4_instructions_since_start();
    printf("instructions=%lu\\n", instructions);
    return 0;
}
"""


@pytest.mark.parametrize("iterations", [1_000_000, 100_000_000])  # the second outlasts a SysTick wrap
def test_timer_counts_the_instructions_of_a_nop_loop(tmp_path: Path, iterations: int) -> None:
    program = tmp_path / "nops.c"
    program.write_text(_NOP_LOOP)
    elf = build_m4([program], tmp_path / "nops.elf", defines=[f"ITERATIONS={iterations}"])
    run = run_m4(elf, timeout_s=30)
    assert run.exit_code == 0, run.stdout + run.stderr
    measured = int(run.stdout.split("instructions=")[1].split()[0])
    # One tick is 40 instructions; the loop set-up and the timer reads add a few ticks at most.
    assert measured == pytest.approx(10 * iterations, abs=400)


def test_stack_high_water_sees_a_deep_frame(tmp_path: Path) -> None:
    run = _run_c(
        tmp_path,
        """
#include <stdio.h>
#include "m4_timing.h"
static int deep(int seed) {
    volatile unsigned char buffer[8192];
    for (int i = 0; i < (int)sizeof buffer; i++) buffer[i] = (unsigned char)(seed + i);
    return buffer[seed];
}
int main(void) {
    unsigned long before = (unsigned long)m4_stack_high_water();
    int value = deep(7);
    printf("before=%lu after=%lu value=%d\\n", before, (unsigned long)m4_stack_high_water(), value);
    return 0;
}
""",
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    fields = dict(item.split("=") for item in run.stdout.split())
    assert 0 < int(fields["before"]) < 2048
    assert 8192 < int(fields["after"]) < 8192 + 2048


def test_a_fault_exits_with_128_plus_the_exception_number(tmp_path: Path) -> None:
    run = _run_c(tmp_path, "int main(void) { __builtin_trap(); }\n")
    assert run.exit_code == 131  # UDF -> UsageFault, escalated to HardFault (3): none enabled


def test_a_program_that_never_exits_times_out(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"program\.elf did not exit in 1 s"):
        _run_c(tmp_path, 'int main(void) { for (;;) { __asm volatile("nop"); } }\n', timeout_s=1)
    assert time.perf_counter() - start < 10


def test_a_compile_error_raises_with_the_compiler_message(tmp_path: Path) -> None:
    program = tmp_path / "broken.c"
    program.write_text("int main(void) { return undeclared_name; }\n")
    with pytest.raises(RuntimeError, match="undeclared_name") as error:
        build_m4([program], tmp_path / "broken.elf")
    assert "Building broken.elf for the Cortex-M4 failed" in str(error.value)


def test_elf_size_reports_text_data_and_bss(tmp_path: Path) -> None:
    program = tmp_path / "sizes.c"
    program.write_text(
        "static int counter = 5;\nstatic char zeros[1000];\n"
        "int main(void) { zeros[counter] = 1; return zeros[5] + counter - 6; }\n"
    )
    sizes = elf_size(build_m4([program], tmp_path / "sizes.elf"))
    assert set(sizes) == {"text", "data", "bss"}
    assert sizes["text"] > 0 and sizes["data"] >= 4 and sizes["bss"] >= 1000


def test_missing_tools_name_the_packages_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        build_m4([tmp_path / "x.c"], tmp_path / "x.elf")
    with pytest.raises(FileNotFoundError, match="apt-get install qemu-system-arm"):
        run_m4(tmp_path / "x.elf")


def test_arguments_with_spaces_are_refused(tmp_path: Path) -> None:
    elf = tmp_path / "any.elf"
    elf.write_bytes(b"")
    with pytest.raises(ValueError, match=r"cannot be empty or contain spaces\. Got: 'a b'"):
        run_m4(elf, args=("a b",))


def test_a_command_line_startup_c_would_truncate_is_refused(tmp_path: Path) -> None:
    elf = tmp_path / "any.elf"
    elf.write_bytes(b"")
    with pytest.raises(ValueError, match=r"too long for startup\.c: 2 arguments"):
        run_m4(elf, args=("x" * 1100,))
    with pytest.raises(ValueError, match="17 arguments"):
        run_m4(elf, args=tuple("abcdefghijklmnop"))
