// The recurrent cells and the time loop. The loop projects every step's inputs with one GEMM,
// takes the steps apart with one unstack (whose gradient is one stack, not T pads), runs the cell
// step by step with differentiable ops, and keeps a masked step's previous states, as Keras's
// backend.rnn does. Where Keras's cuDNN conditions hold on a GPU, nr::rnn_fused runs instead.
#include "neurona/layers/rnn.h"

#include <algorithm>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/layers/masking.h"

namespace neurona::layers {

namespace {

const char* cell_class(RNNKind kind) {
  switch (kind) {
    case RNNKind::lstm:
      return "LSTMCell";
    case RNNKind::gru:
      return "GRUCell";
    default:
      return "SimpleRNNCell";
  }
}

const char* layer_class(RNNKind kind) {
  switch (kind) {
    case RNNKind::lstm:
      return "LSTM";
    case RNNKind::gru:
      return "GRU";
    default:
      return "SimpleRNN";
  }
}

// Keras clamps the rates to [0, 1].
double clamp_rate(double r) {
  return std::min(1.0, std::max(0.0, r));
}

RecurrentOptions clamped(RecurrentOptions o) {
  o.dropout = clamp_rate(o.dropout);
  o.recurrent_dropout = clamp_rate(o.recurrent_dropout);
  return o;
}

}  // namespace

// ---------------------------------------------------------------- the cell

RNNCellLayer::RNNCellLayer(RNNKind kind, std::int64_t units, const RecurrentOptions& options,
                           std::string name)
    : Layer(cell_class(kind),
            {.name = std::move(name), .trainable = options.trainable, .dtype = options.dtype}),
      kind_(kind),
      units_(units),
      options_(clamped(options)),
      seed_generator_(options.seed) {
  NEURONA_CHECK(units > 0, ValueError, describe(),
                ": Received an invalid value for argument `units`, expected a positive integer, "
                "got ",
                units, ".");
  track_seed_generator(seed_generator_);
}

std::int64_t RNNCellLayer::gates() const {
  switch (kind_) {
    case RNNKind::lstm:
      return 4;
    case RNNKind::gru:
      return 3;
    default:
      return 1;
  }
}

std::vector<std::int64_t> RNNCellLayer::state_size() const {
  if (kind_ == RNNKind::lstm) return {units_, units_};
  return {units_};
}

void RNNCellLayer::build(const Shape& input_shape) {
  const std::int64_t input_dim = input_shape[-1];
  const std::int64_t width = gates() * units_;
  kernel_ = add_weight("kernel", {input_dim, width},
                       {.initializer = options_.kernel_initializer,
                        .regularizer = options_.kernel_regularizer,
                        .constraint = options_.kernel_constraint});
  recurrent_kernel_ = add_weight("recurrent_kernel", {units_, width},
                                 {.initializer = options_.recurrent_initializer,
                                  .regularizer = options_.recurrent_regularizer,
                                  .constraint = options_.recurrent_constraint});
  if (!options_.use_bias) return;
  initializers::Initializer init = options_.bias_initializer;
  if (kind_ == RNNKind::lstm && options_.unit_forget_bias) {
    // Keras's: the initializer's values for i, ones for f, the initializer's for c and o.
    const std::int64_t u = units_;
    init = initializers::Initializer(
        [base = options_.bias_initializer, u](const Shape&, const TensorOptions& o) {
          return concat({base({u}, o), ones({u}, o), base({2 * u}, o)}, 0);
        },
        options_.bias_initializer.name(), options_.bias_initializer.config());
  }
  const Shape shape =
      kind_ == RNNKind::gru && options_.reset_after ? Shape({2, width}) : Shape({width});
  bias_ = add_weight("bias", shape,
                     {.initializer = init,
                      .regularizer = options_.bias_regularizer,
                      .constraint = options_.bias_constraint});
}

const Variable& RNNCellLayer::kernel() const {
  NEURONA_CHECK(kernel_.has_value(), ValueError, describe(),
                ": the kernel does not exist until the layer is built");
  return *kernel_;
}

const Variable& RNNCellLayer::recurrent_kernel() const {
  NEURONA_CHECK(recurrent_kernel_.has_value(), ValueError, describe(),
                ": the recurrent kernel does not exist until the layer is built");
  return *recurrent_kernel_;
}

const Variable& RNNCellLayer::bias() const {
  NEURONA_CHECK(bias_.has_value(), ValueError, describe(),
                options_.use_bias ? ": the bias does not exist until the layer is built"
                                  : ": the layer has no bias (use_bias = false)");
  return *bias_;
}

ConfigValue RNNCellLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("units", units_);
  config.set("activation", options_.activation.name());
  if (kind_ != RNNKind::simple_rnn) {
    config.set("recurrent_activation", options_.recurrent_activation.name());
  }
  config.set("use_bias", options_.use_bias);
  if (kind_ == RNNKind::lstm) config.set("unit_forget_bias", options_.unit_forget_bias);
  config.set("kernel_initializer", serialize(options_.kernel_initializer));
  config.set("recurrent_initializer", serialize(options_.recurrent_initializer));
  config.set("bias_initializer", serialize(options_.bias_initializer));
  config.set("kernel_regularizer", serialize(options_.kernel_regularizer));
  config.set("recurrent_regularizer", serialize(options_.recurrent_regularizer));
  config.set("bias_regularizer", serialize(options_.bias_regularizer));
  config.set("kernel_constraint", serialize(options_.kernel_constraint));
  config.set("recurrent_constraint", serialize(options_.recurrent_constraint));
  config.set("bias_constraint", serialize(options_.bias_constraint));
  config.set("dropout", options_.dropout);
  config.set("recurrent_dropout", options_.recurrent_dropout);
  if (kind_ == RNNKind::gru) config.set("reset_after", options_.reset_after);
  config.set("seed", options_.seed ? ConfigValue(*options_.seed) : ConfigValue());
  return config;
}

