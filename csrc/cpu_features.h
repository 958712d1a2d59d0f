// Which instruction sets this CPU (and OS) can run, detected once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mobilenet {

enum class Isa : int { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);        // compiled in and runnable on this CPU
std::vector<Isa> supported_isas();  // in ascending order of preference
Isa best_isa();

// The ISA forced by MOBILENET_ISA, else the best supported one. Throws
// std::invalid_argument for an unknown or unsupported name.
Isa isa_from_environment();
Isa parse_isa(const std::string& name);

// Whether this CPU runs the int8 dot-product instructions that go with the
// ISA's kernels: AVX512-VNNI (vpdpbusd, zmm) for avx512, AVX-VNNI (the VEX
// form, ymm) for avx2, the ARMv8.2 dot product (sdot/udot) for neon.
// MOBILENET_INT8_DOT=off says no everywhere (to test the other kernels).
bool int8_dot_product(Isa isa);
// Features beyond an instruction set's baseline that kernels of a narrower
// precision need (bfloat16, float16), detected once.
enum class CpuFeature : int {
  Avx512Bf16 = 0,  // x86: vdpbf16ps, vcvtne2ps2bf16 (with usable AVX-512 state)
  ArmBf16 = 1,     // AArch64 FEAT_BF16: bfdot, bfmmla (hwcap2 bf16)
  ArmFp16 = 2,     // AArch64 FEAT_FP16: half-precision arithmetic (hwcap fphp and asimdhp)
  AmxBf16 = 3,     // x86 AMX-TILE + AMX-BF16 (tdpbf16ps), with the tile state enabled by the OS
                   // (XCR0 bits 17-18) and granted to this process (Linux arch_prctl, asked once)
  AmxInt8 = 4,     // x86 AMX-TILE + AMX-INT8 (tdpbusd), with the tile state as for AmxBf16
};
bool cpu_has(CpuFeature feature);
// Whether the bf16 GEMM should use vdpbf16ps rather than FMAs on unpacked bf16
// (both give the same result): only where vdpbf16ps is the faster, which
// needs AVX512_BF16 and a CPU that runs it at the FMA's rate. Measured: family
// 6 model 207 (Intel) runs it at half the FMA's rate; AMD Zen 4 at the FMA's,
// twice the multiply-adds. MOBILENET_BF16_DOT=1 or 0 overrides (for tests).
bool bf16_dot_product_preferred();
// The GEMMs' k block where L2 feeds a tile as fast as L1 (the bf16 vdpbf16ps
// GEMM; the float32 one on AMD): k is blocked only where a tile's weights would
// crowd a 1 MB L2.
constexpr int64_t kGemmL2KBlockBytes = 512 * 1024;
// The float32 GEMM's k block (GemmArgs::k_block_bytes) for `isa`'s kernels: 0,
// the kernel's own 32 KB of a tile's weights, which keeps them in L1 where they
// would outgrow it (found on Intel Ice Lake-SP); kGemmL2KBlockBytes on AMD with
// AVX-512, where L2 feeds the 6x64 tile as fast and the blocks' partial sums
// through C cost the layers at k >= 256 2-4% (measured on Zen 4,
// bench/RESULTS.md log entry 107). MOBILENET_GEMM_K_BLOCKS=1 or 0 overrides (for tests).
int64_t gemm_k_block_bytes(Isa isa);
// Whether the AVX-512 table's bf16 GEMM runs on AMX tiles (kernels_amx.cpp):
// where the CPU has AMX-BF16 and AVX512_BF16 and the build compiled the AMX
// kernels. MOBILENET_AMX=0 says no (to test the vdpbf16ps and FMA ways there).
bool bf16_amx_preferred();
// Whether, with bf16 on AMX, depthwise layers write the GEMM after them its A
// tiles in bf16 (KernelTable::dwconv3x3_bf16_tiles): the same numbers as
// float32 rows the GEMM rounds. MOBILENET_BF16_TILES=0 says no (the tests
// compare the two ways bit for bit).
bool bf16_tiles_preferred();
// Whether, with bf16 on vdpbf16ps or bfdot (or the scalar reference), depthwise layers
// write the GEMM after them its A as rows of bf16 pairs
// (KernelTable::dwconv3x3_bf16_rows): the same numbers as float32 rows the
// GEMM rounds. MOBILENET_BF16_ROWS=0 says no (the tests compare the two ways
// bit for bit). The kernel table decides where the kernel exists.
bool bf16_rows_allowed();
// Whether, with bf16 on AMX or vdpbf16ps, the stem runs in bf16 too, on the
// same instructions as the GEMMs (KernelTable::conv3x3_bf16; it changes the
// results: its inputs and weights are rounded to bf16). MOBILENET_BF16_STEM=0
// keeps it float32.
bool bf16_stem_preferred();
// Whether the AVX-512 table's int8 GEMM runs on AMX tiles (kernels_amx_int8.cpp):
// where the CPU has AMX-INT8 and the build compiled the kernel. MOBILENET_AMX=0
// says no (to test the vpdpbusd GEMM there), and so does MOBILENET_INT8_DOT=off.
bool int8_amx_preferred();
// As /proc/cpuinfo spells it: "avx512_bf16", "bf16", "asimdhp", "amx_bf16", "amx_int8".
const char* cpu_feature_name(CpuFeature feature);

}  // namespace mobilenet
