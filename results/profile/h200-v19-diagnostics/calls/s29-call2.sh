# Session 29 call 2 (one GPU): main 095ae45 (base), wip-dq-norm (dqn: call 1's fused dq
# normalisation backward) and the working tree (dqp: dqn with q's pairs and row scales loaded at
# the top of each chunk's step), built for 9.0a: GPU tests of dqp, kernel profiles at the paper's
# shape (token and seq_max) of all three, then A/B timings base against dqp.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for t in base dqn; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; done
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
(cd /tmp/dqn && python3 setup.py build_ext --inplace > $R/build-dqn.log 2>&1) & PN=$!
python3 setup.py build_ext --inplace > $R/build-dqp.log 2>&1 || { tail -30 $R/build-dqp.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
(cd $V && PYTHONPATH=/tmp/site:$V timeout 120 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-dqp.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-dqp.txt; grep -E "^FAILED|^ERROR" $R/tests-dqp.txt | head -8; echo "tests $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -5 $R/build-base.log; pack; exit 0; }
wait $PN || { tail -5 $R/build-dqn.log; pack; exit 0; }
run() { local t=$1; shift; local d=/tmp/$t; [ $t = dqp ] && d=$V; (cd $d && PYTHONPATH=/tmp/site:$d python3 "$@"); }
for t in base dqn dqp; do
  mkdir -p $R/prof-$t
  for norm in token seq_max; do
    d=/tmp/$t; [ $t = dqp ] && d=$V
    (cd $d && PYTHONPATH=/tmp/site:$d timeout 60 python3 $V/.device/prof.py $R/prof-$t 4 65536 $norm) > $R/prof-$t/log-$norm.txt 2>&1
    echo "$t: $(head -1 $R/prof-$t/log-$norm.txt)"; grep "128, 1, " $R/prof-$t/log-$norm.txt | head -2
  done
done
echo "prof $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-dqp.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 450 ] && break
  run base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; run dqp -m fastmax.cli ab-time run --label dqp --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
run dqp -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
echo "end $(( $(date +%s) - S )) s"; pack
