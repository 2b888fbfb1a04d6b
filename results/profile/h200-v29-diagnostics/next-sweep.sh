# Issue 9's every-N target sweep on the current tree (run in session 42: ../h200-targets-v31), in
# two calls on one warm one-GPU H200 (each under the 600 s a call may take; the first also
# compiles fla's Triton kernels). Carry .whl (LitGPT and fla wheels). Usage on the device:
#   bash results/profile/h200-v29-diagnostics/next-sweep.sh 128 9    # head dim, minutes
#   bash results/profile/h200-v29-diagnostics/next-sweep.sh 64 8
# Then here: fastmax plot --csv DIR/bench.csv --out DIR/figures for each, and
#   fastmax targets --csv d128/bench.csv d64/bench.csv --out targets
D=$1; M=$2; R=/tmp/sweep; mkdir -p $R; S=$(date +%s)
pack() { tar czf $OUT/r.tgz -C /tmp sweep; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git status --short) > $R/gpu-d$D.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
PYTHONPATH=/tmp/site:$PWD python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=$D "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn,sdpa_flash]" --out $R/d$D --max-minutes $M > $R/d$D.log 2>&1
echo "bench rc $? $(( $(date +%s) - S )) s"; rm -f $R/build.log; pack
