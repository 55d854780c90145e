// The servers share one tiny model folder and the CPU; timing-sensitive tests (queue full, timeout, cancel) must not
// run beside each other.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
