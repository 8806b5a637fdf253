# `neurona train --model charlm` on a small text, then `neurona generate` from what it wrote, as
# a user would: the logs (bits per character), the files, sampling that a seed makes
# deterministic, and the messages for a missing text and a prompt with unknown characters.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(line "the quick brown fox jumps over the lazy dog.\n")
string(REPEAT "${line}" 40 corpus)
file(WRITE ${WORK_DIR}/corpus.txt "${corpus}")

execute_process(
  COMMAND ${NEURONA} train --model charlm --text ${WORK_DIR}/corpus.txt --context 16 --layers 1
          --heads 2 --width 32 --epochs 2 --batch-size 16 --learning-rate 0.01
          --out ${WORK_DIR}/run --verbose 2
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "neurona train --model charlm failed (${rc})")
endif()
foreach(expected "29 characters in the vocabulary" "Epoch 2/2" "bpc: [0-9.]+" "val_bpc: [0-9.]+"
        "Validation loss: [0-9.]+ - validation bits per character: [0-9.]+")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "neurona train --model charlm: output lacks '${expected}'")
  endif()
endforeach()
file(READ ${WORK_DIR}/run/history.csv csv)
if(NOT csv MATCHES "^epoch,bpc,loss,val_bpc,val_loss\r?\n0,[^\n]+\n1,[^\n]+\n$")
  message(FATAL_ERROR "history.csv is not two epochs with loss and bits per character:\n${csv}")
endif()
# With --steps-per-epoch each epoch draws its own windows and is fitted on its own: the log still
# counts the epochs of the run, and history.csv has one header and a row per epoch.
execute_process(
  COMMAND ${NEURONA} train --model charlm --text ${WORK_DIR}/corpus.txt --context 16 --layers 1
          --heads 2 --width 32 --epochs 2 --batch-size 8 --steps-per-epoch 3
          --tie-embeddings --gelu-approximate --out ${WORK_DIR}/sampled --verbose 2
  OUTPUT_VARIABLE sampled_out ERROR_VARIABLE sampled_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT sampled_out MATCHES "24 training" OR NOT sampled_out MATCHES "Epoch 1/2"
   OR NOT sampled_out MATCHES "Epoch 2/2")
  message(FATAL_ERROR "neurona train --steps-per-epoch failed (${rc}):\n${sampled_out}${sampled_err}")
endif()
file(READ ${WORK_DIR}/sampled/history.csv csv)
if(NOT csv MATCHES "^epoch,bpc,loss,val_bpc,val_loss\r?\n0,[^\n]+\n1,[^\n]+\n$")
  message(FATAL_ERROR "--steps-per-epoch: history.csv is not two epochs:\n${csv}")
endif()
# That run had GPT-2's layout (--tie-embeddings --gelu-approximate): its settings say so, and
# generate rebuilds the same model from them (its weights would not load into another).
file(READ ${WORK_DIR}/sampled/charlm.json tied_settings)
foreach(expected "\"tie_embeddings\": true" "\"gelu_approximate\": true")
  if(NOT tied_settings MATCHES "${expected}")
    message(FATAL_ERROR "charlm.json lacks ${expected}:\n${tied_settings}")
  endif()
endforeach()
execute_process(
  COMMAND ${NEURONA} generate --weights ${WORK_DIR}/sampled/charlm.weights.h5 --prompt "the "
          --length 12
  OUTPUT_VARIABLE tied_out ERROR_VARIABLE tied_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT tied_out MATCHES "^the ")
  message(FATAL_ERROR "generate from the tied model failed (${rc}):\n${tied_out}${tied_err}")
endif()

foreach(f charlm.weights.h5 charlm.json)
  if(NOT EXISTS ${WORK_DIR}/run/${f})
    message(FATAL_ERROR "neurona train --model charlm wrote no ${f}")
  endif()
endforeach()
file(READ ${WORK_DIR}/run/charlm.json settings)
foreach(expected "\"context\": 16" "\"num_layers\": 1" "\"num_heads\": 2" "\"width\": 32"
        "\"vocab_size\": 29")
  if(NOT settings MATCHES "${expected}")
    message(FATAL_ERROR "charlm.json lacks ${expected}:\n${settings}")
  endif()
endforeach()

# The same seed gives the same text; the output starts with the prompt.
set(outputs)
foreach(i 1 2)
  execute_process(
    COMMAND ${NEURONA} generate --weights ${WORK_DIR}/run/charlm.weights.h5 --prompt "the "
            --length 60 --temperature 0.8 --top-k 5 --seed 7
    OUTPUT_VARIABLE gen ERROR_VARIABLE gen_err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT gen MATCHES "^the ")
    message(FATAL_ERROR "neurona generate failed (${rc}):\n${gen}${gen_err}")
  endif()
  string(LENGTH "${gen}" n)
  if(NOT n EQUAL 65)  # the prompt, 60 characters, a newline
    message(FATAL_ERROR "neurona generate printed ${n} characters, not 65:\n${gen}")
  endif()
  list(APPEND outputs "${gen}")
endforeach()
list(GET outputs 0 first)
list(GET outputs 1 second)
message("generated: ${first}")
if(NOT first STREQUAL second)
  message(FATAL_ERROR "neurona generate with one seed gave two texts:\n${first}\n${second}")
endif()

# Bad arguments: each message names what is wrong.
function(expect_failure expected)
  execute_process(COMMAND ${NEURONA} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  string(FIND "${err}" "${expected}" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "neurona ${ARGN}: expected '${expected}', got (${rc}):\n${out}${err}")
  endif()
endfunction()
expect_failure("no such file or folder: ${WORK_DIR}/missing.txt"
               train --model charlm --text ${WORK_DIR}/missing.txt --out ${WORK_DIR}/bad)
expect_failure("characters not in the vocabulary of 29 characters: 'X' (U+0058), 'Q' (U+0051)"
               generate --weights ${WORK_DIR}/run/charlm.weights.h5 --prompt "the XQX")
expect_failure("no such weights file: ${WORK_DIR}/none.weights.h5"
               generate --weights ${WORK_DIR}/none.weights.h5 --prompt "the")
expect_failure("--width: must be at least 1, got 0"
               train --model charlm --text ${WORK_DIR}/corpus.txt --width 0)
expect_failure("must be a multiple of the number of heads (3)"
               train --model charlm --text ${WORK_DIR}/corpus.txt --context 16 --heads 3
               --width 32 --out ${WORK_DIR}/bad)
