# Session 30 call 1 (one GPU): main c4f0f19 (base) against the working tree (sched: DV starts
# beside the row dot, dk's normalisation backward on dk's stream beside DQN) and against sched
# with the ones tile in the full mode only (ones), built for 9.0a: GPU tests of both, bitwise
# sched vs base, A/B timings (token), the correctness matrix of ones.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for t in base ones; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; done
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
(cd /tmp/ones && python3 setup.py build_ext --inplace > $R/build-ones.log 2>&1) & PO=$!
python3 setup.py build_ext --inplace > $R/build-sched.log 2>&1 || { tail -30 $R/build-sched.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
sched() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
ones() { (cd /tmp/ones && PYTHONPATH=/tmp/site:/tmp/ones python3 "$@"); }
sched -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-sched.txt 2>&1; echo "tests sched rc $?"; tail -n 1 $R/tests-sched.txt; grep -E "^FAILED|^ERROR" $R/tests-sched.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
wait $PO && OK_ONES=1 || { tail -n 20 $R/build-ones.log; OK_ONES=0; }
if [ $OK_ONES = 1 ]; then ones -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-ones.txt 2>&1; echo "tests ones rc $?"; tail -n 1 $R/tests-ones.txt; grep -E "^FAILED|^ERROR" $R/tests-ones.txt | head -8; fi
echo "t $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -n 5 $R/build-base.log; pack; exit 0; }
M=$R/ab-bf16-sched-ones.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 330 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1
  sched -m fastmax.cli ab-time run --label sched --csv $M >> $R/ab.log 2>&1
  [ $OK_ONES = 1 ] && ones -m fastmax.cli ab-time run --label ones --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
sched -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 20
if [ $OK_ONES = 1 ]; then timeout 100 bash -c "cd /tmp/ones && PYTHONPATH=/tmp/site:/tmp/ones python3 -m fastmax.cli check --out $R/kernels-ones" > $R/check-ones.log 2>&1; echo "check rc $?"; tail -c 300 $R/check-ones.log; echo "t $(( $(date +%s) - S )) s"; pack; fi
[ $(( $(date +%s) - S )) -gt 500 ] && { pack; exit 0; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
sched -m fastmax.cli bitwise save --out /tmp/sched.pt >> $R/bitwise.log 2>&1
sched -m fastmax.cli bitwise compare /tmp/base.pt /tmp/sched.pt --csv $R/bitwise-sched-base.csv > $R/bitwise.txt 2>&1; grep -c "bitwise=True" $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | tail -n 8
echo "end $(( $(date +%s) - S )) s"; pack
