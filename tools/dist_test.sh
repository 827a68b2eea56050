#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh ${CONFIG} ${CHECKPOINT} ${GPUS} [test.py args]
# PYTHON: the interpreter (default: python on PATH), e.g. PYTHON=.venv/bin/python. On a machine
# without CUDA the processes run on CPU with the gloo backend (see README: Reliability).
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    $CONFIG \
    $CHECKPOINT \
    --launcher pytorch ${@:4}
