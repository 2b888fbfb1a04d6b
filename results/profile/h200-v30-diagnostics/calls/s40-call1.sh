# Session 40, call 1 (one H200). (1) Build the working tree (HEAD f6619e3) and, beside it, the
# diagnostic seg.diff (one-stage wgmma passes at head dim 64, two blocks per SM, FASTMAX_DIAG_SEG
# segments from zero states). (2) seg.diff's errors against float64 with one segment (the
# one-stage loop, correct code). (3) A/B of f32ab.py: base, diag unset, SEG=1, 2, 4, two rounds.
# (4) The every-N target sweep at head dim 64 into .sweep/d64 for the rest of the call.
R=/tmp/r1; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD; C=$V/results/profile
pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || { echo pip failed; exit 1; }
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/diag && mkdir -p /tmp/diag && tar cf - --exclude=./.git --exclude=./.whl --exclude=./.sweep --exclude=./build . | tar xf - -C /tmp/diag
(cd /tmp/diag && patch -p1 -s < $V/.device/seg.diff && python3 setup.py build_ext --inplace > $R/build-diag.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/diag/fastmax/_C*.so > /dev/null || { tail -30 $R/build-diag.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
(cd /tmp/diag && FASTMAX_SEQUENCE_SPLIT=0 FASTMAX_DIAG_SEG=1 PYTHONPATH=/tmp/diag timeout 150 python3 $C/h200-v28-diagnostics/calls/errn2.py seg1 f32) > $R/errn.txt 2>&1; cat $R/errn.txt; pack
echo "errn $(( $(date +%s) - S )) s"
for r in 1 2; do
  PYTHONPATH=$V python3 .device/f32ab.py base $r $R/ab.csv >> $R/ab.log 2>&1
  for s in 0 1 2 4; do
    (cd /tmp/diag && FASTMAX_DIAG_SEG=$s PYTHONPATH=/tmp/diag python3 $V/.device/f32ab.py seg$s $r $R/ab.csv >> $R/ab.log 2>&1)
  done; pack
done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"
M=$(python3 -c "print(max(0.5, (575 - ($(date +%s) - $S) - 25) / 60))")
RES=; [ -e .sweep/d64/bench.csv.partial ] && RES=--resume
PYTHONPATH=/tmp/site:$V timeout $(( 588 - ($(date +%s) - S) )) python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn,sdpa_flash]" --out .sweep/d64 --max-minutes $M $RES > $R/d64.log 2>&1
echo "bench rc $? $(( $(date +%s) - S )) s"; cp -r .sweep $R/; pack
