#!/bin/sh
# Records never-drop streams of the real-network runs (docs/decisions.md), one
# training process at a time, with single-drop branches for the step grid.
#   sh bench/realtask/record.sh OUTDIR STEPS "net:momentum:seed …" [BRANCHES]
# writes OUTDIR/<net>-m<μ>-s<seed>.jsonl (the stream), .ev (test loss every 250
# steps) and .ev.drop<S> (the run with one ×0.1 drop at S).
set -e
out=$1; steps=$2; runs=$3; branches=${4:-2000,4000,6000,9000}
[ "$branches" = "-" ] && branches=""
here=$(dirname "$0")
mkdir -p "$out"
for r in $runs; do
  net=${r%%:*}; rest=${r#*:}; mu=${rest%%:*}; seed=${rest#*:}
  name=$net-m$mu-s$seed
  [ -s "$out/$name.done" ] && continue
  nice -n 10 /usr/bin/python3 "$here/train.py" --net "$net" --momentum "$mu" --seed "$seed" --steps "$steps" \
    --branch-at "$branches" --out "$out/$name.jsonl" --evals "$out/$name.ev" 2> "$out/$name.log"
  gzip -f "$out/$name.jsonl"
  date > "$out/$name.done"
done
