"""The parts of benchmarks/device_check.py, one per concern:

    common            sizes, constants, the device helpers (matmul precision, synchronisation,
                      peak memory), the one-line form of an error
    session           the run's settings, clock and results, written after every result
    correctness       checks on the device against references
    derivative_step   the training step, forward jet against nested autograd, and TF32's error
    sweep_throughput  ensembles at the paper profile and the projected sweep
    report            the summary, the Markdown file and the printed tables
"""
