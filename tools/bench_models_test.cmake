# Runs `neurona bench --model gpt2` and `--model resnet50` at reduced sizes on the CPU (GPT-2 with
# 2 layers and context 64, ResNet-50 on 32x32 images and 10 classes) and checks their JSON lines:
# the fields benchmarks/compare_large.py reads, the run's own sizes, a finite loss, and an MFU
# only where a peak is known (given here with --peak-tflops).
function(run_bench out_var)
  execute_process(COMMAND ${NEURONA} bench --device cpu ${ARGN}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "neurona bench ${ARGN} failed (${rc})")
  endif()
  string(REGEX MATCH "\n({\"benchmark\":\"model\"[^\n]*})\n" line "${out}")
  if(NOT line)
    message(FATAL_ERROR "neurona bench ${ARGN} printed no JSON line")
  endif()
  set(${out_var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

function(expect json key expected)
  string(JSON value ERROR_VARIABLE error GET "${json}" ${key})
  if(error OR NOT value MATCHES "^${expected}$")
    message(FATAL_ERROR "neurona bench: ${key} is '${value}' (${error}), expected ${expected}")
  endif()
endfunction()

function(expect_null json key)
  string(JSON type ERROR_VARIABLE error TYPE "${json}" ${key})
  if(error OR NOT type STREQUAL "NULL")
    message(FATAL_ERROR "neurona bench: ${key} is of type '${type}' (${error}), expected null")
  endif()
endfunction()

set(number "[0-9]+(\\.[0-9]*)?(e[+-]?[0-9]+)?")

# GPT-2's layout at 2 layers, width 64, 4 heads, vocabulary 500, context 64: 2 blocks of
# 4 * 64 * 64 + 4 * 64 (attention) + 2 * 64 * 256 + 256 + 64 (MLP) + 4 * 64 (two LayerNorms)
# = 49984, the embeddings 500 * 64 + 64 * 64, the final LayerNorm 128: 136192.
run_bench(gpt --model gpt2 --layers 2 --context 64 --width 64 --heads 4 --vocab-size 500
  --batch-size 4 --steps 3 --epochs 2 --peak-tflops 1)
expect("${gpt}" framework "neurona")
expect("${gpt}" model "gpt2")
expect("${gpt}" device "cpu")
expect("${gpt}" dtype_policy "float32")
expect("${gpt}" parameters "136192")
expect("${gpt}" batch_size "4")
expect("${gpt}" context "64")
expect("${gpt}" unit "tokens")
expect("${gpt}" items_per_second "${number}")
expect("${gpt}" tflops "${number}")
expect("${gpt}" peak_tflops "1(\\.0*)?")
expect("${gpt}" mfu "${number}")
expect("${gpt}" peak_device_bytes "[1-9][0-9]*")
string(JSON n_epochs LENGTH "${gpt}" epoch_seconds)
string(JSON n_losses LENGTH "${gpt}" epoch_loss)
if(NOT n_epochs EQUAL 2 OR NOT n_losses EQUAL 2)
  message(FATAL_ERROR "neurona bench: expected two epoch times and two losses")
endif()
# Random tokens: the first epoch's loss is about ln(500) = 6.2.
expect("${gpt}" "epoch_loss;0" "[5-7]\\.[0-9]*")

# Keras's ResNet50 on 32x32x3 images and 10 classes (23,608,202 parameters), mixed_bfloat16.
run_bench(resnet --model resnet50 --image-size 32 --classes 10 --batch-size 4 --steps 2
  --epochs 2 --dtype-policy mixed_bfloat16)
expect("${resnet}" model "resnet50")
expect("${resnet}" dtype_policy "mixed_bfloat16")
expect("${resnet}" parameters "23608202")
expect("${resnet}" image_size "32")
expect("${resnet}" classes "10")
expect("${resnet}" unit "images")
expect("${resnet}" items_per_second "${number}")
expect_null("${resnet}" mfu)
expect("${resnet}" "epoch_loss;1" "${number}")
