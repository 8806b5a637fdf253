# `neurona export-images` writes a few Fashion-MNIST images as PNG files in class folders, then
# `neurona train --image-dir` trains on them (image_dataset_from_directory, a validation split,
# --augment), as a user with a folder of images would.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

execute_process(
  COMMAND ${NEURONA} export-images --out ${WORK_DIR}/images --train-samples 300 --test-samples 20
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "wrote 300 images to")
  message(FATAL_ERROR "neurona export-images failed (${rc})")
endif()
file(GLOB_RECURSE pngs ${WORK_DIR}/images/train/*.png)
list(LENGTH pngs count)
if(NOT count EQUAL 300 OR NOT EXISTS "${WORK_DIR}/images/train/9_Ankle boot"
   OR NOT EXISTS "${WORK_DIR}/images/test/0_T-shirt_top")
  message(FATAL_ERROR "neurona export-images: ${count} training PNGs, or class folders missing")
endif()

execute_process(
  COMMAND ${NEURONA} train --image-dir ${WORK_DIR}/images/train --epochs 2 --batch-size 32
          --validation-split 0.2 --augment --test-samples 200 --out ${WORK_DIR}/run --verbose 2
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona train --image-dir failed (${rc})")
endif()
foreach(expected "Found 300 files belonging to 10 classes" "Using 240 files for training"
        "Using 60 files for validation" "Epoch 2/2.*val_loss"
        "Test loss: [0-9.]+ - test accuracy: 0\\.[0-9]+")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "neurona train --image-dir: output lacks '${expected}'")
  endif()
endforeach()
