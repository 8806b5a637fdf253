// libFuzzer target for the `.weights.h5` loader: arbitrary bytes into load_weights of a small
// CNN (every layer kind that has weights), with float32, bfloat16 and float16 variables (the
// same layer names, so one file fits all three). The loader must throw IoError or ValueError
// and leave the model unchanged, or load; anything else (a crash, a sanitizer report, another
// exception type) is a bug.
#include <neurona/models/saving.h>
#include <neurona/neurona.h>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace nr = neurona;
namespace L = nr::layers;

namespace {

nr::Sequential* make_model(const char* dtype) {
  nr::set_seed(1);
  return new nr::Sequential(
      {L::Input({6, 6, 1}), L::Conv2D(2, 3, {.name = "conv2d", .dtype = dtype}),
       L::BatchNormalization({.name = "batch_normalization", .dtype = dtype}),
       L::MaxPooling2D(2, {.name = "max_pooling2d"}), L::Flatten({.name = "flatten"}),
       L::Dense(2, {.name = "dense", .dtype = dtype})});
}

// Made once and never destroyed (as the fuzzer's process ends, not between inputs), so that
// LeakSanitizer sees them reachable at exit.
const std::vector<nr::Sequential*>& models() {
  static const auto* m = new std::vector<nr::Sequential*>{
      make_model("float32"), make_model("bfloat16"), make_model("float16")};
  return *m;
}

}  // namespace

// libhdf5 1.10 leaks a few internal blocks when it gives up on some corrupt files (the stacks
// are entirely inside libhdf5_serial; see the saving note). LeakSanitizer ignores leaks
// allocated there and still checks neurona's own code.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libhdf5_serial\n";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  for (nr::Sequential* m : models()) {
    const std::vector<nr::Tensor> before = m->get_weights();
    try {
      nr::models::load_weights_from_bytes(
          *m, std::string_view(reinterpret_cast<const char*>(data), size));
      m->set_weights(before);  // loaded: restore for the next input
    } catch (const nr::IoError&) {
    } catch (const nr::ValueError&) {
    }
  }
  return 0;
}
