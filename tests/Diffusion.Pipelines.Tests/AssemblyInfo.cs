// Tests share TorchSharp global state (default RNG, threads, dtype) and the tiny runs' caches: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
