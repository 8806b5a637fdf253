# The `neurona` command's messages: a bad number for any numeric option says what the option
# needs, `train` ends each line it prints where gnuplot is missing, and `predict` accepts the
# image shapes its help names and refuses others naming both shapes.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Each case: subcommand, option, value, the message expected on stderr. These fail while the
# arguments are parsed, before any data is read.
function(expect_refused subcommand option value expected)
  set(extra)
  if(subcommand STREQUAL "evaluate")
    set(extra --weights ${WORK_DIR}/none.weights.h5)
  endif()
  execute_process(COMMAND ${NEURONA} ${subcommand} ${extra} ${option} ${value}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(rc EQUAL 0)
    message(FATAL_ERROR "neurona ${subcommand} ${option} ${value} succeeded")
  endif()
  string(FIND "${err}" "${expected}" at)
  if(at EQUAL -1 OR err MATCHES "not in range")
    message(FATAL_ERROR "neurona ${subcommand} ${option} ${value}: expected '${expected}', got:\n"
                        "${err}")
  endif()
endfunction()

foreach(cmd train bench)
  expect_refused(${cmd} --batch-size 0 "--batch-size: must be at least 1, got 0")
  expect_refused(${cmd} --epochs -1 "--epochs: must be at least 1, got -1")
  expect_refused(${cmd} --epochs 0 "--epochs: must be at least 1, got 0")
  expect_refused(${cmd} --epochs three "--epochs: must be a whole number, got 'three'")
  expect_refused(${cmd} --epochs 2.5 "--epochs: must be a whole number, got '2.5'")
  expect_refused(${cmd} --epochs 99999999999 "--epochs: must be at most 2147483647, got 99999999999")
  expect_refused(${cmd} --train-samples -5 "--train-samples: must be at least 0, got -5")
  expect_refused(${cmd} --test-samples -1 "--test-samples: must be at least 0, got -1")
  expect_refused(${cmd} --seed -1 "--seed: must be at least 0, got -1")
endforeach()
expect_refused(train --validation-split 1.5 "--validation-split: must be from 0 to 0.99, got 1.5")
expect_refused(train --validation-split -0.1 "--validation-split: must be from 0 to 0.99, got -0.1")
expect_refused(train --validation-split half
               "--validation-split: must be a number from 0 to 0.99, got 'half'")
expect_refused(train --verbose 3 "--verbose: must be at most 2, got 3")
expect_refused(evaluate --test-samples -1 "--test-samples: must be at least 0, got -1")
expect_refused(train --sync-batch-norm --model=mlp
               "--sync-batch-norm synchronizes BatchNormalization, which only --model resnet has")

# `train` where gnuplot is missing (PATH without it): gnuplot's complaint is a line of its own
# and "Wrote ..." ends with its newline. Both streams in one variable, in the order written.
file(MAKE_DIRECTORY ${WORK_DIR}/no-gnuplot)
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env PATH=${WORK_DIR}/no-gnuplot
          ${NEURONA} train --model mlp --epochs 1 --train-samples 256 --test-samples 128
          --out ${WORK_DIR}/run --verbose 0
  OUTPUT_VARIABLE both ERROR_VARIABLE both RESULT_VARIABLE rc)
message("${both}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona train without gnuplot failed (${rc})")
endif()
if(NOT both MATCHES "(^|\n)neurona: gnuplot failed or is missing[^\n]*\n")
  message(FATAL_ERROR "neurona train: the gnuplot message is not a line of its own")
endif()
if(NOT both MATCHES "(^|\n)Wrote [^\n]*history.csv, [^\n]*mlp.weights.h5\n$")
  message(FATAL_ERROR "neurona train: 'Wrote ...' is not a whole last line")
endif()
if(both MATCHES "curves.png")
  message(FATAL_ERROR "neurona train claims a curves.png that gnuplot did not write")
endif()

# `predict` on the shapes it accepts (a batch without channels, one image with them), and on
# 5x5 images, which it must refuse naming the shape it needs and the one it got.
set(images ${SOURCE_DIR}/tests/reference/data/cli)
foreach(case "u8_images_2x28x28;2" "f32_image_28x28x1;1")
  list(GET case 0 name)
  list(GET case 1 count)
  execute_process(
    COMMAND ${NEURONA} predict --model mlp --weights ${WORK_DIR}/run/mlp.weights.h5
            --input ${images}/${name}.npy
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(REGEX MATCHALL "[0-9]+\t[0-9]\t[^\n]+\n" rows "${out}")
  list(LENGTH rows n)
  if(NOT rc EQUAL 0 OR NOT n EQUAL count)
    message(FATAL_ERROR "neurona predict ${name}: expected ${count} rows, got (${rc}):\n"
                        "${out}${err}")
  endif()
endforeach()
execute_process(
  COMMAND ${NEURONA} predict --model mlp --weights ${WORK_DIR}/run/mlp.weights.h5
          --input ${images}/u8_images_3x5x5.npy
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(CONCAT expected
       "neurona: predict: the mlp model takes images of shape (28, 28, 1) or (28, 28), one "
       "image or a batch of them; ${images}/u8_images_3x5x5.npy holds an array of shape "
       "(3, 5, 5)\n")
if(rc EQUAL 0 OR NOT err STREQUAL expected)
  message(FATAL_ERROR "neurona predict on 5x5 images: expected\n${expected}got (${rc}):\n${err}")
endif()