// ---------------------------------------------------------------- the step

namespace {

// A dropout mask as Keras's backend.random.dropout(ones, rate): 0 or 1 / (1 - rate).
Tensor dropout_mask(SeedGenerator& generator, const Shape& shape, double rate, DType dtype,
                    Device device) {
  const Tensor u =
      random_uniform(shape, {.dtype = dtype, .device = device, .seed_generator = &generator});
  const double keep = 1.0 - rate;
  return where(less(u, scalar_like(u, keep)), fill_like(u, 1.0 / keep), zeros_like(u));
}

// What one call of the cell reads at every step: the weights (whole and per gate) and the
// dropout masks, drawn once per call as Keras's DropoutRNNCell caches them.
struct StepContext {
  std::int64_t units = 0;
  Tensor recurrent_kernel;
  std::vector<Tensor> recurrent_parts;  // per gate, where the step needs them
  Tensor recurrent_bias;                // GRU with reset_after (3 * units)
  std::vector<Tensor> recurrent_bias_parts;
  std::vector<Tensor> input_masks;      // 1, or one per gate (Keras's implementation 1)
  std::vector<Tensor> recurrent_masks;  // 1 (SimpleRNN), or one per gate
};

// Keras's cells: implementation 1 (a mask per gate) when recurrent_dropout is set, else one
// input mask. SimpleRNN has one of each.
StepContext begin_call(RNNCellLayer& cell, const Tensor& sequences, bool training) {
  const RecurrentOptions& o = cell.options();
  StepContext ctx;
  ctx.units = cell.units();
  const std::int64_t u = ctx.units;
  const std::int64_t gates = cell.gates();
  ctx.recurrent_kernel = cell.read_weight(cell.recurrent_kernel());
  const bool per_gate = cell.kind() != RNNKind::simple_rnn && o.recurrent_dropout > 0.0;
  const std::int64_t batch = sequences.shape()[0];
  const DType dtype = sequences.dtype();
  const Device device = sequences.device();
  if (training && o.dropout > 0.0 && o.dropout < 1.0) {
    const std::int64_t count = per_gate ? gates : 1;
    for (std::int64_t i = 0; i < count; ++i) {
      ctx.input_masks.push_back(dropout_mask(cell.seed_generator(), {batch, sequences.shape()[2]},
                                             o.dropout, dtype, device));
    }
  }
  if (training && o.recurrent_dropout > 0.0 && o.recurrent_dropout < 1.0) {
    const std::int64_t count = per_gate ? gates : 1;
    for (std::int64_t i = 0; i < count; ++i) {
      ctx.recurrent_masks.push_back(
          dropout_mask(cell.seed_generator(), {batch, u}, o.recurrent_dropout, dtype, device));
    }
  }
  const bool gru_before = cell.kind() == RNNKind::gru && !o.reset_after;
  if (ctx.recurrent_masks.size() > 1 || gru_before) {
    for (std::int64_t g = 0; g < gates; ++g) {
      ctx.recurrent_parts.push_back(narrow(ctx.recurrent_kernel, 1, g * u, u));
    }
  }
  if (cell.kind() == RNNKind::gru && o.reset_after && cell.has_bias()) {
    ctx.recurrent_bias = reshape(narrow(cell.read_weight(cell.bias()), 0, 1, 1), {gates * u});
    if (ctx.recurrent_masks.size() > 1) {
      for (std::int64_t g = 0; g < gates; ++g) {
        ctx.recurrent_bias_parts.push_back(narrow(ctx.recurrent_bias, 0, g * u, u));
      }
    }
  }
  return ctx;
}

// The input bias: the bias, or a reset_after GRU's first row.
Tensor input_bias(const RNNCellLayer& cell) {
  if (!cell.has_bias()) return {};
  const Tensor b = cell.read_weight(cell.bias());
  if (b.rank() == 2) return reshape(narrow(b, 0, 0, 1), {b.shape()[1]});
  return b;
}

// Every step's inputs times the kernel, plus the input bias: (batch, timesteps, gates * units).
Tensor project_inputs(const RNNCellLayer& cell, const Tensor& x, const StepContext& ctx) {
  const std::int64_t b = x.shape()[0], t = x.shape()[1], d = x.shape()[2];
  const Tensor kernel = cell.read_weight(cell.kernel());
  const Tensor bias = input_bias(cell);
  auto project = [&](const Tensor& xs, const Tensor& k, const Tensor& bb) {
    return reshape(dense(reshape(xs, {b * t, d}), k, bb), {b, t, k.shape()[1]});
  };
  auto masked = [&](const Tensor& m) { return multiply(x, reshape(m, {b, 1, d})); };
  if (ctx.input_masks.empty()) return project(x, kernel, bias);
  if (ctx.input_masks.size() == 1) return project(masked(ctx.input_masks[0]), kernel, bias);
  const std::int64_t u = ctx.units;
  std::vector<Tensor> parts;
  for (std::size_t g = 0; g < ctx.input_masks.size(); ++g) {
    const auto off = static_cast<std::int64_t>(g) * u;
    parts.push_back(project(masked(ctx.input_masks[g]), narrow(kernel, 1, off, u),
                            bias.defined() ? narrow(bias, 0, off, u) : Tensor()));
  }
  return concat(parts, 2);
}

// One step: the new states from a step's projected inputs (batch, gates * units).
std::vector<Tensor> step(const RNNCellLayer& cell, const StepContext& ctx, const Tensor& xp,
                         const std::vector<Tensor>& states) {
  const RecurrentOptions& o = cell.options();
  const std::int64_t u = ctx.units;
  const Tensor& h = states[0];
  auto gate = [u](const Tensor& z, std::int64_t g) { return narrow(z, 1, g * u, u); };
  const bool per_gate = ctx.recurrent_masks.size() > 1;
  auto h_for = [&](std::size_t g) {
    if (ctx.recurrent_masks.empty()) return h;
    return multiply(h, ctx.recurrent_masks[per_gate ? g : 0]);
  };
  switch (cell.kind()) {
    case RNNKind::simple_rnn:
      return {o.activation(add(xp, matmul(h_for(0), ctx.recurrent_kernel)))};
    case RNNKind::lstm: {
      std::vector<Tensor> z(4);
      if (per_gate) {
        for (std::size_t g = 0; g < 4; ++g) {
          z[g] =
              add(gate(xp, static_cast<std::int64_t>(g)), matmul(h_for(g), ctx.recurrent_parts[g]));
        }
      } else {
        const Tensor all = add(xp, matmul(h, ctx.recurrent_kernel));
        for (std::size_t g = 0; g < 4; ++g) z[g] = gate(all, static_cast<std::int64_t>(g));
      }
      const Tensor i = o.recurrent_activation(z[0]);
      const Tensor f = o.recurrent_activation(z[1]);
      const Tensor c = add(multiply(f, states[1]), multiply(i, o.activation(z[2])));
      const Tensor out = multiply(o.recurrent_activation(z[3]), o.activation(c));
      return {out, c};
    }
    case RNNKind::gru: {
      Tensor rz, rr, rh;
      if (o.reset_after) {
        if (per_gate) {
          Tensor r3[3];
          for (std::size_t g = 0; g < 3; ++g) {
            r3[g] = matmul(h_for(g), ctx.recurrent_parts[g]);
            if (ctx.recurrent_bias.defined()) r3[g] = add(r3[g], ctx.recurrent_bias_parts[g]);
          }
          rz = r3[0], rr = r3[1], rh = r3[2];
        } else {
          Tensor inner = matmul(h, ctx.recurrent_kernel);
          if (ctx.recurrent_bias.defined()) inner = add(inner, ctx.recurrent_bias);
          rz = gate(inner, 0), rr = gate(inner, 1), rh = gate(inner, 2);
        }
      } else {
        rz = matmul(h_for(0), ctx.recurrent_parts[0]);
        rr = matmul(h_for(1), ctx.recurrent_parts[1]);
      }
      const Tensor z = o.recurrent_activation(add(gate(xp, 0), rz));
      const Tensor r = o.recurrent_activation(add(gate(xp, 1), rr));
      const Tensor recurrent_h =
          o.reset_after ? multiply(r, rh) : matmul(multiply(r, h_for(2)), ctx.recurrent_parts[2]);
      const Tensor hh = o.activation(add(gate(xp, 2), recurrent_h));
      return {add(multiply(z, h), multiply(1.0 - z, hh))};
    }
  }
  return {};
}

}  // namespace

