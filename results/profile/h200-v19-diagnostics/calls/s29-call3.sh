# Session 29 call 3 (one GPU): main 095ae45 (base) against the working tree (kdqn: the fused dq
# normalisation backward as its own pass kind, DQN, bfloat16 at head_dim 128 only, q loaded at
# the top of each step; DQ without the ones column elsewhere), built for 9.0a: GPU tests,
# correctness matrix, bitwise, A/B timings (token three rounds, seq_max two).
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-kdqn.log 2>&1 || { tail -30 $R/build-kdqn.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
kdqn() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 150 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-kdqn.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-kdqn.txt; grep -E "^FAILED|^ERROR" $R/tests-kdqn.txt | head -8; echo "tests $(( $(date +%s) - S )) s"; pack
timeout 110 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; echo "check $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -5 $R/build-base.log; pack; exit 0; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
kdqn -m fastmax.cli bitwise save --out /tmp/kdqn.pt >> $R/bitwise.log 2>&1
kdqn -m fastmax.cli bitwise compare /tmp/base.pt /tmp/kdqn.pt --csv $R/bitwise-kdqn-base.csv > $R/bitwise.txt 2>&1; grep -v "bitwise=True" $R/bitwise.txt | tail -12; echo "bitwise $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-kdqn.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 420 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; kdqn -m fastmax.cli ab-time run --label kdqn --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
kdqn -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
M2=$R/ab-bf16-seqmax-kdqn.csv
for round in 1 2; do
  [ $(( $(date +%s) - S )) -gt 500 ] && break
  base -m fastmax.cli ab-time run --label base --normalize seq_max --csv $M2 >> $R/ab.log 2>&1; kdqn -m fastmax.cli ab-time run --label kdqn --normalize seq_max --csv $M2 >> $R/ab.log 2>&1
done
kdqn -m fastmax.cli ab-time table $M2 --base base 2>&1 | tail -14
echo "end $(( $(date +%s) - S )) s"; pack
