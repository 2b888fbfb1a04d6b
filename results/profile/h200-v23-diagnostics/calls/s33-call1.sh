# Session 33 call 1 (one GPU): deep3 (working tree: three stages for the bfloat16 head_dim-128
# forward and DQN when the pass runs unsplit in one wave) against 235bd6e (base), built for
# 9.0a: GPU tests, bitwise against base, A/B timings (token), kernel profiles, the matrix.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise-deep3-235bd6e.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 8
echo "t $(( $(date +%s) - S )) s"; pack
M=$R/ab-deep3.csv
for round in 1 2; do
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1
  cur -m fastmax.cli ab-time run --label deep3 --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
cur -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 12
for b in base cur; do mkdir -p $R/prof-$b; $b $V/.device/prof.py $R/prof-$b 4 65536 token > $R/prof-$b.log 2>&1; done
echo "prof $(( $(date +%s) - S )) s"; pack
[ $(( $(date +%s) - S )) -lt 430 ] && { timeout 130 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; }
echo "end $(( $(date +%s) - S )) s"; pack
