# Session 29 call 5 (one GPU): is call 4's peak-memory rise in four float32 cases the code or
# the measurement? 095ae45 (base) and HEAD (24d77aa, DQN) built for 9.0a; fastmax_cuda alone,
# float32 forward+backward over every N at D=64 and 128, two rounds alternating the builds.
R=/tmp/r5; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r5; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-head.log 2>&1 || { tail -30 $R/build-head.log; pack; exit 1; }
wait $PB || { tail -5 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
C=$V/workflow/config/bench/kernel-targets.yaml
for round in 1 2; do
  for t in base head; do
    d=/tmp/base; [ $t = head ] && d=$V
    for D in 64 128; do
      [ $(( $(date +%s) - S )) -gt 330 ] && break
      (cd $d && PYTHONPATH=/tmp/site:$d timeout 50 python3 -m fastmax.cli bench --config $C --set D=$D 'methods=[fastmax_cuda]' 'dtypes=[float32]' 'passes=[fwd_bwd]' --out $R/$t-r$round-d$D --max-minutes 1) > $R/$t-r$round-d$D.log 2>&1
      echo "$t r$round d$D rc $? $(( $(date +%s) - S )) s"
    done
  done
  pack
done
echo "end $(( $(date +%s) - S )) s"; pack
