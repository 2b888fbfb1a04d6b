# Session 43, calls 3 and 5 (one H200 each), from the repository's root at the commit in gpu.txt,
# carrying .whl (fla-core 0.6.0, litgpt 0.5.13): the every-N target sweep for float32 only (the
# bfloat16 kernels are v31's sweep's), Fastmax at the default precision and with TF32 allowed,
# against fla's chunk_linear_attn. Usage: bash s43-call3.sh 128 6.5 (call 3), bash s43-call3.sh 64 4
# (call 5).
D=${1:-128}; M=${2:-6.5}; R=/tmp/sweep; mkdir -p $R; S=$(date +%s)
pack() { tar czf $OUT/r.tgz -C /tmp sweep; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
PYTHONPATH=/tmp/site:$PWD python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=$D "dtypes=[float32]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/d$D --max-minutes $M > $R/d$D.log 2>&1
echo "bench rc $? $(( $(date +%s) - S )) s"; tail -c 300 $R/d$D.log; pack
