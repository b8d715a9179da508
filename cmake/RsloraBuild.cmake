# Build helpers shared by every target: ccache, warnings, precompiled LibTorch headers, the Qt rule.
find_program(RSLORA_CCACHE ccache)
if(RSLORA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # Paths relative to the checkout let clones in other folders share the cache; precompiled headers
  # need the sloppiness settings to hit at all.
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${RSLORA_CCACHE})
endif()

# Sanitizers for every target of the build folder (the asan preset: address,undefined). LibTorch, Qt
# and OpenBLAS stay uninstrumented; the asan test preset (CMakePresets.json) sets the run-time options,
# tests/sanitizers/ holds the suppressions.
set(RSLORA_SANITIZE "" CACHE STRING "Sanitizers for every target, e.g. address,undefined (empty: none)")
if(RSLORA_SANITIZE)
  add_compile_options(-fsanitize=${RSLORA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${RSLORA_SANITIZE})
endif()

# Warnings for our own code only.
function(rslora_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()

# A library whose own sources run loops with at::parallel_for (see models/AtenParallel.h).
function(rslora_aten_parallel target)
  target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
endfunction()

# LibTorch before anything else in a target with one or two translation units: a precompiled header
# (~0.5 GB, ~25 s to build) costs more than it saves there, but the order still matters (Qt's
# `slots` macro breaks LibTorch headers included after Qt's).
function(rslora_torch_first target)
  target_compile_options(${target} PRIVATE -include torch/torch.h)
endfunction()

# Precompile LibTorch for a target that includes it in many translation units.
function(rslora_torch_pch target)
  if(RSLORA_USE_PCH)
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  else()
    # Same order guarantee without a PCH: LibTorch before any Qt header (Qt's `slots` macro).
    target_compile_options(${target} PRIVATE -include torch/torch.h)
  endif()
endfunction()

# Fails the configure step if any of the given targets links a Qt library, directly or transitively
# through the libraries we own.
function(rslora_forbid_qt)
  foreach(t IN LISTS ARGN)
    if(NOT TARGET ${t})
      continue()
    endif()
    get_target_property(libs ${t} LINK_LIBRARIES)
    get_target_property(ilibs ${t} INTERFACE_LINK_LIBRARIES)
    foreach(l IN LISTS libs ilibs)
      if(l MATCHES "Qt[0-9]?::|QCustomPlot")
        message(FATAL_ERROR "${t} links ${l}: engine, models, storage and common must stay Qt-free")
      endif()
    endforeach()
  endforeach()
endfunction()
