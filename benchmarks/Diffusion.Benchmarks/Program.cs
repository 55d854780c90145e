using BenchmarkDotNet.Running;
using Diffusion.Benchmarks;

// BenchmarkDotNet micro-benchmarks. `--dry` runs each benchmark once (a smoke test); other arguments go to
// BenchmarkDotNet (e.g. --filter *Sampler*). Results land in BenchmarkDotNet.Artifacts/.
bool dry = args.Contains("--dry");
var rest = args.Where(a => a != "--dry").ToArray();
if (rest.Length == 0) rest = new[] { "--filter", "*" };
BenchmarkSwitcher.FromAssembly(typeof(SamplerBenchmarks).Assembly).Run(rest, BenchmarkConfig.Create(dry));
