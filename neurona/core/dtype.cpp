// Parsing of dtype names.
#include "neurona/core/dtype.h"

#include "neurona/core/error.h"

namespace neurona {

DType dtype_from_string(std::string_view s) {
  for (DType t : {DType::float32, DType::float64, DType::bfloat16, DType::float16, DType::int32,
                  DType::int64, DType::uint8}) {
    if (name(t) == s) return t;
  }
  throw ValueError(detail::str("dtype: unknown dtype '", s,
                               "'; valid dtypes are float32, float64, bfloat16, float16, int32, "
                               "int64, uint8"));
}

}  // namespace neurona
