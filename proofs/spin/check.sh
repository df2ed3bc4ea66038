#!/usr/bin/env bash
# Checks one property of the Promela model singleflight.pml with Spin, unmutated or with one
# mutant. Prints Spin's own output (and, for an error, the counterexample), then one RESULT line
# in the format of the Relacy models (proofs/model.hpp):
#
#   RESULT model=spin_singleflight property=<S..> mutant=<name> threads=5 search=exhaustive(spin)
#          iterations=<states stored> time_ms=<pan's search> result=<...> expected=<...>
#          verdict=pass|FAIL
#
# usage: check.sh <property> [mutant]
#   property  s1_safety   LTL s1_safety: no two executions of fn overlap unless one flight was
#                         forgotten or abandoned                             pan -N s1_safety
#             liveness    LTL liveness: every caller returns, with the outcome or by its stop or
#                         deadline, unless it waits for an fn that waits for its token while a
#                         caller of that flight never leaves (S6, S7, S12)   pan -a -N liveness
#             asserts     no claim: the assertions (S2, S3, S7, S10, S12) and invalid end states
#                         (deadlock)
#             witnesses   the WITNESSES claims, each of which must be violated (not vacuous)
#   mutant    none (default), skip_waiters_bit, notify_before_done, erase_by_key,
#             abandon_while_caller_waits, abandoned_accepts_joiner, leave_despite_close,
#             enlist_checks_done_first, stop_wakes_nobody, leader_deadline_ignored,
#             leave_notifies_all
#
# Exit status 0 only for verdict=pass: unmutated, Spin reports errors: 0 over a complete search
# (for witnesses: every witness is reached); with a mutant, Spin reports an error of the kind
# that mutant must cause. Runs in a temporary directory. Environment: SPIN (default spin), CC
# (default gcc);
# SPIN_DEFS, extra model options such as "-DNFORGET=2" (shown in the search field).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
property=${1:-}
mutant=${2:-none}
cc=${CC:-gcc}
spin=${SPIN:-spin}
read -r -a extra <<<"${SPIN_DEFS:-}"

usage() {
  echo "usage: $0 s1_safety|liveness|asserts|witnesses [none|<mutant>]" >&2
  exit 2
}

# What each property runs: the model's options (spin -D...), pan's compile options and pan's
# run options.
#   ENVIRONMENT  adds the process that makes a deadlock an infinite run (end of the model), so
#                that a caller blocked forever is an acceptance cycle of the liveness claim.
#   NOGHOSTS     leaves out the ghosts and checks that only the safety properties read.
#   NO_S1_GHOSTS, NO_S2_GHOSTS  leave out the ghosts of S1 (asserts) or of S2 (s1_safety).
#   FN_MAY_HANG  lets fn wait for its stop token, and never return if nobody requests it.
#   SAFETY       pan without cycle detection (a safety claim, or none).
#   NOCLAIM      pan without an LTL claim, so that it reports invalid end states.
#   NOFAIR       pan without weak-fairness bookkeeping: no run uses -f (README.md says why).
# -w: the hash table, 2^22 slots for a whole search (2^24 with SPIN_DEFS), 2^20 for one that
# stops at the first error.
case $property in
  s1_safety) label=S1            model_defs=(-DNO_S2_GHOSTS)                          pan_defs=(-DSAFETY)          pan_args=(-N s1_safety) ;;
  liveness)  label=S6+S7+S12     model_defs=(-DENVIRONMENT -DNOGHOSTS -DFN_MAY_HANG)  pan_defs=()                  pan_args=(-a -N liveness) ;;
  asserts)   label=S2+S3+S7+S10+S12 model_defs=(-DNO_S1_GHOSTS)                       pan_defs=(-DSAFETY -DNOCLAIM) pan_args=() ;;
  witnesses) label=witnesses     model_defs=(-DWITNESSES -DFN_MAY_HANG)               pan_defs=()                  pan_args=() ;;
  *) usage ;;
