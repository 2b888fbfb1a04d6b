# Session 39's third call (one GPU, an H200; call 2 ran on an H100). The working tree is b941904
# (DK and DV on the wgmma kernel): float32 head_dim 64 causal beside fla at every N, at the
# default precision and with TF32 allowed.
R=/tmp/r3; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
S=$(date +%s)
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
PYTHONPATH=/tmp/site:$PWD timeout 240 python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 3.5 > $R/f32-d64.log 2>&1; echo "bench rc $? $(( $(date +%s) - S )) s"
echo "end $(( $(date +%s) - S )) s"; pack
