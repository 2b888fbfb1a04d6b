# Session 31 call 2 (one GPU): main 3600413 (base) against DKN variants, built for 9.0a:
# dkn1 (a8458f8: each chunk's epilogue waits for the partner's row parts), dkn2 (the working
# tree: the chunk's dk is finished at the next step's top, after its arrival barrier), and two
# diagnostics of dkn1 whose dk is wrong: nowait (no wait for the partner) and nocl (no cluster,
# no exchange). GPU tests of dkn2, bitwise dkn2 vs dkn1, profiles at the paper's shape, A/B
# timings (token) of base, dkn1, dkn2.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=4
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
T="base dkn1 nowait nocl"
for t in $T; do ls /tmp/$t/fastmax/_C*.so >/dev/null 2>&1 && [ $t = base ] && continue; rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1; echo "$t rc $?") & done
python3 setup.py build_ext --inplace > $R/build-dkn2.log 2>&1 || { tail -30 $R/build-dkn2.log; pack; exit 1; }
wait; echo "build $(( $(date +%s) - S )) s"
at() { local t=$1; shift; if [ $t = dkn2 ]; then (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t python3 "$@"); fi; }
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider -x" > $R/tests-dkn2.txt 2>&1; echo "tests dkn2 rc $?"; tail -n 1 $R/tests-dkn2.txt; grep -E "^FAILED|^ERROR" $R/tests-dkn2.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
for t in dkn2 dkn1 nowait nocl base; do mkdir -p $R/prof-$t; at $t $V/.device/prof.py $R/prof-$t 4 65536 token > $R/prof-$t/log.txt 2>&1; echo "== $t"; grep -E "median|chunk_kernel|normalize|row_dot" $R/prof-$t/log.txt | head -8; done
echo "t $(( $(date +%s) - S )) s"; pack
at dkn1 -m fastmax.cli bitwise save --out /tmp/dkn1.pt > $R/bitwise.log 2>&1
at dkn2 -m fastmax.cli bitwise save --out /tmp/dkn2.pt >> $R/bitwise.log 2>&1
at dkn2 -m fastmax.cli bitwise compare /tmp/dkn1.pt /tmp/dkn2.pt --csv $R/bitwise-dkn2-dkn1.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 10
echo "t $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-dkn2.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 480 ] && break
  for t in base dkn1 dkn2; do at $t -m fastmax.cli ab-time run --label $t --csv $M >> $R/ab.log 2>&1; done
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
at dkn2 -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 24
echo "end $(( $(date +%s) - S )) s"; pack
