#!/usr/bin/env bash
# The project's main job, for now: build the demo in Release and run it. Arguments are passed to
# sf-demo (--threads N, --calls N, --sleep-ms N); with none it runs its defaults.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
echo "==> configuring build/release (Release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "==> building sf-demo"
cmake --build build/release --target sf-demo -j "$(nproc)"
echo "==> running sf-demo $*"
exec build/release/examples/sf-demo "$@"
