// Which instruction sets this CPU (and OS) can run, detected once.
#pragma once
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

}  // namespace mobilenet
