#!/bin/sh
# Two-drop schedules with the first ×0.1 drop fixed (docs/decisions.md, "What a first drop by Yaida's
# median allows"): per "net:momentum:seed:first", one run with its first drop at FIRST, and forked from
# it a second ×0.1 drop at each step of GRID (train.py --branch-at), one training process at a time:
#   sh bench/realtask/twodrop.sh OUTDIR STEPS "net:momentum:seed:first …" GRID
# writes OUTDIR/<net>-m<μ>-s<seed>.first<F>.ev (the single drop at F) and .ev.drop<S> (drops at F and S).
set -e
out=$1; steps=$2; runs=$3; grid=$4
here=$(dirname "$0")
mkdir -p "$out"
for r in $runs; do
  net=${r%%:*}; rest=${r#*:}; mu=${rest%%:*}; rest=${rest#*:}; seed=${rest%%:*}; first=${rest#*:}
  name=$net-m$mu-s$seed.first$first
  [ -s "$out/$name.done" ] && continue
  nice -n 10 /usr/bin/python3 "$here/train.py" --net "$net" --momentum "$mu" --seed "$seed" --steps "$steps" \
    --policy "steps:$first" --branch-at "$grid" --out /dev/null --no-stream --evals "$out/$name.ev" 2> "$out/$name.log"
  date > "$out/$name.done"
done
