# Session 28 call 2 (one GPU): bcb68dd (base), the working tree (fold: three backward passes at
# once) and fold with dq after dk and dv (serial), built for 9.0a: the token forward+backward
# profiled at B=1 N=8192 and B=4 N=65536, then A/B timings (two rounds).
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for t in base serial; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; done
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
(cd /tmp/serial && python3 setup.py build_ext --inplace > $R/build-serial.log 2>&1) & PS=$!
python3 setup.py build_ext --inplace > $R/build-fold.log 2>&1 || { tail -30 $R/build-fold.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
wait $PS || { tail -30 $R/build-serial.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
run() { local t=$1; shift; local d=/tmp/$t; [ $t = fold ] && d=$V; (cd $d && PYTHONPATH=/tmp/site:$d python3 "$@"); }
for t in base fold serial; do
  mkdir -p $R/prof-$t
  for shape in "1 8192" "4 65536"; do
    d=/tmp/$t; [ $t = fold ] && d=$V
    (cd $d && PYTHONPATH=/tmp/site:$d timeout 60 python3 $V/.device/prof_bwd.py $R/prof-$t $shape) > $R/prof-$t/log-${shape// /-}.txt 2>&1
    echo "$t $shape: $(head -1 $R/prof-$t/log-${shape// /-}.txt)"
  done
done
echo "prof $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-fold.csv
for round in 1 2; do
  [ $(( $(date +%s) - S )) -gt 480 ] && break
  for t in base fold serial; do run $t -m fastmax.cli ab-time run --label $t --csv $M >> $R/ab.log 2>&1; done
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
run fold -m fastmax.cli ab-time table $M --base base 2>&1 | tail -18
pack
