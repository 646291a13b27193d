# Sourced by the run-*.sh scripts beside it, from the repository root on the GPU machine, with
# C set to the folder that holds the CUDA build's mmada and libs.tar.xz (scripts/gpu-bundle.sh)
# and data/train.jsonl (scripts/make-arith-chat.py). Sets T (the config templates beside these
# scripts), OUT (logs copied there), B (the binary) and the library path (the bundle's
# libraries, cuDNN and NCCL from the machine's Python packages).
T=$(dirname "${BASH_SOURCE[0]}")
OUT=${OUT:-/tmp/gpu-train-out}; mkdir -p "$OUT"
mkdir -p /tmp/ml && tar -xJf $C/libs.tar.xz -C /tmp/ml
export LD_LIBRARY_PATH=/tmp/ml:$(python3 -c 'import nvidia.cudnn,nvidia.nccl,os;print(":".join(os.path.join(list(m.__path__)[0],"lib") for m in (nvidia.cudnn,nvidia.nccl)))'):${LD_LIBRARY_PATH:-}
B=$PWD/$C/mmada
