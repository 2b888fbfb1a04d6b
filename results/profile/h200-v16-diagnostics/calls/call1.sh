# Session 26 call 1 (one GPU): dd1b38b (v15, base; its ab_time.py from HEAD for --normalize),
# ovl (HEAD's host code: row dot beside the dv pass, dk's normalisation backward beside the dq
# pass; v15's chunk_kernel.cuh) and HEAD (ovl + per-head a1 in the kernels, seq_max folded in),
# all built for 9.0a: bitwise, GPU tests, A/B timings (token), seq_max base vs HEAD.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
for t in base ovl; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; done
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
(cd /tmp/ovl && python3 setup.py build_ext --inplace > $R/build-ovl.log 2>&1) & PO=$!
python3 setup.py build_ext --inplace > $R/build-new.log 2>&1 || { tail -30 $R/build-new.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
wait $PO || { tail -30 $R/build-ovl.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
ovl() { (cd /tmp/ovl && PYTHONPATH=/tmp/site:/tmp/ovl python3 "$@"); }
new() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
new -m fastmax.cli bitwise save --out /tmp/new.pt >> $R/bitwise.log 2>&1
new -m fastmax.cli bitwise compare /tmp/base.pt /tmp/new.pt --csv $R/bitwise-new-v15.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"
(cd $V && PYTHONPATH=/tmp/site:$V timeout 200 python3 -m pytest -q tests/test_seq_max_cuda.py tests/test_ops.py tests/test_model_attention.py tests/test_bench_ab_time.py -p no:cacheprovider > $R/tests-new.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-new.txt; echo "tests $(( $(date +%s) - S )) s"; pack
A=$R/ab-bf16-v15-ovl-new.csv
for round in 1 2; do
  base -m fastmax.cli ab-time run --label v15 --csv $A >> $R/ab.log 2>&1; ovl -m fastmax.cli ab-time run --label ovl --csv $A >> $R/ab.log 2>&1; new -m fastmax.cli ab-time run --label new --csv $A >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
M=$R/ab-bf16-seqmax.csv
base -m fastmax.cli ab-time run --label v15 --csv $M --normalize seq_max >> $R/ab.log 2>&1; new -m fastmax.cli ab-time run --label new --csv $M --normalize seq_max >> $R/ab.log 2>&1; echo "seqmax $(( $(date +%s) - S )) s"; pack
grep -E "passed|failed|error" $R/tests-new.txt | tail -8
new -m fastmax.cli ab-time table $A --base v15 2>&1 | tail -18
new -m fastmax.cli ab-time table $M --base v15 2>&1 | tail -12
L=$(( 540 - ($(date +%s) - S) ))
if [ $L -gt 120 ]; then
  base -m fastmax.cli ab-time run --label v15 --csv $A >> $R/ab.log 2>&1; new -m fastmax.cli ab-time run --label new --csv $A >> $R/ab.log 2>&1; echo "ab 3 $(( $(date +%s) - S )) s"
  new -m fastmax.cli ab-time table $A --base v15 2>&1 | tail -18
fi
pack
