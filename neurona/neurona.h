// The umbrella header: everything a user of neurona writes against.
//   #include <neurona/neurona.h>
//   namespace nr = neurona;
#pragma once

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/autograd/variable.h"
#include "neurona/config.h"
#include "neurona/core/allocator.h"
#include "neurona/core/device.h"
#include "neurona/core/dtype.h"
#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/core/random.h"
#include "neurona/core/shape.h"
#include "neurona/core/tensor.h"
