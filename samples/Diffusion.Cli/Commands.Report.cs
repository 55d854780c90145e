using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.Core;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;

namespace Diffusion.Cli;

/// <summary>The 'report' command: one Markdown page comparing finished runs (one metrics row and one grid per run).</summary>
internal static partial class Commands
{
    private static Command Report(CancellationToken ct)
    {
        var runsOption = Flags.Text("--runs", "Comma-separated run folders, each trained ('train'), sampled ('sample', for samples/grid.png) and evaluated ('eval', for eval.json).");
        runsOption.Required = true;
        var output = Flags.Text("--out", "Markdown page to write; the grids are copied into an images/ folder next to it.", "docs/datasets.md");
        var title = Flags.Text("--title", "Page title.", "Datasets side by side");
        var command = new Command("report", "Write one Markdown page comparing evaluated runs: a metrics row (with floors) and a sample grid per run.")
        {
            runsOption, output, title,
        };
        command.SetAction(p => WriteReport(p.GetValue(runsOption)!, p.GetValue(output)!, p.GetValue(title)!, ct));
        return command;
    }

    private static int WriteReport(string runList, string output, string title, CancellationToken ct)
    {
        var runs = runList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (runs.Length == 0) throw new DiffusionException("--runs names no run folder.");
        var outPath = Path.GetFullPath(output);
        var outDir = Path.GetDirectoryName(outPath)!;
        var imageDir = Path.Combine(outDir, "images");
        var rows = runs.Select(ReportRow.Read).ToList();

        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# {title}\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Written by `diffusion report` on {DateTime.UtcNow:yyyy-MM-dd} from {rows.Count} run folder(s); refresh it with `bash benchmarks/compare-datasets.sh <run> ...` (which samples, evaluates and calls `diffusion report`).\n");
        md.Append("Each metric is followed by its floor in parentheses: the same metric between real images (FID, KID, precision/recall: N train vs N test images; class accuracy: the dataset's classifier on its test split). ");
        md.Append("FIDs compare only within a row's feature space: `classifier-<dataset>` features are each dataset's own classifier, `resnet18-imagenet` an ImageNet ResNet18.\n");
        if (rows.Any(r => r.Dataset.Equals("cifar10", StringComparison.OrdinalIgnoreCase)))
            md.Append("\nCIFAR-10 read from JPEG folders (as on the project's machines, quality about 75) differs in pixel statistics from the original pickles: its FIDs compare only with each other, never with published CIFAR-10 FIDs.\n");
        md.Append("\n| run | dataset | image | network | training | sampling | N | class accuracy | FID | KID | precision | recall | features |\n");
        md.Append("| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
        foreach (var r in rows)
            foreach (var e in r.Results)
                md.Append(CultureInfo.InvariantCulture,
                    $"| {r.Name} | {r.Dataset} | {r.Image} | {r.Parameters / 1e6:F2} M | {r.Training} | {r.Sampler}{(r.Conditional ? $", guidance {e.Guidance:G3}" : ", unconditional")} | {e.Count:N0} | {e.Cell("class accuracy", percent: true)} | {e.Cell("FID")} | {e.Cell("KID")} | {e.Cell("precision")} | {e.Cell("recall")} | {e.Extractor} |\n");

        foreach (var r in rows)
        {
            ct.ThrowIfCancellationRequested();
            md.Append(CultureInfo.InvariantCulture, $"\n## {r.Name} ({r.Dataset})\n\n");
            md.Append(CultureInfo.InvariantCulture, $"Preset `{r.Preset}`; {r.Training}. ");
            if (r.GridPath is null)
            {
                md.Append("No samples/grid.png in the run folder (run `diffusion sample --run <run>`).\n");
                continue;
            }
            Directory.CreateDirectory(imageDir);
            var copy = Path.Combine(imageDir, $"{r.Name}-grid.png");
            File.Copy(r.GridPath, copy, overwrite: true);
            var relative = Path.GetRelativePath(outDir, copy).Replace('\\', '/');
            md.Append(CultureInfo.InvariantCulture, $"Samples{(r.Conditional ? " (one row per class)" : "")}:\n\n![{r.Name} samples]({relative})\n");
        }
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(outPath, md.ToString());
        Console.WriteLine($"Report of {rows.Count} run(s) -> {outPath}");
        return 0;
    }

    /// <summary>What the report shows of one run folder.</summary>
    private sealed record ReportRow(string Name, string Preset, string Dataset, string Image, long Parameters, bool Conditional,
        string Training, string Sampler, IReadOnlyList<ReportResult> Results, string? GridPath)
    {
        public static ReportRow Read(string run)
        {
            var options = RunOptions.Load(run);
            var evalPath = Path.Combine(run, "eval.json");
            if (!File.Exists(evalPath))
                throw new DiffusionException($"'{run}' has no eval.json; run 'diffusion eval --run {run}' first.");
            using var eval = ParseJson(evalPath);
            using var trained = File.Exists(Path.Combine(run, "train-result.json")) ? ParseJson(Path.Combine(run, "train-result.json")) : null;
            var e = eval.RootElement;
            string training = trained is null ? "training result missing" : string.Create(CultureInfo.InvariantCulture,
                $"{trained.RootElement.GetProperty("steps").GetInt32():N0} steps × {options.Training.BatchSize} in {TimeSpan.Parse(trained.RootElement.GetProperty("elapsed").GetString()!, CultureInfo.InvariantCulture):h\\:mm\\:ss} ({trained.RootElement.GetProperty("imagesPerSecond").GetDouble():F0} img/s)");
            // What a run changed from the usual recipe, so rows that differ say how.
            if (options.Model.Prediction != Prediction.Epsilon) training += $", predicts {RunTrainer.Name(options.Model.Prediction)}";
            if (options.Schedule.Kind != Core.Schedules.BetaSchedule.Linear) training += $", {RunTrainer.Name(options.Schedule.Kind)} schedule";
            var results = e.GetProperty("results").EnumerateArray().Select(ReportResult.Read).ToList();
            var m = options.Model;
            using var network = new Models.UNet(m);
            var grid = Path.Combine(run, "samples", "grid.png");
            return new ReportRow(Path.GetFileName(Path.GetFullPath(run).TrimEnd(Path.DirectorySeparatorChar)), options.Preset, options.Dataset,
                $"{m.SampleSize}×{m.SampleSize}×{m.InChannels}", network.ParameterCount, m.NumClasses is not null, training,
                string.Create(CultureInfo.InvariantCulture, $"{e.GetProperty("sampler").GetString()} {e.GetProperty("steps").GetInt32()}"),
                results, File.Exists(grid) ? grid : null);
        }

        private static JsonDocument ParseJson(string path)
        {
            try { return JsonDocument.Parse(File.ReadAllText(path)); }
            catch (JsonException ex) { throw new DiffusionException($"'{path}' is not valid JSON: {ex.Message}"); }
        }
    }

    /// <summary>One evaluated guidance scale: its metric values with floors.</summary>
    private sealed record ReportResult(double Guidance, long Count, string Extractor, IReadOnlyDictionary<string, (double Value, double? Floor)> Values)
    {
        public static ReportResult Read(JsonElement r)
        {
            var values = new Dictionary<string, (double, double?)>();
            string extractor = "";
            foreach (var v in r.GetProperty("metrics").EnumerateArray())
            {
                var name = v.GetProperty("metric").GetString()!;
                double? floor = v.TryGetProperty("floor", out var f) && f.ValueKind == JsonValueKind.Number ? f.GetDouble() : null;
                values[name] = (v.GetProperty("value").GetDouble(), floor);
                if (name != "class accuracy") extractor = v.GetProperty("extractor").GetString() ?? "";
            }
            return new ReportResult(r.GetProperty("guidance").GetDouble(), r.GetProperty("count").GetInt64(), extractor, values);
        }

        public string Cell(string metric, bool percent = false)
        {
            if (!Values.TryGetValue(metric, out var v)) return "—";
            string Format(double x) => percent ? x.ToString("P1", CultureInfo.InvariantCulture) : x.ToString(x is > -10 and < 10 ? "F3" : "F2", CultureInfo.InvariantCulture);
            return v.Floor is double f ? $"{Format(v.Value)} ({Format(f)})" : Format(v.Value);
        }
    }
}
