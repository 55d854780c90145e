// Tests share TorchSharp global state (default RNG, threads, dtype): run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
