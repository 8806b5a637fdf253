// Scaled dot-product attention's per-element arithmetic, written once for the CPU's and the GPU's
// kernels (kernels/cpu/attention.cpp, kernels/cuda/attention.cu): which keys a query attends
// (the mask, Keras's causal mask and a local window), the online softmax over key blocks, the
// log-sum-exp that the backward pass recomputes the probabilities from, and dropout's keep decision
// from Philox.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "neurona/core/macros.h"
#include "neurona/core/philox.h"

namespace neurona::kernels {

/// Element strides of the uint8 mask (nonzero: attend) viewed as (B, N, Tq, Tk); 0 on the axes
/// it broadcasts over.
struct AttentionMaskStrides {
  std::int64_t b = 0, n = 0, i = 0, j = 0;
};

/// Dropout on the probabilities: element (b, n, i, j) is kept when the top 24 bits of its Philox
/// word are below `keep_below` (= round((1 - rate) * 2^24)), then scaled by 1 / (1 - rate).
struct AttentionDropout {
  bool enabled = false;
  std::uint32_t keep_below = 1u << 24;
  double scale = 1.0;
  RandomKey key;
  /// Where given, the key's (seed, counter) in memory of the kernels' device, read there
  /// instead of `key` (a SeedGenerator's state as the call found it).
  const std::int64_t* key_state = nullptr;
  /// Element e draws as element e + offset of the stream (a data-parallel replica's rows of
  /// the global batch's draw).
  std::int64_t offset = 0;

  NEURONA_HD_INLINE RandomKey resolved_key() const {
    if (key_state == nullptr) return key;
    return RandomKey{static_cast<std::uint64_t>(key_state[0]),
                     static_cast<std::uint32_t>(key_state[1])};
  }
};

/// query (batch, tq, heads, head_dim), key (batch, tk, kv_heads, head_dim), value (batch, tk,
/// kv_heads, value_dim), out (batch, tq, heads, value_dim), lse (batch, heads, tq). Query head n
/// reads key and value head n / (heads / kv_heads), as jax.nn.dot_product_attention's groups.
struct AttentionGeometry {
  std::int64_t batch = 0, tq = 0, tk = 0, heads = 0, kv_heads = 0, head_dim = 0, value_dim = 0;
  double scale = 1.0;
  bool causal = false;
  /// A local window (jax.nn.dot_product_attention's local_window_size): query i sees keys
  /// i - window_left .. i + window_right; -1 is unbounded on that side.
  std::int64_t window_left = -1, window_right = -1;
  bool has_mask = false;
  AttentionMaskStrides mask;
  AttentionDropout dropout;

