# Runs `neurona train` on a small subset of Fashion-MNIST as a user would, then checks what it
# printed and wrote, and that `neurona evaluate` on the saved weights reports the same figures.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

execute_process(
  COMMAND ${NEURONA} train --model mlp --epochs 2 --train-samples 3000 --test-samples 1000
          --validation-split 0.1 --out ${WORK_DIR}/run --verbose 2 --tensorboard ${WORK_DIR}/logs
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona train failed (${rc})")
endif()
foreach(expected "Total params: 235,146" "Epoch 2/2" "3000 training"
        "Test loss: [0-9.]+ - test accuracy: 0\\.[7-9]")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "neurona train: output lacks '${expected}'")
  endif()
endforeach()
string(REGEX MATCH "test accuracy: [0-9.]+" trained_accuracy "${out}")

file(READ ${WORK_DIR}/run/history.csv csv)
if(NOT csv MATCHES "^epoch,accuracy,loss,val_accuracy,val_loss\r?\n0,[^\n]+\n1,[^\n]+\n$")
  message(FATAL_ERROR "history.csv is not two epochs with Keras's columns:\n${csv}")
endif()
if(NOT EXISTS ${WORK_DIR}/run/mlp.weights.h5)
  message(FATAL_ERROR "neurona train wrote no mlp.weights.h5")
endif()
foreach(run train validation)
  file(GLOB events ${WORK_DIR}/logs/${run}/events.out.tfevents.*)
  list(LENGTH events count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "--tensorboard wrote ${count} event files in logs/${run}, not one")
  endif()
endforeach()
# --augment: the training images streamed through a Dataset with RandomFlip on worker threads.
execute_process(
  COMMAND ${NEURONA} train --model mlp --epochs 1 --train-samples 1000 --test-samples 200
          --validation-split 0.1 --out ${WORK_DIR}/augmented --verbose 2 --augment
  OUTPUT_VARIABLE aug_out ERROR_VARIABLE aug_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT aug_out MATCHES "8/8 .* val_loss: [0-9.]+" OR
   NOT aug_out MATCHES "Test loss: [0-9.]+")
  message(FATAL_ERROR "neurona train --augment failed (${rc}):\n${aug_out}${aug_err}")
endif()
find_program(GNUPLOT gnuplot)
if(GNUPLOT AND NOT EXISTS ${WORK_DIR}/run/curves.png)
  message(FATAL_ERROR "gnuplot is installed but neurona train wrote no curves.png")
endif()

execute_process(
  COMMAND ${NEURONA} evaluate --model mlp --weights ${WORK_DIR}/run/mlp.weights.h5
          --test-samples 1000
  OUTPUT_VARIABLE eval_out ERROR_VARIABLE eval_err RESULT_VARIABLE rc)
message("${eval_out}${eval_err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona evaluate failed (${rc})")
endif()
if(NOT eval_out MATCHES "${trained_accuracy}")
  message(FATAL_ERROR "neurona evaluate on the saved weights does not report the trained "
                      "model's ${trained_accuracy}")
endif()

execute_process(
  COMMAND ${NEURONA} evaluate --model mlp --weights ${WORK_DIR}/missing.weights.h5
  OUTPUT_VARIABLE bad_out ERROR_VARIABLE bad_err RESULT_VARIABLE rc)
if(rc EQUAL 0 OR NOT bad_err MATCHES "missing.weights.h5")
  message(FATAL_ERROR "neurona evaluate with a missing file must fail naming it:\n${bad_err}")
endif()