// ---------------------------------------------------------------- the layer

RNNLayer::RNNLayer(RNNKind kind, std::int64_t units, RecurrentOptions options)
    : Layer(layer_class(kind), {.name = options.name,
                                .trainable = options.trainable,
                                .dtype = options.dtype,
                                .input_shape = options.input_shape}),
      options_(clamped(std::move(options))) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  set_supports_masking(true);
  set_call_takes_mask(true);
  set_call_takes_initial_state(true);
  NEURONA_CHECK(units > 0, ValueError, describe(),
                ": Received an invalid value for argument `units`, expected a positive integer, "
                "got ",
                units, ".");
  NEURONA_CHECK(!options_.use_cudnn.has_value() || kind != RNNKind::simple_rnn, ValueError,
                describe(), ": use_cudnn is an argument of LSTM and GRU only");
  const char* cell_name = kind == RNNKind::lstm  ? "lstm_cell"
                          : kind == RNNKind::gru ? "gru_cell"
                                                 : "simple_rnn_cell";
  RecurrentOptions cell_options = options_;
  cell_options.dtype = dtype_policy();
  cell_ = std::make_shared<RNNCellLayer>(kind, units, cell_options, cell_name);
  track_layer(cell_, "cell");
  set_activity_regularizer(options_.activity_regularizer);
}

