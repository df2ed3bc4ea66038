# Runs COMMAND with ARGS (a ;-list) and the environment assignments in ENV, and checks that it
# exits with STATUS and that its output matches the regular expression PATTERN.
#   cmake -DCOMMAND=... -DARGS=... -DSTATUS=... -DPATTERN=... [-DENV=...] -P expect.cmake
set(env_prefix "")
if(ENV)
  set(env_prefix "${CMAKE_COMMAND}" -E env ${ENV})
endif()
execute_process(COMMAND ${env_prefix} "${COMMAND}" ${ARGS}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
if(NOT "${status}" STREQUAL "${STATUS}")
  message(FATAL_ERROR "expected exit status ${STATUS}, got ${status}\n--- output ---\n${all}")
endif()
if(NOT all MATCHES "${PATTERN}")
  message(FATAL_ERROR "output does not match '${PATTERN}'\n--- output ---\n${all}")
endif()
message(STATUS "exit status ${status} and output matching '${PATTERN}', as expected")