esac
hash_bits=22
[[ $mutant == none && $property != witnesses ]] || hash_bits=20
[[ ${#extra[@]} -eq 0 || $hash_bits == 20 ]] || hash_bits=24   # a larger model (the long tier)

# The result each mutant must cause, under the property that catches it.
case $mutant/$property in
  none/witnesses)                       expected=ALL_REACHED ;;
  none/*)                               expected=SUCCESS ;;
  erase_by_key/s1_safety)               expected=CLAIM_VIOLATED ;;
  skip_waiters_bit/liveness)            expected=ACCEPTANCE_CYCLE ;;
  notify_before_done/liveness)          expected=ACCEPTANCE_CYCLE ;;
  enlist_checks_done_first/liveness)    expected=ACCEPTANCE_CYCLE ;;
  stop_wakes_nobody/liveness)           expected=ACCEPTANCE_CYCLE ;;
  leader_deadline_ignored/liveness)     expected=ACCEPTANCE_CYCLE ;;
  skip_waiters_bit/asserts)             expected=INVALID_END_STATE ;;
  enlist_checks_done_first/asserts)     expected=INVALID_END_STATE ;;
  abandon_while_caller_waits/asserts)   expected=ASSERTION ;;
  abandoned_accepts_joiner/asserts)     expected=ASSERTION ;;
  leave_despite_close/asserts)          expected=ASSERTION ;;
  leave_notifies_all/asserts)           expected=ASSERTION ;;
  *) echo "check.sh: $property is not the property that catches mutant $mutant" >&2; usage ;;
esac
[[ $mutant == none ]] || model_defs+=("-DMUTANT_${mutant^^}")
model_defs+=("${extra[@]}")
search="exhaustive(spin)"
[[ ${#extra[@]} -eq 0 ]] || search="exhaustive(spin;$(IFS=';'; echo "${extra[*]#-D}"))"

work=$(mktemp -d "${TMPDIR:-/tmp}/sf-spin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/singleflight.pml" "$work/"
cd "$work"

echo "== $("$spin" -V)"
echo "== spin ${model_defs[*]} -a singleflight.pml"
"$spin" "${model_defs[@]}" -a singleflight.pml >spin.out 2>&1 || { cat spin.out; exit 1; }
# A mutant's search stops at its first error, after few states: pan is compiled without
# optimisation there, which takes a quarter of the time.
opt=-O2
[[ $mutant == none ]] || opt=-O0
echo "== $cc $opt -w -DNOFAIR ${pan_defs[*]} -o pan pan.c"
"$cc" $opt -w -DNOFAIR "${pan_defs[@]}" -o pan pan.c

# Runs pan once with the given options; sets `states`, `ms` and `result` (SUCCESS, ASSERTION,
# CLAIM_VIOLATED, ACCEPTANCE_CYCLE, INVALID_END_STATE, INCOMPLETE or ERROR) and prints pan's
# output, and for an error the counterexample replayed by spin. An assertion that fails inside
# the never claim is an LTL safety property failing: CLAIM_VIOLATED.
run_pan() {
  echo "== ./pan $*"
  local start rc=0 errors
  start=$(date +%s%N)
  ./pan "$@" >pan.out 2>&1 || rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  cat pan.out
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | tail -1)
  states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' pan.out | tail -1)
  if [[ $rc -ne 0 || -z $errors || -z $states ]]; then result=ERROR
  elif [[ $errors == 0 ]] && grep -q "max search depth too small\|out of memory\|Search not completed" pan.out; then result=INCOMPLETE
  elif [[ $errors == 0 ]]; then result=SUCCESS
  elif grep -q "^pan:[0-9]*: acceptance cycle" pan.out; then result=ACCEPTANCE_CYCLE
  elif grep -q "^pan:[0-9]*: invalid end state" pan.out; then result=INVALID_END_STATE
  elif grep -q "^pan:[0-9]*: assertion violated" pan.out; then result=ASSERTION
  else result=ERROR
  fi
  if [[ -n $errors && $errors != 0 && -f singleflight.pml.trail ]]; then
    echo "== counterexample: spin ${model_defs[*]} -t -p -B singleflight.pml"
    "$spin" "${model_defs[@]}" -t -p -B singleflight.pml >trail.out 2>&1 || true
    if [[ -n ${trail_tail:-} ]]; then echo "(last $trail_tail lines)"; tail -n "$trail_tail" trail.out; else cat trail.out; fi
    if [[ $result == ASSERTION ]] && grep -q "_spin_nvr.tmp:[0-9]*, Error: assertion violated" trail.out; then
      result=CLAIM_VIOLATED
    fi
    rm -f singleflight.pml.trail
  fi
}

if [[ $property == witnesses ]]; then
  # Each witness claim must be violated; the counterexample is the witness run (only its end is
  # printed).
  trail_tail=4
  total_states=0 total_ms=0 missed=()
  for w in $(sed -n 's/^ltl \(w_[a-z_]*\) .*/\1/p' singleflight.pml); do
    run_pan -a -w$hash_bits -N "$w"
    total_states=$((total_states + ${states:-0})) total_ms=$((total_ms + ms))
    [[ $result == CLAIM_VIOLATED || $result == ACCEPTANCE_CYCLE ]] || missed+=("$w")
  done
  states=$total_states ms=$total_ms
  if [[ ${#missed[@]} -eq 0 ]]; then result=ALL_REACHED; else result="NOT_REACHED:$(IFS=,; echo "${missed[*]}")"; fi
else
  run_pan -w$hash_bits "${pan_args[@]}"
fi

verdict=FAIL
[[ $result == "$expected" ]] && verdict=pass
echo "RESULT model=spin_singleflight property=$label mutant=$mutant threads=5 search=$search" \
     "iterations=${states:-0} time_ms=$ms result=$result expected=$expected verdict=$verdict"
[[ $verdict == pass ]]
