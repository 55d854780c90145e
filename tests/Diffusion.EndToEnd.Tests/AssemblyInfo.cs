// These tests start real processes that use both cores: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