void RNNLayer::check_sequences(const Shape& shape) const {
  NEURONA_CHECK(shape.rank() == 3, ValueError, "Input 0 of layer \"", name(),
                "\" is incompatible with the layer: expected ndim=3, found ndim=", shape.rank(),
                ". Full shape received: ", shape_str(shape));
  NEURONA_CHECK(shape[2] > 0, ShapeError, describe(),
                ": the last dimension of the inputs must be known, got shape ", shape_str(shape));
  if (cell_->built()) {
    const std::int64_t d = cell_->kernel().shape()[0];
    NEURONA_CHECK(shape[2] == d, ValueError, "Input 0 of layer \"", name(),
                  "\" is incompatible with the layer: expected axis -1 of input shape to have "
                  "value ",
                  d, ", but received input with shape ", shape_str(shape));
  }
}

void RNNLayer::build(const Shape& input_shape) {
  check_sequences(input_shape);
  cell_->ensure_built({input_shape[0], input_shape[2]});
  if (options_.stateful) {
    NEURONA_CHECK(input_shape[0] >= 0, ValueError,
                  "When using `stateful=True` in a RNN, the batch size must be static. Found "
                  "dynamic batch size: sequence.shape=",
                  shape_str(input_shape));
    states_.clear();
    for (std::int64_t s : cell_->state_size()) {
      states_.emplace_back(zeros({input_shape[0], s}, {.dtype = dtype()}),
                           VariableOptions{.name = name() + "/rnn_state", .trainable = false});
    }
  }
}

