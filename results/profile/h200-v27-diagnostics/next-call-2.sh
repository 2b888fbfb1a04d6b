# The next session's second call, on the machine next-call.sh warmed (its in-place build of the
# working tree kept; .whl/ carried): float32 head_dim 64 causal forward+backward of the working
# tree beside fla's chunk_linear_attn at every N, with the forward for reference.
R=/tmp/r2; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1
ls fastmax/_C*.so > /dev/null || { echo "no build: run next-call.sh first"; exit 1; }
(nvidia-smi; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
PYTHONPATH=/tmp/site:$PWD python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 8 > $R/f32-d64.log 2>&1; echo "bench rc $?"
pack
