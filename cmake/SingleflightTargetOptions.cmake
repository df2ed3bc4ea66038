# Build options for the project's own executables (tests, examples, later stress/bench/proofs):
# warnings, warnings-as-errors and the sanitizer set chosen by SINGLEFLIGHT_SANITIZE. Nothing
# here touches the `singleflight` INTERFACE target, so consumers of the installed package get
# none of it.
#
#   singleflight_target_options(<target>)   applies the options to one executable target and,
#                                           under a sanitizer, makes ctest run it (and list its
#                                           gtest cases) with the sanitizer's runtime options

include_guard(GLOBAL)
include(CheckCXXCompilerFlag)
include(CheckLinkerFlag)

set(_sf_warnings -Wall -Wextra -Wpedantic -Wshadow)
if(SINGLEFLIGHT_WERROR)
  list(APPEND _sf_warnings -Werror)
  # g++ 12 before 12.4 reports a bogus -Wrestrict inside libstdc++ for `"literal" + std::string&&`
  # at -O2/-O3 (GCC bug 105651; Debian 12 ships 12.2): keep it a warning, not an error.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 12.4)
    list(APPEND _sf_warnings -Wno-error=restrict)
  endif()
endif()

set(_sf_sanitize_flags "")
set(_sf_runtime_options "")
if(SINGLEFLIGHT_SANITIZE STREQUAL "")
  # No sanitizer.
elseif(SINGLEFLIGHT_SANITIZE STREQUAL "thread" OR SINGLEFLIGHT_SANITIZE STREQUAL "address,undefined")
  set(_sf_sanitize_flags -fsanitize=${SINGLEFLIGHT_SANITIZE} -fno-omit-frame-pointer -g)
  if(SINGLEFLIGHT_SANITIZE STREQUAL "address,undefined")
    # Without it UBSan prints a finding and carries on, and the test passes.
    list(APPEND _sf_sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  # Probe compile and link together: a compiler that accepts the flag may still lack the runtime.
  string(REPLACE ";" " " _sf_probe "${_sf_sanitize_flags}")
  set(CMAKE_REQUIRED_FLAGS "${_sf_probe}")
  string(MAKE_C_IDENTIFIER "SINGLEFLIGHT_CXX_SANITIZE_${SINGLEFLIGHT_SANITIZE}" _sf_cxx_var)
  string(MAKE_C_IDENTIFIER "SINGLEFLIGHT_LD_SANITIZE_${SINGLEFLIGHT_SANITIZE}" _sf_ld_var)
  check_cxx_compiler_flag("-fsanitize=${SINGLEFLIGHT_SANITIZE}" ${_sf_cxx_var})
  check_linker_flag(CXX "-fsanitize=${SINGLEFLIGHT_SANITIZE}" ${_sf_ld_var})
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT ${_sf_cxx_var} OR NOT ${_sf_ld_var})
    message(FATAL_ERROR
      "SINGLEFLIGHT_SANITIZE=${SINGLEFLIGHT_SANITIZE}: ${CMAKE_CXX_COMPILER_ID} "
      "${CMAKE_CXX_COMPILER_VERSION} (${CMAKE_CXX_COMPILER}) cannot compile and link with "
      "'${_sf_probe}'. Install the sanitizer runtime (on Debian: libtsan2 / libasan8 libubsan1 "
      "for g++ 12) or pick another compiler.")
  endif()

  if(SINGLEFLIGHT_SANITIZE STREQUAL "thread")
    # tsan.supp names libcds's reclamation scans: they live in the uninstrumented libcds.so,
    # so TSan cannot see the synchronization they rely on.
    set(_sf_runtime_options
      "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tsan.supp halt_on_error=1 second_deadlock_stack=1")
  else()
    # detect_leaks: a leak fails the test (the exit code is nonzero), as any other finding does.
    set(_sf_runtime_options
      "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1"
      "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endif()
else()
  message(FATAL_ERROR
    "SINGLEFLIGHT_SANITIZE='${SINGLEFLIGHT_SANITIZE}' is not supported: use \"\" (none), "
    "\"thread\" or \"address,undefined\".")
endif()

function(singleflight_target_options target)
  target_compile_options(${target} PRIVATE ${_sf_warnings} ${_sf_sanitize_flags})
  if(_sf_sanitize_flags)
    target_link_options(${target} PRIVATE ${_sf_sanitize_flags})
    # ctest runs every test of this target through this launcher (add_test() with the target as
    # its command, and gtest_discover_tests both for listing and for running), so the options
    # hold everywhere without an ENVIRONMENT property per test. CMake 3.29 calls this
    # TEST_LAUNCHER; in 3.25 the emulator property is how a launcher is spelled.
    set_property(TARGET ${target} PROPERTY CROSSCOMPILING_EMULATOR
                 "${CMAKE_COMMAND}" -E env ${_sf_runtime_options})
  endif()
endfunction()

# For the project's executables that use Asio (singleflight::asio), after
# singleflight_target_options: Asio brackets every handler it runs with std::atomic_thread_fence
# (asio/detail/std_fenced_block.hpp), which g++ reports under ThreadSanitizer as unsupported
# (-Wtsan), an error with -Werror. The order those fences add is also given by the scheduler's
# mutex, which TSan does see; the warning is silenced for these targets only, so that a fence in
# the library itself would still be reported.
function(singleflight_asio_target_options target)
  if(SINGLEFLIGHT_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-tsan)
  endif()
endfunction()
