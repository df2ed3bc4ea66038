# Runs the compiler on SOURCE twice: as written it must compile; with -D${DEFINE} it must fail
# with an error that matches EXPECT. cmake -DCXX=... -DINCLUDE=... -DSOURCE=... -DDEFINE=...
# -DEXPECT=... -P expect.cmake
foreach(var CXX INCLUDE SOURCE DEFINE EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect.cmake: ${var} is not set")
  endif()
endforeach()
set(compile "${CXX}" -std=c++20 -pthread -fsyntax-only -I "${INCLUDE}" "${SOURCE}")

execute_process(COMMAND ${compile} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} as written does not compile, so the failure below would prove "
                      "nothing:\n${err}")
endif()

execute_process(COMMAND ${compile} -D${DEFINE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} with -D${DEFINE} compiled; it must be refused")
endif()
if(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} with -D${DEFINE} was refused, but no error matches "
                      "'${EXPECT}':\n${err}")
endif()
message(STATUS "as written: compiles; with -D${DEFINE}: refused, matching '${EXPECT}'")