void RNNLayer::build_list(const std::vector<Shape>& input_shapes) {
  build(input_shapes.at(0));
}

std::vector<Tensor> RNNLayer::states() const {
  std::vector<Tensor> out;
  for (const Variable& v : states_) out.push_back(v.read_value());
  return out;
}

void RNNLayer::reset_states() {
  for (Variable& v : states_) v.assign(zeros_like(v.value()));
}

Shape RNNLayer::compute_output_shape(const Shape& input_shape) const {
  return compute_output_shape_list({input_shape})[0];
}

std::vector<Shape> RNNLayer::compute_output_shape_list(
    const std::vector<Shape>& input_shapes) const {
  const Shape& s = input_shapes.at(0);
  check_sequences(s);
  const std::int64_t u = units();
  std::vector<Shape> out{options_.return_sequences ? Shape({s[0], s[1], u}) : Shape({s[0], u})};
  if (options_.return_state) {
    for (std::int64_t n : cell_->state_size()) out.push_back(Shape({s[0], n}));
  }
  return out;
}

Tensor RNNLayer::call(const Tensor& inputs, bool training) {
  NEURONA_CHECK(!options_.return_state, ValueError, describe(), " returns ",
                1 + cell_->state_size().size(),
                " tensors (return_state=True); call apply() to get them all");
  return run(inputs, {}, Tensor(), training)[0];
}

std::vector<Tensor> RNNLayer::call_list(const std::vector<Tensor>& inputs, bool training) {
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list");
  return run(inputs[0], std::vector<Tensor>(inputs.begin() + 1, inputs.end()), Tensor(), training);
}

Tensor RNNLayer::call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) {
  if (!mask.defined()) return call(inputs, training);
  NEURONA_CHECK(!options_.return_state, ValueError, describe(),
                " returns several tensors; call apply() to get them all");
  return run(inputs, {}, mask, training)[0];
}

std::vector<Tensor> RNNLayer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                   const std::vector<Tensor>& masks,
                                                   bool training) {
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list");
  const Tensor mask = masks.empty() ? Tensor() : masks[0];
  return run(inputs[0], std::vector<Tensor>(inputs.begin() + 1, inputs.end()), mask, training);
}

Tensor RNNLayer::compute_mask(const Tensor& /*inputs*/, const Tensor& mask) const {
  return options_.return_sequences ? mask : Tensor();
}

std::vector<Tensor> RNNLayer::compute_mask_list(const std::vector<Tensor>& /*inputs*/,
                                                const std::vector<Tensor>& masks) const {
  const Tensor mask = masks.empty() || !options_.return_sequences ? Tensor() : masks[0];
  return std::vector<Tensor>(1, mask);
}

std::vector<Tensor> RNNLayer::run(const Tensor& given, std::vector<Tensor> initial_state,
                                  const Tensor& mask, bool training) {
  // Cast as operator() casts them (run is also called directly, by Bidirectional).
  const Tensor sequences = autocast(given);
  check_sequences(sequences.shape());
  const std::int64_t batch = sequences.shape()[0];
  const std::int64_t steps = sequences.shape()[1];
  NEURONA_CHECK(steps > 0, ValueError, describe(),
                ": the inputs need at least one timestep, got shape ",
                shape_str(sequences.shape()));
  const std::vector<std::int64_t> sizes = cell_->state_size();
  if (initial_state.empty()) {
    if (options_.stateful) {
      NEURONA_CHECK(states_.empty() || states_[0].shape()[0] == batch, ValueError,
                    "If an RNN is stateful, the batch size of the input sequences must be the "
                    "same as the batch size of the initial state. \n- Expected batch size: ",
                    states_.empty() ? 0 : states_[0].shape()[0],
                    "\n- Received batch size: ", batch);
      // Copies: the variables change after the call, and the tape may need the values.
      for (const Variable& v : states_) initial_state.push_back(v.read_value());
    } else {
      for (std::int64_t s : sizes) {
        initial_state.push_back(
            zeros({batch, s}, {.dtype = sequences.dtype(), .device = sequences.device()}));
      }
    }
  }
  NEURONA_CHECK(initial_state.size() == sizes.size(), ValueError, describe(), ": expected ",
                sizes.size(), " initial state tensor(s), got ", initial_state.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Tensor& s = initial_state[i];
    NEURONA_CHECK(s.defined(), ValueError, describe(), ": initial state ", i,
                  " is an undefined tensor");
    NEURONA_CHECK(s.shape() == Shape({batch, sizes[i]}), ValueError, describe(), ": initial state ",
                  i, " has shape ", shape_str(s.shape()), "; expected ",
                  shape_str(Shape({batch, sizes[i]})));
    if (is_floating(s.dtype()) && s.dtype() != sequences.dtype()) s = cast(s, sequences.dtype());
  }
  if (mask.defined()) {
    NEURONA_CHECK(mask.shape() == Shape({batch, steps}), ValueError, describe(),
                  ": the mask has shape ", shape_str(mask.shape()), "; expected ",
                  shape_str(Shape({batch, steps})));
  }
  std::vector<Tensor> out = use_fused(sequences, mask)
                                ? run_fused(sequences, std::move(initial_state), mask, training)
                                : run_generic(sequences, std::move(initial_state), mask, training);
  if (options_.stateful) {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      states_[i].assign(cast(out[i + 1], states_[i].dtype()));
    }
  }
  if (!options_.return_state) out.resize(1);
  return out;
}

