# Runs COMMAND with ARGS (a ;-list) and the environment assignments in ENV, sends it SIGNAL (INT or
# TERM) DELAY seconds after its first line (printed once its handlers are in place) and, with
# SECOND, the same signal again SECOND seconds later; checks that it exits with STATUS, that its
# output matches every regular expression in PATTERN (a ;-list) and none in ABSENT, and, with
# JSON, that the file is valid JSON whose meta and last run say "interrupted": true.
#   cmake -DCOMMAND=... -DARGS=... -DSIGNAL=INT -DDELAY=1.5 -DSTATUS=130 -DPATTERN=...
#         [-DSECOND=0.5] [-DABSENT=...] [-DJSON=...] [-DENV=...] -P interrupt.cmake
set(env_prefix "")
if(ENV)
  set(env_prefix env ${ENV})  # env(1) execs: the signal reaches sf-stress itself
endif()
string(RANDOM LENGTH 8 tag)
set(out_file "${CMAKE_CURRENT_BINARY_DIR}/interrupt-${tag}.out")  # polled for the first line
if(JSON)
  file(REMOVE "${JSON}")
endif()
execute_process(
  COMMAND bash -c [=[
set -m  # job control: without it a script's background job ignores SIGINT
out=$1 sig=$2 delay=$3 second=$4
shift 4
"$@" >"$out" 2>&1 &
pid=$!
(sleep 15; kill -KILL "$pid") >/dev/null 2>&1 &  # never hang: a run left going dies
guard=$!
# The first line comes once the handlers are in place.
for _ in $(seq 100); do grep -q '^sf-stress: [0-9]* runs' "$out" && break; sleep 0.05; done
sleep "$delay"
kill -"$sig" "$pid"
if [[ -n $second ]]; then sleep "$second"; kill -"$sig" "$pid"; fi
wait "$pid"
status=$?
kill -- -"$guard"
exit "$status"
]=] interrupt "${out_file}" "${SIGNAL}" "${DELAY}" "${SECOND}" ${env_prefix} "${COMMAND}" ${ARGS}
  RESULT_VARIABLE status OUTPUT_VARIABLE shell_out ERROR_VARIABLE shell_err)
file(READ "${out_file}" out)
file(REMOVE "${out_file}")
set(all "${out}${shell_out}${shell_err}")
if(NOT "${status}" STREQUAL "${STATUS}")
  message(FATAL_ERROR "expected exit status ${STATUS}, got ${status}\n--- output ---\n${all}")
endif()
foreach(pattern IN LISTS PATTERN)
  if(NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "output does not match '${pattern}'\n--- output ---\n${all}")
  endif()
endforeach()
foreach(pattern IN LISTS ABSENT)
  if(out MATCHES "${pattern}")
    message(FATAL_ERROR "output matches '${pattern}', and must not\n--- output ---\n${all}")
  endif()
endforeach()
if(JSON)
  file(READ "${JSON}" doc)
  string(JSON marked ERROR_VARIABLE error GET "${doc}" meta interrupted)
  if(error)
    message(FATAL_ERROR "${JSON}: no meta.interrupted: ${error}")
  endif()
  string(JSON runs LENGTH "${doc}" runs)
  if(NOT marked OR runs EQUAL 0)
    message(FATAL_ERROR "${JSON}: meta.interrupted is ${marked}, with ${runs} run(s)")
  endif()
  math(EXPR last "${runs} - 1")
  string(JSON cut GET "${doc}" runs ${last} interrupted)
  if(NOT cut)
    message(FATAL_ERROR "${JSON}: the last run is not marked interrupted")
  endif()
endif()
message(STATUS "exit status ${status} and output as expected")
