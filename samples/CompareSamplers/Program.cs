// Every sampler side by side: one row per sampler, one column per class, same seed and the same number of
// network evaluations, so the rows differ only by the integration method.
//   dotnet run -c Release --project samples/CompareSamplers -- <run folder> [steps=10] [guidance=3] [out=samplers.png]
using System.Diagnostics;
using Diffusion.Core.Imaging;
using Diffusion.Pipelines;
using Diffusion.Samplers;
using static TorchSharp.torch;

if (args.Length < 1) { Console.Error.WriteLine("usage: CompareSamplers <run folder> [steps] [guidance] [out.png]"); return 2; }
int steps = args.Length > 1 ? int.Parse(args[1]) : 10;
double guidance = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
string output = args.Length > 3 ? args[3] : "samplers.png";

using var model = DiffusionPipeline.Load(args[0]);
int classes = model.ClassNames?.Count ?? 10;
var labels = Enumerable.Range(0, classes).ToArray();
var rows = new List<GenerationResult>();
foreach (var info in SamplerRegistry.All)
{
    // Heun evaluates the network twice a step: give it half the steps for the same cost.
    int n = info.Name == "heun" ? Math.Max(1, steps / 2) : steps;
    var clock = Stopwatch.StartNew();
    rows.Add(model.Generate(new GenerationRequest
    {
        Count = classes, Classes = model.ClassNames is null ? null : labels, SamplerInstance = SamplerRegistry.Create(info.Name), Steps = n, GuidanceScale = guidance,
    }));
    Console.WriteLine($"{info.Name,-10} {n,4} steps  {clock.Elapsed.TotalSeconds,6:F2} s");
}
ImageGrid.SavePng(cat(rows.Select(r => r.Images).ToArray(), 0), output, columns: classes, scale: 2);
foreach (var r in rows) r.Dispose();
Console.WriteLine($"rows, top to bottom: {string.Join(", ", SamplerRegistry.All.Select(s => s.Name))} -> {output}");
return 0;
