# Session 27 call 3 (one GPU): a4ab4b1 (base) against the working tree (pk: seq_max's peaks in
# one kernel per head each way), built for 9.0a: token bitwise, GPU tests, seq_max A/B timings
# (three rounds), and the B=1 N=8192 profile again.
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-pk.log 2>&1 || { tail -30 $R/build-pk.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
pk() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 120 python3 -m pytest -q tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-pk.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-pk.txt; echo "tests $(( $(date +%s) - S )) s"; pack
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
pk -m fastmax.cli bitwise save --out /tmp/pk.pt >> $R/bitwise.log 2>&1
pk -m fastmax.cli bitwise compare /tmp/base.pt /tmp/pk.pt --csv $R/bitwise-pk-base.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"; pack
mkdir -p $R/b1; timeout 60 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 .device/prof_b1.py $R/b1" > $R/b1/prof.log 2>&1; grep median $R/b1/prof.log; pack
M=$R/ab-bf16-seqmax.csv
for round in 1 2 3; do
  base -m fastmax.cli ab-time run --label base --csv $M --normalize seq_max >> $R/ab.log 2>&1; pk -m fastmax.cli ab-time run --label pk --csv $M --normalize seq_max >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
pk -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
grep -E "passed|failed|error" $R/tests-pk.txt | tail -5
pack
