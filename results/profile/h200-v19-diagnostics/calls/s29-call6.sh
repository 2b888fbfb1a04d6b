# Session 29 call 6 (one GPU): HEAD built for 9.0a. Does one op forward+backward leave reference
# cycles holding CUDA tensors (.device/cycles.py)? Then fastmax_cuda's D=64 every-N sweep twice
# with the harness as is and twice with gc.collect() before each case's baseline (gc): do the
# peaks repeat?
R=/tmp/r6; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r6; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
rm -rf /tmp/gc && mkdir -p /tmp/gc && cp -r $V/. /tmp/gc/ && rm -rf /tmp/gc/.git
python3 - <<'PY'
p = "/tmp/gc/fastmax/bench/timing.py"
s = open(p).read()
old = "    torch.cuda.synchronize(device)\n    baseline = torch.cuda.memory_allocated(device)\n"
assert old in s
s = s.replace(old, "    gc.collect()\n" + old)
open(p, "w").write(s)
PY
PYTHONPATH=/tmp/site:$V timeout 60 python3 .device/cycles.py > $R/cycles.txt 2>&1; cat $R/cycles.txt | cut -c1-220
echo "cycles $(( $(date +%s) - S )) s"; pack
C=$V/workflow/config/bench/kernel-targets.yaml
for round in 1 2; do
  for t in asis gc; do
    d=$V; [ $t = gc ] && d=/tmp/gc
    [ $(( $(date +%s) - S )) -gt 330 ] && break
    (cd $d && PYTHONPATH=/tmp/site:$d timeout 60 python3 -m fastmax.cli bench --config $C --set D=64 'methods=[fastmax_cuda]' --out $R/$t-r$round --max-minutes 1) > $R/$t-r$round.log 2>&1
    echo "$t r$round rc $? $(( $(date +%s) - S )) s"
  done
  pack
done
echo "end $(( $(date +%s) - S )) s"; pack
