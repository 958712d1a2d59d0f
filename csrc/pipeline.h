// The row pipeline's schedule: which rows each stage runs when, shared by the
// planner (which sizes the rings by dry runs of it) and the executor.
#pragma once
#include <algorithm>
#include <vector>

#include "layer.h"

namespace mobilenet {

// Rows of the first stage per pipeline step: the later stages follow right behind.
constexpr int kPipelineHeadRows = 4;
// With T threads each runs the pipeline on its own horizontal slab of the
// image (recomputing the few rows where slabs meet), up to this many slabs.
constexpr int kMaxPipelineLanes = 8;
// The schedule keeps per-stage row counters on the stack.
constexpr int kMaxPipelineStages = 32;

// A layer, or a fused depthwise/pointwise pair, that computes a band of output
// rows. Inside the pipeline its output is a ring of ring_rows rows (row y at
// slot y % ring_rows); the last stage writes whole images.
struct PipelineStage {
  int first;
  int count;
  int ring_rows;
};

class PipelineSchedule {
 public:
  PipelineSchedule(const std::vector<Layer>& layers, const std::vector<PipelineStage>& stages)
      : layers_(layers), stages_(stages) {}

  int stage_out_rows(int k) const { return layers_[stages_[k].first].out_h; }

  // The input rows stage k reads for out_row.
  int first_input_row(int k, int out_row) const {
    const LayerSpec& s = layers_[stages_[k].first].spec;
    if (s.kind == LayerKind::Conv1x1) return out_row;
    return std::max(0, out_row * s.stride - s.pad.top);
  }
  int last_input_row(int k, int out_row) const {
    const LayerSpec& s = layers_[stages_[k].first].spec;
    if (s.kind == LayerKind::Conv1x1) return out_row;
    return std::min(s.in_h - 1, out_row * s.stride - s.pad.top + 2);
  }

  // Output rows stage k can make from `avail` input rows.
  int ready_rows(int k, int avail) const {
    const Layer& layer = layers_[stages_[k].first];
    if (avail >= layer.spec.in_h) return layer.out_h;
    if (layer.spec.kind == LayerKind::Conv1x1) return avail;
    const int last =
        avail - 3 + layer.spec.pad.top;  // output row y needs input rows up to (y - 1) * stride - pad.top + 2
    return last < 0 ? 0 : std::min(layer.out_h, last / layer.spec.stride + 1);
  }

  // The schedule for the last stage's rows [y0, y1): run(k, r0, r1, done) for
  // each band of stage k's rows, in order; done[j] (an array) = the end of the
  // rows stage j has finished so far.
  template <class F>
  void for_each_step(int y0, int y1, F&& run) const {
    const int count = static_cast<int>(stages_.size());
    if (y0 >= y1) return;
    // Rows [lo[k], hi[k]) of each stage that the last stage's rows [y0, y1) need
    // (on the stack: this runs inside every forward pass).
    int lo[kMaxPipelineStages], hi[kMaxPipelineStages], done[kMaxPipelineStages];
    lo[count - 1] = y0, hi[count - 1] = y1;
    for (int k = count - 1; k > 0; --k) {
      lo[k - 1] = first_input_row(k, lo[k]);
      hi[k - 1] = last_input_row(k, hi[k] - 1) + 1;
    }
    std::copy_n(lo, count, done);
    while (done[0] < hi[0]) {
      const int head_end = std::min(hi[0], done[0] + kPipelineHeadRows);
      run(0, done[0], head_end, done);
      done[0] = head_end;
      for (int k = 1; k < count; ++k) {
        const int ready = done[k - 1] >= hi[k - 1] ? hi[k] : std::min(hi[k], ready_rows(k, done[k - 1]));
        if (ready > done[k]) {
          run(k, done[k], ready, done);
          done[k] = ready;
        }
      }
    }
  }

 private:
  const std::vector<Layer>& layers_;
  const std::vector<PipelineStage>& stages_;
};

}  // namespace mobilenet
