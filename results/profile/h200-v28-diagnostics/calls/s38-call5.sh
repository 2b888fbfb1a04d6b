# Session 38's fifth call (one GPU). The working tree is fb7bb0d (95aa50a's state sum and
# b44bc17's DQ); base is .device/base.tgz (98c2835). The TF32 forward (TF32 allowed, one
# product) at head_dim 64 and 128, N = 8192 and 65536, without autograd (tf32ab.py): three
# alternating A/B rounds, to see what the state sum costs the one-product kernels.
R=/tmp/r5; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r5; }
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics/calls
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
for r in 1 2 3; do
  (cd /tmp/base && PYTHONPATH=/tmp/base python3 $C/tf32ab.py base $r $R/ab.csv) >> $R/ab.log 2>&1
  PYTHONPATH=$V python3 $C/tf32ab.py head $r $R/ab.csv >> $R/ab.log 2>&1
  pack
done
sort -t, -k2,2n -k3,3n -k1,1 $R/ab.csv; echo "end $(( $(date +%s) - S )) s"; pack
