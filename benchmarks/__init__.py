"""moonflow benchmarks: Lua workflows side by side with native temporalio Python workflows.

Run ``python -m benchmarks [--smoke] [--only NAME] [--reps N]``; see ``benchmarks/README.md``.
"""
