# Runs `neurona bench` on a small subset of Fashion-MNIST on the CPU and checks its JSON line:
# the fields compare_cpu.py and compare_pytorch.py read, with the run's own sizes.
execute_process(
  COMMAND ${NEURONA} bench --model mlp --device cpu --epochs 2 --train-samples 1000
          --test-samples 500
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona bench failed (${rc})")
endif()
if(NOT out MATCHES "mlp on cpu: 2 epochs of 1000 images, batch 128: median epoch")
  message(FATAL_ERROR "neurona bench: no summary line")
endif()
string(REGEX MATCH "\n({\"benchmark\":\"train\"[^\n]*})\n" line "${out}")
if(NOT line)
  message(FATAL_ERROR "neurona bench printed no JSON line")
endif()
set(json "${CMAKE_MATCH_1}")

include(${CMAKE_CURRENT_LIST_DIR}/json_expect.cmake)
expect_json("${json}" framework "neurona")
expect_json("${json}" model "mlp")
expect_json("${json}" device "cpu")
expect_json("${json}" epochs "2")
expect_json("${json}" train_samples "1000")
expect_json("${json}" batch_size "128")
expect_json("${json}" median_epoch_seconds "[0-9.e+-]+")
expect_json("${json}" test_accuracy "0\\.[5-9][0-9]*")
expect_json("${json}" raw_allocations_after_first_epoch "[0-9]+")
string(JSON n_epochs LENGTH "${json}" epoch_seconds)
string(JSON n_counts LENGTH "${json}" raw_allocations_per_epoch)
if(NOT n_epochs EQUAL 2 OR NOT n_counts EQUAL 2)
  message(FATAL_ERROR "neurona bench: expected two epoch times and two allocation counts")
endif()
