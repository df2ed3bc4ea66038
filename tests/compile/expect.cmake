# A compile test: the compiler must refuse SOURCE built with FLAGS, and the first line of its
# output that says "error" must match EXPECT. SOURCE built without FLAGS must compile, so that the
# refusal can only come from what FLAGS switch on.
#
#   cmake -DCXX=<compiler> -DINCLUDE=<dir> -DSOURCE=<file> -DFLAGS=<flag>[|<flag>...]
#         -DEXPECT=<regex> -P expect.cmake
foreach(var CXX INCLUDE SOURCE FLAGS EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "expect.cmake: ${var} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" flags "${FLAGS}")
set(compile "${CXX}" -std=c++20 -pthread -fsyntax-only -I "${INCLUDE}")

execute_process(COMMAND ${compile} "${SOURCE}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} as written does not compile, so a refusal would prove nothing:\n${err}")
endif()

# Later flags win: a -std=c++17 in FLAGS overrides the -std=c++20 above.
execute_process(COMMAND ${compile} ${flags} "${SOURCE}" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} with ${flags} compiled; it must be refused")
endif()
string(REGEX MATCH "[^\n]*error[^\n]*" first "${err}")
if(NOT first MATCHES "${EXPECT}")
  message(FATAL_ERROR "${SOURCE} with ${flags} was refused, but its first error does not match "
                      "'${EXPECT}':\n${first}\n\nall of it:\n${err}")
endif()
string(REGEX MATCHALL "\n" lines "${err}")
list(LENGTH lines n)
message(STATUS "refused with ${flags}; first error (of ${n} lines): ${first}")
