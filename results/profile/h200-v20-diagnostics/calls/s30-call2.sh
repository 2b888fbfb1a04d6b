# Session 30 call 2 (one GPU): main c4f0f19 (base) against three trees with the ones tile in the
# full mode only: ones (main's scheduling), dvearly (+ DV beside the row dot), prio (+ dk's
# normalisation backward beside the dq pass, which runs on a high-priority stream); built for
# 9.0a: GPU tests of ones and prio, A/B timings (token, three rounds), profiles at the paper shape.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=4
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
T="base ones dvearly prio"
for t in $T; do ls /tmp/$t/fastmax/_C*.so >/dev/null 2>&1 && continue; rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1; echo "$t rc $?") & done; wait
echo "build $(( $(date +%s) - S )) s"
at() { local t=$1; shift; (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t python3 "$@"); }
for t in ones prio; do at $t -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-$t.txt 2>&1; echo "tests $t rc $?"; tail -n 1 $R/tests-$t.txt; grep -E "^FAILED|^ERROR" $R/tests-$t.txt | head -8; done
echo "t $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-ones-sched.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 380 ] && break
  for t in $T; do at $t -m fastmax.cli ab-time run --label $t --csv $M >> $R/ab.log 2>&1; done
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
at ones -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 24
for t in ones prio; do [ $(( $(date +%s) - S )) -gt 500 ] && break; mkdir -p $R/prof-$t; at $t $V/.device/prof.py $R/prof-$t 4 65536 token > $R/prof-$t/log.txt 2>&1; tail -n 14 $R/prof-$t/log.txt; done
echo "end $(( $(date +%s) - S )) s"; pack
