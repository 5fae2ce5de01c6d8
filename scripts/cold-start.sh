#!/usr/bin/env bash
# Cold start and size of the Lambda binary for each release-profile choice (the `try-*`
# profiles in Cargo.toml; `release` is try-fat stripped): builds each, measures it as built and
# stripped, zips it, and times process start -> ready for the first event with the network
# stubbed (scripts/lib/cold_start.py).
#
#   scripts/cold-start.sh [ROUNDS] [PROFILE ...]   (default: 15 rounds, every profile)
#
# Every profile is a full release build of the dependency tree: ~10 minutes each on 2 cores the
# first time, cached in target/ after.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"
rounds="${1:-15}"
shift || true
profiles=("$@")
if [ ${#profiles[@]} -eq 0 ]; then
    profiles=(try-defaults try-fat try-fat-abort)
fi
out="$STATE/cold-start"
mkdir -p "$out"
targets=()
for profile in "${profiles[@]}"; do
    say "building the consumer with profile $profile"
    started=$SECONDS
    cargo build --quiet --profile "$profile" --bin consumer
    say "$profile built in $((SECONDS - started)) s (0 if cached)"
    cp "target/$profile/consumer" "$out/$profile"
    strip -o "$out/$profile-stripped" "$out/$profile"
    targets+=("$profile=$out/$profile" "$profile+strip=$out/$profile-stripped")
done
"${PYTHON:-python3}" scripts/lib/cold_start.py "$rounds" "${targets[@]}"
