# Session 29 call 4 (one GPU): HEAD (24d77aa, DQN) built for 9.0a: kernel profiles of the token
# forward+backward at the paper's shape and at B=1 N=8192, then fastmax_cuda alone over every N
# at D=64 and 128 (times and peak memory).
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
mkdir -p $R/prof
for shape in "4 65536" "1 8192"; do
  (cd $V && PYTHONPATH=/tmp/site:$V timeout 60 python3 .device/prof.py $R/prof $shape token) > $R/prof/log-${shape// /-}.txt 2>&1
  head -8 $R/prof/log-${shape// /-}.txt
done
echo "prof $(( $(date +%s) - S )) s"; pack
C=workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
  timeout 60 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli bench --config $C --set D=$d 'methods=[fastmax_cuda]' --out $R/d$d --max-minutes 1" > $R/d$d.log 2>&1
  echo "d$d rc $? $(( $(date +%s) - S )) s"; tail -c 120 $R/d$d.log; pack
done
echo "end $(( $(date +%s) - S )) s"; pack
