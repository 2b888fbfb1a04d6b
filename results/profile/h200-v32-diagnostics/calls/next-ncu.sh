# Prepared in session 43, not run (its device time was spent): for one H200, from the
# repository's root at 5aa37cc or later with unchanged kernels. Where float32's mma.sync passes
# at head_dim 128 spend their time after v32's splits: ncu (clock control off) of one
# forward+backward at the default precision (B=4, H=16, N=16384, causal, token), every
# chunk_kernel launch, with the issue-stall ratios.
R=/tmp/rn; rm -rf $R; mkdir -p $R; S=$(date +%s); pack() { tar czf $OUT/r.tgz -C /tmp rn; }
(nvidia-smi; ncu --version; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build.log
FASTMAX_NCU_HEAD_DIM=128 PYTHONPATH=$PWD timeout 400 ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --section LaunchStats --section Occupancy --section WarpStateStats --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section SchedulerStats --section InstructionStats --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' python3 results/profile/h200-v28-diagnostics/dkdv/ncu_f32.py > $R/ncu.txt 2> $R/ncu.err; echo "ncu rc $? $(( $(date +%s) - S )) s"
grep -E "chunk_kernel|Duration|Warp Cycles Per Issued|Issue Slots Busy|Executed Ipc|stalled" $R/ncu.txt | grep -v " 0$" | head -80; pack
