# neurona_probe_package(<name>): whether find_package(<name> CONFIG REQUIRED) loads, tried in a
# child CMake so that a package config that fails hard (Debian's oneDNN requires the OpenCL
# headers) turns an optional dependency off instead of stopping the configure.
# Sets <name>_PROBE_OK, and <name>_PROBE_ERROR (the child's first error line) where the package's
# config exists but does not load.
function(neurona_probe_package name)
  set(dir "${CMAKE_BINARY_DIR}/probe-${name}")
  file(MAKE_DIRECTORY "${dir}")
  file(WRITE "${dir}/CMakeLists.txt"
       "cmake_minimum_required(VERSION ${CMAKE_MINIMUM_REQUIRED_VERSION})\n"
       "project(probe_${name} LANGUAGES C CXX)\n"
       "find_package(${name} CONFIG REQUIRED)\n")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${dir}" -B "${dir}/build"
            "-DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH}"
            "-DCMAKE_C_COMPILER=${CMAKE_C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(rc EQUAL 0)
    set(${name}_PROBE_OK TRUE PARENT_SCOPE)
  else()
    set(${name}_PROBE_OK FALSE PARENT_SCOPE)
    if(err MATCHES "Could not find a package configuration file")
      return()  # not installed: nothing to report
    endif()
    string(REGEX MATCH "Could NOT find[^\n]*" first "${err}")
    if(NOT first)
      string(REGEX MATCH "CMake Error[^\n]*" first "${err}")
    endif()
    set(${name}_PROBE_ERROR "${first}" PARENT_SCOPE)
  endif()
endfunction()
