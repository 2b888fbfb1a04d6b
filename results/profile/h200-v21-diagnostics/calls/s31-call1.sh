# Session 31 call 1 (one GPU): main 3600413 (base) against the working tree (dkn: dk's
# normalisation backward in the DK pass, the head's two column-tile blocks as one cluster; DQN's
# coefficient without rn^2), built for 9.0a: GPU tests of dkn, the tiny-rows test on base,
# bitwise dkn vs base, A/B timings (token, three rounds), a profile at the paper's shape.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-dkn.log 2>&1 || { tail -30 $R/build-dkn.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
dkn() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 200 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider -x" > $R/tests-dkn.txt 2>&1; echo "tests dkn rc $?"; tail -n 1 $R/tests-dkn.txt; grep -E "^FAILED|^ERROR|Error" $R/tests-dkn.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -n 5 $R/build-base.log; pack; exit 0; }
base -m pytest -q tests/test_ops.py -k "tiny_and_zero" -p no:cacheprovider > $R/tests-base-tiny.txt 2>&1; echo "base tiny rc $?"; tail -n 1 $R/tests-base-tiny.txt
cp tests/test_ops.py /tmp/test_ops_new.py
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m pytest -q /tmp/test_ops_new.py -k "tiny_and_zero" -p no:cacheprovider --rootdir /tmp/base) > $R/tests-base-newtiny.txt 2>&1; echo "base new tiny rc $?"; grep -E "passed|failed" $R/tests-base-newtiny.txt | tail -n 1; grep -E "^FAILED" $R/tests-base-newtiny.txt | head
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
dkn -m fastmax.cli bitwise save --out /tmp/dkn.pt >> $R/bitwise.log 2>&1
dkn -m fastmax.cli bitwise compare /tmp/base.pt /tmp/dkn.pt --csv $R/bitwise-dkn-3600413.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 14
echo "t $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-dkn.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 440 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1
  dkn -m fastmax.cli ab-time run --label dkn --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
dkn -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 24
[ $(( $(date +%s) - S )) -lt 540 ] && { mkdir -p $R/prof-dkn; dkn $V/.device/prof.py $R/prof-dkn 4 65536 token > $R/prof-dkn/log.txt 2>&1; tail -n 14 $R/prof-dkn/log.txt; }
echo "end $(( $(date +%s) - S )) s"; pack
