// The CPU backend's dense-layer table (embedding, RMSNorm, causal attention, cross-entropy, add).
#include "nn_cpu.h"

namespace prophet::cpu {

extern const prophet_nn_i kNn = {
    /* .embedding_forward      = */ nn_embedding_forward,
    /* .embedding_backward     = */ nn_embedding_backward,
    /* .rmsnorm_forward        = */ nn_rmsnorm_forward,
    /* .rmsnorm_backward       = */ nn_rmsnorm_backward,
    /* .attention_forward      = */ nn_attention_forward,
    /* .attention_backward     = */ nn_attention_backward,
    /* .cross_entropy_forward  = */ nn_cross_entropy_forward,
    /* .cross_entropy_backward = */ nn_cross_entropy_backward,
    /* .add                    = */ nn_add,
};

}  // namespace prophet::cpu
