#!/bin/sh
# Outcome runs of the real-network harness (docs/decisions.md), one training
# process at a time: per "net:momentum:seed", the policies Yaida, plateau
# (ReduceLROnPlateau) and monitor (the analyzer's advice applied by the real
# CLI, `watch --run --auto-apply`). The never-drop run and the single-drop grid
# come from record.sh.
#   sh bench/realtask/policies.sh OUTDIR STEPS "net:momentum:seed …" [POLICIES]
# writes OUTDIR/<net>-m<μ>-s<seed>.<policy>.ev (test loss every 250 steps) and,
# for monitor, .monitor.decisions (the CLI's decision lines) and .monitor.jsonl.gz
# (the stream as the CLI read it, drops included: the trainer's stdout goes
# through tee, its exit status is kept; its stdin stays the CLI's control channel). monitor-budget: the
# same, with the run's planned length in its meta record (total_steps), the budget test alone (`watch
# --last-call 0`: the rule before the last call); monitor-last: the same with the last call (`--last-call 500`,
# the default: in the final 500 planned steps, drop unless the loss is estimated to still fall).
set -e
out=$1; steps=$2; runs=$3; policies=${4:-monitor yaida plateau}
here=$(dirname "$0")
root=$(cd "$here/../.." && pwd)
mkdir -p "$out"
for r in $runs; do
  net=${r%%:*}; rest=${r#*:}; mu=${rest%%:*}; seed=${rest#*:}
  name=$net-m$mu-s$seed
  for p in $policies; do
    [ -s "$out/$name.$p.done" ] && continue
    policy=$p; budget=; last=
    case $p in
      monitor-budget) policy=monitor; budget=--announce-budget; last="--last-call 0" ;;
      monitor-last) policy=monitor; budget=--announce-budget; last="--last-call 500" ;;
    esac
    args="--net $net --momentum $mu --seed $seed --steps $steps --evals $out/$name.$p.ev --policy $policy $budget"
    if [ "$policy" = monitor ]; then
      nice -n 10 node "$root/out/src/cli/main.js" watch --json --auto-apply $last --run -- \
        sh -c 'rc=$0.rc; { "$@"; echo $? > "$rc"; } | tee "$0"; r=$(cat "$rc"); rm -f "$rc"; exit "$r"' \
        "$out/$name.$p.jsonl" /usr/bin/python3 "$here/train.py" $args \
        > "$out/$name.$p.decisions" 2> "$out/$name.$p.log"
      gzip -f "$out/$name.$p.jsonl"
    else
      nice -n 10 /usr/bin/python3 "$here/train.py" $args --out /dev/null --no-stream 2> "$out/$name.$p.log"
    fi
    date > "$out/$name.$p.done"
  done
done
