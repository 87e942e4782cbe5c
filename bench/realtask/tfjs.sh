#!/bin/sh
# Outcome runs of the TensorFlow.js MLP example (`fdr-monitor train mnist-mlp`,
# its defaults: η 0.05, μ 0.9, batch 64; its own plateaus off) under the
# policies of train.py (docs/decisions.md, "TF.js MLP"), one training process
# at a time:
#   sh bench/realtask/tfjs.sh OUTDIR STEPS "SEEDS" [GRID] [POLICIES]
# POLICIES (default: all) from: never (with single ×0.1 drops forked at each
# step of GRID, default 500,1000,2000,3000,3500), yaida, plateau (bench/realtask/tfjs.ts),
# monitor, monitor-budget and monitor-last (the real CLI: `watch --json --auto-apply --run --
# node … train mnist-mlp`, the drop applied through the trainer's control
# channel; monitor-budget and monitor-last state the planned length, total_steps, in the meta
# record, monitor does not; monitor-budget runs the budget test alone, `watch --last-call 0`,
# monitor-last with the last call, `--last-call 500`, the default). The environment's MOMENTUM and LR, where set,
# replace the example's μ and η in every policy (tfjs.js and `train mnist-mlp`
# --momentum / --lr); unset, the example's defaults run. Writes, per seed,
# OUTDIR/tfjs-m<μ>-s<seed>.ev (+ .ev.drop<S>) and .<policy>.ev in the format of
# train.py (μ as MOMENTUM spells it, 0.9 when unset), for
#   python3 bench/realtask/report.py --streams OUTDIR --policies OUTDIR --steps STEPS \
#     --runs "tfjs:<μ>:1 tfjs:<μ>:2 tfjs:<μ>:3" --grid GRID
# e.g. MOMENTUM=0 LR=0.5 sh bench/realtask/tfjs.sh OUTDIR 4000 "1 2 3" → tfjs-m0-s1 …
# and for the monitor runs their stream (.jsonl.gz) and decision lines (.decisions).
# Needs `npm run build` (out/).
set -e
out=$1; steps=$2; seeds=$3; grid=${4:-500,1000,2000,3000,3500}; policies=${5:-never yaida plateau monitor monitor-budget}
here=$(dirname "$0")
root=$(cd "$here/../.." && pwd)
main="$root/out/src/cli/main.js"
drv="$root/out/bench/realtask/tfjs.js"
hyper=
[ -n "$MOMENTUM" ] && hyper="$hyper --momentum $MOMENTUM"
[ -n "$LR" ] && hyper="$hyper --lr $LR"
mkdir -p "$out"
for seed in $seeds; do
  name=tfjs-m${MOMENTUM:-0.9}-s$seed
  for p in $policies; do
    [ -s "$out/$name.$p.done" ] && continue
    start=$(date +%s)
    case $p in
      never)
        nice -n 15 node "$drv" --policy never --seed "$seed" --steps "$steps" $hyper --evals "$out/$name.ev" --branch-at "$grid" \
          2> "$out/$name.$p.log" ;;
      yaida|plateau)
        nice -n 15 node "$drv" --policy "$p" --seed "$seed" --steps "$steps" $hyper --evals "$out/$name.$p.ev" 2> "$out/$name.$p.log" ;;
      monitor|monitor-budget|monitor-last)
        budget=; last=
        case $p in
          monitor) budget=--no-total-steps ;;
          monitor-budget) last="--last-call 0" ;;
          monitor-last) last="--last-call 500" ;;
        esac
        # --epochs STEPS: more epochs than steps, so --steps ends the run (the example's default is 20 epochs).
        nice -n 15 node "$main" watch --json --auto-apply $last --run -- node "$main" train mnist-mlp --seed "$seed" \
          --steps "$steps" $hyper --epochs "$steps" --plateau-steps 0 --fdr2-every 0 --eval-every 250 $budget --out "$out/$name.$p.jsonl" --stdout \
          > "$out/$name.$p.decisions" 2> "$out/$name.$p.log"
        grep -q "finished after $steps steps (completed)" "$out/$name.$p.log" || { echo "tfjs.sh: $name $p did not run $steps steps" >&2; exit 1; }
        node "$drv" ev "$out/$name.$p.jsonl" "$out/$name.$p.ev"
        gzip -f "$out/$name.$p.jsonl" ;;
      *) echo "tfjs.sh: unknown policy $p" >&2; exit 2 ;;
    esac
    echo "$(date -u +%H:%M:%S) $(( $(date +%s) - start )) s" > "$out/$name.$p.done"
  done
done
