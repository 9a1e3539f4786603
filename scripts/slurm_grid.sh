#!/usr/bin/env bash
# One configuration of the study at several seeds, one SLURM array task (one machine) per seed. Each task
# clones the project, pulls what the DVC remote already has, runs its seed as a DVC experiment and pushes it;
# afterwards, anywhere: dvc exp pull, tools/record.py, tools/report.py (README, "The grid on several machines").
#
#   ORIGIN=<git url of the project> sbatch --array=0-4 scripts/slurm_grid.sh NAME [-S key=value ...]
#
# Task i runs seed 60146 + i as the experiment NAME-seed<seed>, with the -S overrides given (e.g. the
# configuration's, from `python tools/run_grid.py --list`). The project's DVC remote (`dvc remote add -d`,
# committed) must be reachable from every node. Edit the #SBATCH lines for your cluster.
#SBATCH --job-name=skipnet-grid
#SBATCH --cpus-per-task=8
#SBATCH --gres=gpu:1
#SBATCH --time=04:00:00
#SBATCH --output=skipnet-grid-%A_%a.out
set -euo pipefail

: "${ORIGIN:?set ORIGIN to the git URL of the project (every task clones it and pushes to it)}"
: "${SLURM_ARRAY_TASK_ID:?run under sbatch --array=0-N (one task per seed)}"
if [ $# -lt 1 ]; then
    echo "usage: ORIGIN=<git url> sbatch --array=0-N $0 NAME [-S key=value ...]" >&2
    exit 2
fi
name=$1
shift
seed=$((60146 + SLURM_ARRAY_TASK_ID))
exp="$name-seed$seed"
work="${SKIPNET_WORK:-${TMPDIR:-/tmp}}/skipnet-${SLURM_ARRAY_JOB_ID:-job}-$SLURM_ARRAY_TASK_ID"

rm -rf "$work"
git clone -q "$ORIGIN" "$work"
cd "$work"
dvc pull -q --run-cache --allow-missing           # data and stage runs others already pushed: not redone
dvc exp run -n "$exp" "$@" -S "seed=$seed"
dvc exp push -q --run-cache origin "$exp"
echo "$exp pushed to $ORIGIN"
