# Runs `neurona train --model resnet` (ResNet-20 on the images padded to 32x32) on a few
# Fashion-MNIST images as a user would, then `neurona evaluate` and `neurona predict` on the
# saved weights.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

execute_process(
  COMMAND ${NEURONA} train --model resnet --epochs 2 --train-samples 512 --test-samples 256
          --out ${WORK_DIR}/run --verbose 2
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona train --model resnet failed (${rc})")
endif()
foreach(expected "Model: \"resnet20\"" "pad \\(ZeroPadding2D\\)" "conv4_block3_out"
        "Total params: 273,466" "Epoch 2/2" "Test loss: [0-9.]+ - test accuracy: 0\\.[0-9]+")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "neurona train --model resnet: output lacks '${expected}'")
  endif()
endforeach()
string(REGEX MATCH "test accuracy: [0-9.]+" trained_accuracy "${out}")
if(NOT EXISTS ${WORK_DIR}/run/resnet.weights.h5)
  message(FATAL_ERROR "neurona train wrote no resnet.weights.h5")
endif()

execute_process(
  COMMAND ${NEURONA} evaluate --model resnet --weights ${WORK_DIR}/run/resnet.weights.h5
          --test-samples 256
  OUTPUT_VARIABLE eval_out ERROR_VARIABLE eval_err RESULT_VARIABLE rc)
message("${eval_out}${eval_err}")
if(NOT rc EQUAL 0 OR NOT eval_out MATCHES "${trained_accuracy}")
  message(FATAL_ERROR "neurona evaluate --model resnet does not report the trained model's "
                      "${trained_accuracy} (${rc})")
endif()
