// The CPU backend's gating table (softmax + top-k routing with capacity, aux losses, backward).
#include "gating_cpu.h"

namespace prophet::cpu {

extern const prophet_gating_i kGating = {
    /* .forward  = */ gating_forward,
    /* .aux_loss = */ gating_aux_loss,
    /* .backward = */ gating_backward,
};

}  // namespace prophet::cpu
