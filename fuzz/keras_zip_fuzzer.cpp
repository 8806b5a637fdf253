// libFuzzer target for the `.keras` loader: arbitrary bytes into load_model_from_bytes (zip,
// metadata.json, config.json, model.weights.h5). It must throw IoError or ValueError, or
// load a model; anything else (a crash, a sanitizer report, another exception type) is a bug.
#include <neurona/models/saving.h>
#include <neurona/neurona.h>
#include <cstdint>
#include <string_view>

namespace nr = neurona;

// libhdf5 1.10 leaks a few internal blocks when it gives up on some corrupt files (the stacks
// are entirely inside libhdf5_serial; see the saving note). LeakSanitizer ignores leaks
// allocated there and still checks neurona's own code.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libhdf5_serial\n";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    // Limits well under libFuzzer's -rss_limit_mb (4 GB in scripts/fuzz.sh): the defaults let
    // a config ask for 4 GiB of weights, which is legitimate, not a bug. An input that gets
    // past these and still exhausts memory is one.
    auto model = nr::models::load_model_from_bytes(
        std::string_view(reinterpret_cast<const char*>(data), size),
        {.max_config_bytes = std::uint64_t{1} << 20, .max_params = std::int64_t{1} << 24});
    nr::clear_session();  // keeps layer-name counters from growing without bound
  } catch (const nr::IoError&) {
  } catch (const nr::ValueError&) {
  }
  return 0;
}
