# Session 26 call 2 (one GPU): dd1b38b (v15, base; HEAD's ab_time.py), a1 (per-head a1 in the
# kernels, seq_max folded in, sparse peak-row updates; v15's backward order) and dkn (HEAD: a1
# plus dk's normalisation backward on dk's stream beside the dq pass) and seq (dkn with the dq
# pass after dk and dv also when q is not overwritten), built for 9.0a: bitwise,
# GPU tests, chrome traces per normalisation, A/B timings (token, seq_max).
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
for t in base a1 seq; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; done
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
(cd /tmp/a1 && python3 setup.py build_ext --inplace > $R/build-a1.log 2>&1) & PO=$!
(cd /tmp/seq && python3 setup.py build_ext --inplace > $R/build-seq.log 2>&1) & PS=$!
python3 setup.py build_ext --inplace > $R/build-dkn.log 2>&1 || { tail -30 $R/build-dkn.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
wait $PO || { tail -30 $R/build-a1.log; pack; exit 1; }
wait $PS || { tail -30 $R/build-seq.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
a1() { (cd /tmp/a1 && PYTHONPATH=/tmp/site:/tmp/a1 python3 "$@"); }
sq() { (cd /tmp/seq && PYTHONPATH=/tmp/site:/tmp/seq python3 "$@"); }
dkn() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
dkn -m fastmax.cli bitwise save --out /tmp/dkn.pt >> $R/bitwise.log 2>&1
dkn -m fastmax.cli bitwise compare /tmp/base.pt /tmp/dkn.pt --csv $R/bitwise-dkn-v15.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"
(cd $V && PYTHONPATH=/tmp/site:$V timeout 150 python3 -m pytest -q tests/test_seq_max_cuda.py tests/test_ops.py -p no:cacheprovider > $R/tests-dkn.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-dkn.txt; echo "tests $(( $(date +%s) - S )) s"; pack
dkn .device/prof_seqmax.py $R > $R/prof-dkn.txt 2>&1; cat $R/prof-dkn.txt | grep "fwd+bwd"; echo "prof $(( $(date +%s) - S )) s"; pack
A=$R/ab-bf16-v15-a1-dkn.csv; M=$R/ab-bf16-seqmax.csv
for round in 1 2; do
  base -m fastmax.cli ab-time run --label v15 --csv $A >> $R/ab.log 2>&1; a1 -m fastmax.cli ab-time run --label a1 --csv $A >> $R/ab.log 2>&1; dkn -m fastmax.cli ab-time run --label dkn --csv $A >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
base -m fastmax.cli ab-time run --label v15 --csv $M --normalize seq_max >> $R/ab.log 2>&1; a1 -m fastmax.cli ab-time run --label a1 --csv $M --normalize seq_max >> $R/ab.log 2>&1; sq -m fastmax.cli ab-time run --label seq --csv $M --normalize seq_max >> $R/ab.log 2>&1; echo "seqmax $(( $(date +%s) - S )) s"; pack
grep -E "passed|failed|error" $R/tests-dkn.txt | tail -8
dkn -m fastmax.cli ab-time table $A --base v15 2>&1 | tail -18
dkn -m fastmax.cli ab-time table $M --base v15 2>&1 | tail -12
L=$(( 520 - ($(date +%s) - S) ))
if [ $L -gt 90 ]; then
  base -m fastmax.cli ab-time run --label v15 --csv $A >> $R/ab.log 2>&1; a1 -m fastmax.cli ab-time run --label a1 --csv $A >> $R/ab.log 2>&1; dkn -m fastmax.cli ab-time run --label dkn --csv $A >> $R/ab.log 2>&1; echo "ab 3 $(( $(date +%s) - S )) s"
  dkn -m fastmax.cli ab-time table $A --base v15 2>&1 | tail -18
fi
pack
