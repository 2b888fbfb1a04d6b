# Session 29 call 1 (one GPU): main 095ae45 (base) against the working tree (dqn: dq's
# normalisation backward in the DQ pass's epilogue through a ones column), built for 9.0a:
# GPU tests, bitwise, A/B timings (token three rounds, then seq_max one round).
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-dqn.log 2>&1 || { tail -30 $R/build-dqn.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
dqn() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 120 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-dqn.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-dqn.txt; grep -E "^FAILED|^ERROR" $R/tests-dqn.txt | head -8; echo "tests $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -5 $R/build-base.log; pack; exit 0; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
dqn -m fastmax.cli bitwise save --out /tmp/dqn.pt >> $R/bitwise.log 2>&1
dqn -m fastmax.cli bitwise compare /tmp/base.pt /tmp/dqn.pt --csv $R/bitwise-dqn-base.csv > $R/bitwise.txt 2>&1; tail -3 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-dqn.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 430 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; dqn -m fastmax.cli ab-time run --label dqn --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
dqn -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
M2=$R/ab-bf16-seqmax-dqn.csv
if [ $(( $(date +%s) - S )) -lt 480 ]; then
  base -m fastmax.cli ab-time run --label base --normalize seq_max --csv $M2 >> $R/ab.log 2>&1; dqn -m fastmax.cli ab-time run --label dqn --normalize seq_max --csv $M2 >> $R/ab.log 2>&1
  dqn -m fastmax.cli ab-time table $M2 --base base 2>&1 | tail -8
fi
echo "end $(( $(date +%s) - S )) s"; pack