std::vector<Tensor> RNNLayer::run_generic(const Tensor& sequences, std::vector<Tensor> states,
                                          const Tensor& mask, bool training) {
  const StepContext ctx = begin_call(*cell_, sequences, training);
  const std::vector<Tensor> inputs = unstack(project_inputs(*cell_, sequences, ctx), 1);
  std::vector<Tensor> conditions;
  if (mask.defined()) {
    for (const Tensor& m : unstack(mask_condition(mask), 1)) {
      conditions.push_back(reshape(m, {m.shape()[0], 1}));
    }
  }
  const auto steps = static_cast<std::int64_t>(inputs.size());
  std::vector<Tensor> outputs;
  Tensor last;
  for (std::int64_t k = 0; k < steps; ++k) {
    const auto t = static_cast<std::size_t>(options_.go_backwards ? steps - 1 - k : k);
    std::vector<Tensor> next = step(*cell_, ctx, inputs[t], states);
    Tensor output = next[0];
    if (!conditions.empty()) {
      const Tensor& keep = conditions[t];
      // A masked step keeps the states and outputs the previous output (Keras: states[0]).
      output = options_.zero_output_for_mask ? where(keep, next[0], zeros_like(next[0]))
                                             : where(keep, next[0], states[0]);
      for (std::size_t i = 0; i < next.size(); ++i) next[i] = where(keep, next[i], states[i]);
    }
    states = std::move(next);
    if (options_.return_sequences) outputs.push_back(output);
    last = output;
  }
  std::vector<Tensor> out{options_.return_sequences ? stack(outputs, 1) : last};
  out.insert(out.end(), states.begin(), states.end());
  return out;
}

bool RNNLayer::use_fused(const Tensor& sequences, const Tensor& mask) const {
  const RecurrentOptions& o = options_;
  if (o.use_cudnn == false) return false;
  const bool cell_ok = cell_->kind() != RNNKind::simple_rnn && o.activation.name() == "tanh" &&
                       o.recurrent_activation.name() == "sigmoid" && o.use_bias &&
                       o.recurrent_dropout == 0.0 && !o.unroll &&
                       (cell_->kind() != RNNKind::gru || o.reset_after);
  bool ok = cell_ok && rnn_fused_available(sequences.device(), sequences.dtype());
  // A mask must be right-padded (each row ones, then zeros) with at least one step per row
  // (cuDNN's lengths are positive); reading it costs a synchronisation, so it is checked only
  // where the fused path could run.
  if (ok && mask.defined()) {
    if (o.go_backwards || o.zero_output_for_mask) {
      ok = false;
    } else {
      const std::vector<double> m =
          cast(mask_condition(mask), DType::float64).to(Device::cpu()).to_vector<double>();
      const std::int64_t b = mask.shape()[0], t = mask.shape()[1];
      for (std::int64_t i = 0; i < b && ok; ++i) {
        ok = m[static_cast<std::size_t>(i * t)] != 0.0;
        bool seen_zero = false;
        for (std::int64_t j = 0; j < t; ++j) {
          const bool on = m[static_cast<std::size_t>(i * t + j)] != 0.0;
          if (on && seen_zero) {
            ok = false;
            break;
          }
          seen_zero = seen_zero || !on;
        }
      }
    }
  }
  if (o.use_cudnn == true) {
    NEURONA_CHECK(ok, ValueError,
                  "use_cudnn=True was specified, but cuDNN is not supported for this layer "
                  "configuration with this backend. Pass use_cudnn='auto' to fallback to a "
                  "non-cuDNN implementation.");
  }
  return ok;
}

