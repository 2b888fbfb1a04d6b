# Session 33 call 2 (one GPU): late (working tree: deep3 plus dk's normalisation backward on dk's
# stream right after the DK pass, in at most FASTMAX_NORM_BESIDE blocks per SM, each taking the
# grid's blocks in turn, so that DQN's blocks fit beside it) against 235bd6e (base), built for
# 9.0a. Labels: deep3 (unset: the normalisation after DQN, as base), late1, late2 (1 and 2
# blocks per SM). GPU tests and bitwise with late1, A/B timings (token), kernel profiles.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
if [ ! -e /tmp/base/fastmax/_C*.so ]; then rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & fi
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 150 bash -c "cd $V && FASTMAX_NORM_BESIDE=1 PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
[ -e /tmp/base.pt ] || base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
FASTMAX_NORM_BESIDE=1 cur -m fastmax.cli bitwise save --out /tmp/late1.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/late1.pt --csv $R/bitwise-late1-235bd6e.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 8
echo "t $(( $(date +%s) - S )) s"; pack
M=$R/ab-late.csv
for round in 1 2; do
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1
  cur -m fastmax.cli ab-time run --label deep3 --csv $M >> $R/ab.log 2>&1
  FASTMAX_NORM_BESIDE=1 cur -m fastmax.cli ab-time run --label late1 --csv $M >> $R/ab.log 2>&1
  FASTMAX_NORM_BESIDE=2 cur -m fastmax.cli ab-time run --label late2 --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
cur -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 24
for e in 0 1 2; do mkdir -p $R/prof-late$e; FASTMAX_NORM_BESIDE=$e cur $V/.device/prof.py $R/prof-late$e 4 65536 token > $R/prof-late$e.log 2>&1; cat $R/prof-late$e.log | head -3; done
echo "prof $(( $(date +%s) - S )) s"; pack
echo "end $(( $(date +%s) - S )) s"; pack
