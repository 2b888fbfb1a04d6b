# Issue 9's every-N target sweep of one head dim at the repository's commit, on one H200, carrying
# .whl (fla-core 0.6.0, litgpt 0.5.13): Fastmax CUDA at the default precision and with TF32
# allowed, fla's chunk_linear_attn and SDPA's flash backend, bfloat16 and float32, causal and not,
# N = 1024 .. 65536, B=4, H=16. Usage: bash sweep.sh D MINUTES [resume]; a call stopped by
# --max-minutes continues with `resume` on the same warm machine. Results in /tmp/sweep/dD,
# packed with gpu-dD.txt into $OUT/r.tgz.
D=$1; M=$2; R=/tmp/sweep; mkdir -p $R; S=$(date +%s)
pack() { tar czf $OUT/r.tgz -C /tmp sweep; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu-d$D.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
PYTHONPATH=/tmp/site:$PWD python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=$D "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn,sdpa_flash]" --out $R/d$D --max-minutes $M ${3:+--resume} >> $R/d$D.log 2>&1
echo "bench d$D rc $? $(( $(date +%s) - S )) s"; tail -c 300 $R/d$D.log; pack
