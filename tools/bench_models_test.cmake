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

include(${CMAKE_CURRENT_LIST_DIR}/json_expect.cmake)

set(number "[0-9]+(\\.[0-9]*)?(e[+-]?[0-9]+)?")

# GPT-2's layout at 2 layers, width 64, 4 heads, vocabulary 500, context 64: 2 blocks of
# 4 * 64 * 64 + 4 * 64 (attention) + 2 * 64 * 256 + 256 + 64 (MLP) + 4 * 64 (two LayerNorms)
# = 49984, the embeddings 500 * 64 + 64 * 64, the final LayerNorm 128: 136192.
run_bench(gpt --model gpt2 --layers 2 --context 64 --width 64 --heads 4 --vocab-size 500
  --batch-size 4 --steps 3 --epochs 2 --peak-tflops 1)
expect_json("${gpt}" framework "neurona")
expect_json("${gpt}" model "gpt2")
expect_json("${gpt}" device "cpu")
expect_json("${gpt}" dtype_policy "float32")
expect_json("${gpt}" parameters "136192")
expect_json("${gpt}" batch_size "4")
expect_json("${gpt}" context "64")
expect_json("${gpt}" unit "tokens")
expect_json("${gpt}" items_per_second "${number}")
expect_json("${gpt}" tflops "${number}")
expect_json("${gpt}" peak_tflops "1(\\.0*)?")
expect_json("${gpt}" mfu "${number}")
expect_json("${gpt}" peak_device_bytes "[1-9][0-9]*")
string(JSON n_epochs LENGTH "${gpt}" epoch_seconds)
string(JSON n_losses LENGTH "${gpt}" epoch_loss)
if(NOT n_epochs EQUAL 2 OR NOT n_losses EQUAL 2)
  message(FATAL_ERROR "neurona bench: expected two epoch times and two losses")
endif()
# Random tokens: the first epoch's loss is about ln(500) = 6.2.
expect_json("${gpt}" "epoch_loss;0" "[5-7]\\.[0-9]*")

# The same with each block rematerialized: the flag reaches the model and the JSON line.
run_bench(gpt_remat --model gpt2 --layers 2 --context 64 --width 64 --heads 4 --vocab-size 500
  --batch-size 4 --steps 3 --epochs 2 --remat-blocks)
expect_json("${gpt_remat}" remat_blocks "(true|ON)")
expect_json("${gpt}" remat_blocks "(false|OFF)")
expect_json("${gpt_remat}" "epoch_loss;0" "[5-7]\\.[0-9]*")

# Keras's ResNet50 on 32x32x3 images and 10 classes (23,608,202 parameters), mixed_bfloat16.
run_bench(resnet --model resnet50 --image-size 32 --classes 10 --batch-size 4 --steps 2
  --epochs 2 --dtype-policy mixed_bfloat16)
expect_json("${resnet}" model "resnet50")
expect_json("${resnet}" dtype_policy "mixed_bfloat16")
expect_json("${resnet}" parameters "23608202")
expect_json("${resnet}" image_size "32")
expect_json("${resnet}" classes "10")
expect_json("${resnet}" unit "images")
expect_json("${resnet}" items_per_second "${number}")
expect_json_null("${resnet}" mfu)
expect_json("${resnet}" "epoch_loss;1" "${number}")
