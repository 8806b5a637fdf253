# The JSON-line checks of the `neurona bench` tests (cmake -P scripts): include() it.

# expect_json(JSON KEY REGEX): the value at KEY (a key, or a path "key;index") matches REGEX whole.
function(expect_json json key expected)
  string(JSON value ERROR_VARIABLE error GET "${json}" ${key})
  if(error OR NOT value MATCHES "^${expected}$")
    message(FATAL_ERROR "neurona bench: ${key} is '${value}' (${error}), expected ${expected}")
  endif()
endfunction()

# expect_json_null(JSON KEY): the value at KEY is null.
function(expect_json_null json key)
  string(JSON type ERROR_VARIABLE error TYPE "${json}" ${key})
  if(error OR NOT type STREQUAL "NULL")
    message(FATAL_ERROR "neurona bench: ${key} is of type '${type}' (${error}), expected null")
  endif()
endfunction()
