// What a device is, for reports and benchmarks (`neurona bench` prints it and looks the peak
// throughput up by it). Not included by neurona/neurona.h: include it where it is needed.
//   std::printf("%s\n", nr::device_name(nr::Device::parse("cuda")).c_str());  // NVIDIA H200
#pragma once

#include <string>

#include "neurona/core/device.h"

namespace neurona {

/// The device's name as its driver reports it: cudaDeviceProp::name for a GPU ("NVIDIA H200",
/// "NVIDIA H100 80GB HBM3"), the first "model name" of /proc/cpuinfo for the CPU ("CPU" where
/// there is none). ValueError naming the device when it does not exist.
std::string device_name(Device d);

}  // namespace neurona