std::vector<Tensor> RNNLayer::run_fused(const Tensor& sequences, std::vector<Tensor> states,
                                        const Tensor& mask, bool training) {
  const RecurrentOptions& o = options_;
  const std::int64_t batch = sequences.shape()[0];
  const std::int64_t steps = sequences.shape()[1];
  Tensor x = sequences;
  // Keras's cuDNN path: the input dropout mask of the first step, for every step.
  if (training && o.dropout > 0.0 && o.dropout < 1.0) {
    const Tensor m = dropout_mask(cell_->seed_generator(), {batch, sequences.shape()[2]}, o.dropout,
                                  x.dtype(), x.device());
    x = multiply(x, reshape(m, {batch, 1, sequences.shape()[2]}));
  }
  if (o.go_backwards)
    x = stack(std::vector<Tensor>([&] {
                std::vector<Tensor> s = unstack(x, 1);
                std::reverse(s.begin(), s.end());
                return s;
              }()),
              1);
  std::vector<std::int32_t> lengths;
  if (mask.defined()) {
    const std::vector<double> m =
        cast(mask_condition(mask), DType::float64).to(Device::cpu()).to_vector<double>();
    for (std::int64_t i = 0; i < batch; ++i) {
      std::int32_t n = 0;
      for (std::int64_t j = 0; j < steps; ++j)
        n += m[static_cast<std::size_t>(i * steps + j)] != 0.0;
      lengths.push_back(n);
    }
  }
  const RNNMode mode = cell_->kind() == RNNKind::lstm ? RNNMode::lstm : RNNMode::gru;
  const RNNFusedOutputs r =
      rnn_fused(mode, x, states[0], mode == RNNMode::lstm ? states[1] : Tensor(),
                cell_->read_weight(cell_->kernel()), cell_->read_weight(cell_->recurrent_kernel()),
                cell_->read_weight(cell_->bias()), lengths);
  Tensor y = r.sequences;
  if (!lengths.empty() && o.return_sequences) {
    // cuDNN writes zeros past a sequence's end; Keras's loop repeats the last output there.
    const Tensor keep = reshape(mask_condition(mask), {batch, steps, 1});
    y = where(keep, y, reshape(r.h, {batch, 1, units()}));
  }
  std::vector<Tensor> out{o.return_sequences ? y : r.h, r.h};
  if (mode == RNNMode::lstm) out.push_back(r.c);
  return out;
}

ConfigValue RNNLayer::get_build_config() const {
  if (!built()) return ConfigValue();
  return ConfigValue::Dict{{"input_shape", shape_config(build_input_shapes()[0])}};
}

ConfigValue RNNLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("return_sequences", options_.return_sequences);
  config.set("return_state", options_.return_state);
  config.set("go_backwards", options_.go_backwards);
  config.set("stateful", options_.stateful);
  config.set("unroll", options_.unroll);
  config.set("zero_output_for_mask", options_.zero_output_for_mask);
  const ConfigValue cell = cell_->get_config();
  for (const char* key :
       {"units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
        "recurrent_initializer", "bias_initializer", "unit_forget_bias", "kernel_regularizer",
        "recurrent_regularizer", "bias_regularizer"}) {
    if (const ConfigValue* v = cell.find(key)) config.set(key, *v);
  }
  config.set("activity_regularizer", serialize(options_.activity_regularizer));
  for (const char* key : {"kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
                          "recurrent_dropout", "reset_after"}) {
    if (const ConfigValue* v = cell.find(key)) config.set(key, *v);
  }
  // Keras's SimpleRNN leaves the seed out of its config.
  if (kind() != RNNKind::simple_rnn) config.set("seed", *cell.find("seed"));
  return config;
}

}  // namespace neurona::layers
