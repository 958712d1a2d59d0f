// Shared vocabulary of the compute core: activations, padding, precondition checks.
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace mobilenet {

enum class Activation : int { None = 0, ReLU = 1, ReLU6 = 2 };

// Explicit per-side zero padding; 'SAME' (TensorFlow) and symmetric (PyTorch)
// conventions are both expressed this way by the model builder.
struct Padding {
  int top = 0, left = 0, bottom = 0, right = 0;
};

// Activations become a clamp to [lo, hi], so one branch-free epilogue serves all.
struct Clamp {
  float lo, hi;
  // No upper bound (ReLU, or none): epilogues then apply the lower one alone.
  bool unbounded_above() const { return !(hi < std::numeric_limits<float>::infinity()); }
};

inline Clamp clamp_for(Activation act) {
  const float inf = std::numeric_limits<float>::infinity();
  switch (act) {
    case Activation::ReLU: return {0.0f, inf};
    case Activation::ReLU6: return {0.0f, 6.0f};
    default: return {-inf, inf};
  }
}

// The core checks its own preconditions: a violated one throws, never crashes.
#define MBN_CHECK(cond, msg)                                                      \
  do {                                                                            \
    if (!(cond)) throw std::invalid_argument(std::string("mobilenet: ") + (msg)); \
  } while (0)

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

}  // namespace mobilenet