  NEURONA_HD_INLINE std::int64_t group() const { return heads / kv_heads; }
  NEURONA_HD_INLINE bool windowed() const { return window_left >= 0 || window_right >= 0; }
  /// Whether key blocks that the causal mask and the window hide entirely may be skipped: only
  /// where every query row sees a key (no explicit mask, and the window leaves none empty),
  /// since a row whose keys are all hidden attends every key uniformly (Keras), hidden ones
  /// included. Row i sees key min(i, tk - 1) unless the window's left side ends before it.
  NEURONA_HD_INLINE bool skips_hidden_blocks() const {
    if (has_mask || !(causal || windowed())) return false;
    return window_left < 0 || tq - 1 - window_left <= tk - 1;
  }
  /// The keys that query rows [i0, i1) may see: [keys_begin(i0), keys_end(i1)), every key
  /// where blocks are not skipped.
  NEURONA_HD_INLINE std::int64_t keys_begin(std::int64_t i0) const {
    if (!skips_hidden_blocks() || window_left < 0) return 0;
    return i0 - window_left > 0 ? i0 - window_left : 0;
  }
  NEURONA_HD_INLINE std::int64_t keys_end(std::int64_t i1) const {
    std::int64_t end = tk;
    if (!skips_hidden_blocks()) return end;
    if (causal && i1 < end) end = i1;
    if (window_right >= 0 && i1 + window_right < end) end = i1 + window_right;
    return end;
  }
  /// The query rows that may see keys [j0, j1): [queries_begin(j0), queries_end(j1)).
  NEURONA_HD_INLINE std::int64_t queries_begin(std::int64_t j0) const {
    if (!skips_hidden_blocks()) return 0;
    std::int64_t begin = causal ? j0 : 0;
    if (window_right >= 0 && j0 - window_right > begin) begin = j0 - window_right;
    return begin < tq ? begin : tq;
  }
  NEURONA_HD_INLINE std::int64_t queries_end(std::int64_t j1) const {
    if (!skips_hidden_blocks() || window_left < 0) return tq;
    return j1 + window_left < tq ? j1 + window_left : tq;
  }
  /// Offsets of row i of query / output head n, and of key / value row j of kv head.
  NEURONA_HD_INLINE std::int64_t q_offset(std::int64_t b, std::int64_t n, std::int64_t i) const {
    return ((b * tq + i) * heads + n) * head_dim;
  }
  NEURONA_HD_INLINE std::int64_t o_offset(std::int64_t b, std::int64_t n, std::int64_t i) const {
    return ((b * tq + i) * heads + n) * value_dim;
  }
  NEURONA_HD_INLINE std::int64_t k_offset(std::int64_t b, std::int64_t nk, std::int64_t j) const {
    return ((b * tk + j) * kv_heads + nk) * head_dim;
  }
  NEURONA_HD_INLINE std::int64_t v_offset(std::int64_t b, std::int64_t nk, std::int64_t j) const {
    return ((b * tk + j) * kv_heads + nk) * value_dim;
  }
  /// Row (b, n, i) of the (batch, heads, tq) statistics.
  NEURONA_HD_INLINE std::int64_t row(std::int64_t b, std::int64_t n, std::int64_t i) const {
    return (b * heads + n) * tq + i;
  }
};

/// The logit a hidden key gets, as Keras's masks (a large negative number, not -inf): a row with
/// at least one visible key gives hidden ones probability exactly 0 (exp underflows), and a row
/// whose keys are all hidden attends all of them uniformly, as keras.ops.dot_product_attention.
template <typename Acc>
NEURONA_HD_INLINE constexpr Acc attention_hidden_logit() {
  return Acc(-1e30);
}

/// Whether query i of (b, n) attends key j: Keras's causal mask is tril(ones(tq, tk)), aligned at
/// the top left (j <= i), the window's band, and the explicit mask's nonzero elements.
NEURONA_HD_INLINE bool attention_visible(const AttentionGeometry& g, const std::uint8_t* mask,
                                         std::int64_t b, std::int64_t n, std::int64_t i,
                                         std::int64_t j) {
  if (g.causal && j > i) return false;
  if (g.window_left >= 0 && j < i - g.window_left) return false;
  if (g.window_right >= 0 && j > i + g.window_right) return false;
  return mask == nullptr || mask[b * g.mask.b + n * g.mask.n + i * g.mask.i + j * g.mask.j] != 0;
}

/// A range of keys [begin, end), empty when begin == end.
struct AttentionKeyRange {
  std::int64_t begin = 0, end = 0;
};

/// The keys of [j0, j1) that the causal mask and the window leave query i (the explicit mask
/// aside): attention_visible's other rules as a range, which is what they hide a row of, so that
/// a loop over a block's row fills the hidden ends instead of testing every key (the CPU
/// kernels).
NEURONA_HD_INLINE AttentionKeyRange attention_unhidden_keys(const AttentionGeometry& g,
                                                            std::int64_t i, std::int64_t j0,
                                                            std::int64_t j1) {
  std::int64_t begin = j0, end = j1;
  if (g.causal && i + 1 < end) end = i + 1;
  if (g.window_left >= 0 && i - g.window_left > begin) begin = i - g.window_left;
  if (g.window_right >= 0 && i + g.window_right + 1 < end) end = i + g.window_right + 1;
  if (begin > j1) begin = j1;
  return {begin, end > begin ? end : begin};
}

/// Dropout's multiplier for element (row, j), row = g.row(b, n, i): 0 (dropped) or 1 / (1 -
/// rate). One Philox call gives four elements' words (element e = row * tk + j + d.offset uses
/// word e % 4 of counter e / 4).
template <typename Acc>
NEURONA_HD_INLINE Acc attention_dropout_factor(const AttentionDropout& d, std::int64_t row,
                                               std::int64_t tk, std::int64_t j) {
  if (!d.enabled) return Acc(1);
  const auto e = static_cast<std::uint64_t>(row) * static_cast<std::uint64_t>(tk) +
                 static_cast<std::uint64_t>(j) + static_cast<std::uint64_t>(d.offset);
  const Philox4x32 w = philox_words(d.resolved_key(), e >> 2, 0);
  const unsigned lane = static_cast<unsigned>(e & 3u);
  // Selected, not indexed: a dynamic index would put the words in a GPU thread's local memory.
  const std::uint32_t word = lane == 0 ? w.v[0] : lane == 1 ? w.v[1] : lane == 2 ? w.v[2] : w.v[3];
  return (word >> 8) < d.keep_below ? static_cast<Acc>(d.scale) : Acc(0);
}

/// exp(x) for the softmax's x <= 0: +0 without calling exp below the log of half the smallest
/// subnormal (where exp rounds to +0 anyway), so that the hidden keys' logits, far below, do not
/// take the C library's underflow path (glibc reports each one through errno, slowly).
template <typename Acc>
NEURONA_HD_INLINE constexpr Acc attention_exp_zero_below() {
  return sizeof(Acc) == sizeof(float) ? Acc(-104) : Acc(-746);
}
template <typename Acc>
NEURONA_HD_INLINE Acc attention_exp(Acc x) {
  return x < attention_exp_zero_below<Acc>() ? Acc(0) : std::exp(x);
}

/// A query row's online-softmax state: the running maximum of its logits and the sum of
/// exp(logit - max) so far. Start with {-inf, 0}.
template <typename Acc>
struct OnlineSoftmax {
  Acc max, sum;
};

template <typename Acc>
NEURONA_HD_INLINE OnlineSoftmax<Acc> online_softmax_start() {
  return {-std::numeric_limits<Acc>::infinity(), Acc(0)};
}

/// Moves the state to a new maximum `block_max` (of the next block's logits): returns the factor
/// exp(old max - new max) by which the sum (done here) and the row's output accumulator (by the
/// caller) are multiplied. 0 from the starting state.
template <typename Acc>
NEURONA_HD_INLINE Acc online_softmax_rescale(OnlineSoftmax<Acc>& s, Acc block_max) {
  const Acc m = block_max > s.max ? block_max : s.max;
  const Acc alpha = attention_exp(s.max - m);
  s.max = m;
  s.sum *= alpha;
  return alpha;
}

/// The log-sum-exp of a finished row, what the backward pass needs: max + log(sum); -inf marks a
/// row whose keys are all hidden (its probabilities are uniform, 1 / tk, not exp(logit - lse):
/// log(tk) would be lost next to the hidden logit).
template <typename Acc>
NEURONA_HD_INLINE Acc online_softmax_lse(const OnlineSoftmax<Acc>& s) {
  if (!(s.max > attention_hidden_logit<Acc>())) return -std::numeric_limits<Acc>::infinity();
  return s.max + std::log(s.sum);
}

/// The softmax probability of a (scaled, hidden-replaced) logit given its row's lse.
template <typename Acc>
NEURONA_HD_INLINE Acc attention_probability(Acc logit, Acc lse, Acc uniform) {
  return lse == -std::numeric_limits<Acc>::infinity() ? uniform : attention_exp(logit - lse);
}

/// The logit's gradient: p * (dp * dropout - D), D = dot(dO, O) of the row; 0 for a hidden key
/// (Keras replaces its logit by a constant). dp = dot(dO, V_j).
template <typename Acc>
NEURONA_HD_INLINE Acc attention_logit_gradient(bool visible, Acc p, Acc dp, Acc dropout, Acc d) {
  return visible ? p * (dp * dropout - d) : Acc(0);
}

}  // namespace neurona::kernels
