using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Diffusion.Benchmarks.Speed;

/// <summary>The Markdown summary of a speed report: one table per network, then the ratios.</summary>
internal static class Report
{
    private static readonly string[] Kinds = ["train", "sample-guided", "sample-1nfe"];

    public static string Markdown(JsonObject report)
    {
        var s = new StringBuilder();
        var m = report["machine"]!;
        var settings = report["settings"]!;
        s.AppendLine(CultureInfo.InvariantCulture, $"# Speed, {report["dateUtc"]!.GetValue<string>()[..16]} UTC");
        s.AppendLine();
        s.AppendLine(CultureInfo.InvariantCulture, $"Machine: {m["cpu"]}, {m["cores"]} cores, AVX-512 BF16 {Yes(m["avx512_bf16"])}, AMX {Yes(m["amx_bf16"])}, {m["os"]}, {m["dotnet"]}.");
        var mm = report["matmul2048"]!;
        double fp32Peak = Num(mm["dotnet"]!["fp32GFlops"]), bf16Peak = Num(mm["dotnet"]!["bf16GFlops"]);
        string torchPeak = mm["pytorch"] is { } py ? string.Create(CultureInfo.InvariantCulture, $"; PyTorch {py["torch"]}: fp32 {Num(py["fp32GFlops"]):F0}, bf16 {Num(py["bf16GFlops"]):F0}.") : ".";
        s.AppendLine(CultureInfo.InvariantCulture, $"Matmul 2048³ (TorchSharp): fp32 {fp32Peak:F0} GFLOP/s, bf16 {bf16Peak:F0} GFLOP/s{torchPeak}");
        s.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Training: {settings["trainSteps"]} timed steps after {settings["warmup"]} warm-up; sampling: ")
            + string.Create(CultureInfo.InvariantCulture, $"{settings["sampleCount"]} images, DDIM {settings["sampleSteps"]} steps at guidance {settings["guidance"]} (cond and uncond in one batch), and 1 step without guidance (1 NFE). ")
            + string.Create(CultureInfo.InvariantCulture, $"Best of {settings["repeats"]} runs each (all runs in the JSON). 'tuned' = the SDK's allocator tuning (PyTorch: the same via MALLOC_*_THRESHOLD_), 'default' = glibc's defaults."));
        foreach (var net in report["networks"]!.AsArray())
        {
            var r = net!["results"]!;
            s.AppendLine();
            s.AppendLine(CultureInfo.InvariantCulture, $"## `{net["network"]}` network, batch {net["batch"]}, {Num(net["forwardMFlopsPerImage"]):F0} MFLOP forward / {Num(net["trainingMFlopsPerImage"]):F0} MFLOP training per image");
            if (net["pytorchTwin"] is { } twin)
                s.AppendLine(CultureInfo.InvariantCulture, $"\nPyTorch twin: {(twin["ok"]?.GetValue<bool>() == true ? $"same {twin["parameters"]} parameters and state-dict names; output max |diff| {Num(twin["maxAbsDiff"]):G2} on a scale of {Num(twin["outputScale"]):F2}" : "MISMATCH " + twin.ToJsonString())}.");
            s.AppendLine();
            s.AppendLine("| configuration | train img/s | peak MB | sample img/s (guided) | sample img/s (1 NFE) | peak MB |");
            s.AppendLine("|---|---:|---:|---:|---:|---:|");
            var configs = Kinds.SelectMany(k => r[k]?.AsObject().Select(kv => kv.Key) ?? []).Distinct().ToList();
            foreach (var c in configs)
            {
                string Cell(string kind) => r[kind]?[c] is { } x ? (x["error"] is { } e && x["bestImagesPerSecond"] is null ? "fails¹" : $"{Num(x["bestImagesPerSecond"]):F0}") : "–";
                string Mem(string kind) => r[kind]?[c]?["peakMB"] is { } p ? $"{Num(p):F0}" : "–";
                s.AppendLine(CultureInfo.InvariantCulture, $"| {c} | {Cell("train")} | {Mem("train")} | {Cell("sample-guided")} | {Cell("sample-1nfe")} | {Mem("sample-guided")} |");
            }
            var errors = Kinds.SelectMany(k => r[k]?.AsObject().Where(kv => kv.Value?["error"] is not null && kv.Value["bestImagesPerSecond"] is null).Select(kv => $"{kv.Key} {k}: {kv.Value!["error"]}") ?? []).ToList();
            if (errors.Count > 0) s.AppendLine().AppendLine("¹ " + string.Join("; ", errors.Distinct()));
            if (net["profile"]?["millisecondsForwardBackward"] is JsonObject prof)
            {
                s.AppendLine();
                s.AppendLine(CultureInfo.InvariantCulture, $"Per-operation profile: every operation of one training step (forward + backward) at its shape in the network, batch {net["profile"]!["batch"]}, run on its own (median of 7), summed per kind, ms:");
                s.AppendLine();
                s.AppendLine("| operation | fp32 | bf16 | autocast |");
                s.AppendLine("|---|---:|---:|---:|");
                var kinds = prof["fp32"]!.AsObject().Select(kv => kv.Key).Where(k => k != "total").ToList();
                foreach (var k in kinds.Append("total"))
                    s.AppendLine(CultureInfo.InvariantCulture, $"| {k} | {Num(prof["fp32"]![k]):F1} | {Num(prof["bf16"]![k]):F1} | {Num(prof["autocast"]![k]):F1} |");
                if (r["train"] is JsonObject tr)
                {
                    var measured = new[] { "fp32", "bf16", "autocast" }.Select(p => Speed(tr, $"dotnet {p} tuned") is double v ? string.Create(CultureInfo.InvariantCulture, $"{p} {1000 * Num(net["batch"]) / v:F0} ms") : null).Where(x => x is not null);
                    s.AppendLine().AppendLine("Measured full training steps (the trainer, allocator tuned): " + string.Join(", ", measured) + ".");
                }
            }
            s.AppendLine();
            foreach (var kind in Kinds)
            {
                if (r[kind] is not JsonObject k) continue;
                var best = Best(k, "dotnet");
                var torch = Best(k, "pytorch fp32");
                if (best is null) continue;
                var line = new StringBuilder($"- {kind}: fastest SDK configuration **{best.Value.Config}** {best.Value.Speed:F0} img/s");
                if (torch is not null) line.Append(CultureInfo.InvariantCulture, $", **{best.Value.Speed / torch.Value.Speed:F2}×** PyTorch's fastest fp32 ({torch.Value.Config}, {torch.Value.Speed:F0} img/s)");
                if (Best(k, "pytorch autocast") is { } pa) line.Append(CultureInfo.InvariantCulture, $", {best.Value.Speed / pa.Speed:F2}× PyTorch autocast ({pa.Config})");
                foreach (var p in new[] { "fp32", "bf16", "autocast" })
                    if (Speed(k, $"dotnet {p} tuned") is double t && Speed(k, $"dotnet {p} default") is double d)
                        line.Append(CultureInfo.InvariantCulture, $"; allocator tuning {p} ×{t / d:F2}");
                if (kind == "train")
                {
                    double flops = Num(net["trainingMFlopsPerImage"]) * 1e6;
                    bool low = best.Value.Config.Contains("bf16") || best.Value.Config.Contains("autocast");
                    double peak = low ? bf16Peak : fp32Peak;
                    line.Append(CultureInfo.InvariantCulture, $"; {best.Value.Speed * flops / 1e9:F0} GFLOP/s = {100 * best.Value.Speed * flops / 1e9 / peak:F0} % of the {(low ? "bf16" : "fp32")} matmul peak (ceiling {peak * 1e9 / flops:F0} img/s)");
                }
                s.AppendLine(line.Append('.').ToString());
            }
        }
        if (report["gradientCheckpointing"] is JsonArray memory && memory.Count > 0)
        {
            s.AppendLine();
            s.AppendLine("## Gradient checkpointing (fp32, allocator tuned)");
            s.AppendLine();
            s.AppendLine("| network | batch | checkpointing | peak RSS MB | RSS before training MB | added by training MB | peak live MB (malloc) | live before MB | train img/s |");
            s.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|");
            foreach (var row in memory)
            {
                double peak = Num(row!["peakMB"]), before = Num(row["rssBeforeTrainingMB"]);
                s.AppendLine(CultureInfo.InvariantCulture, $"| {row["network"]} | {row["batch"]} | {(row["gradientCheckpointing"]!.GetValue<bool>() ? "on" : "off")} | {peak:F0} | {before:F0} | {peak - before:F0} | {Num(row["peakLiveMB"]):F0} | {Num(row["liveBeforeTrainingMB"]):F0} | {Num(row["imagesPerSecond"]):F1} |");
            }
            foreach (var group in memory.GroupBy(m => m!["network"]!.GetValue<string>()))
            {
                var off = group.FirstOrDefault(m => !m!["gradientCheckpointing"]!.GetValue<bool>());
                var on = group.FirstOrDefault(m => m!["gradientCheckpointing"]!.GetValue<bool>());
                if (off is null || on is null) continue;
                double offPeak = Num(off["peakMB"]), onPeak = Num(on["peakMB"]);
                double offAdded = offPeak - Num(off["rssBeforeTrainingMB"]), onAdded = onPeak - Num(on["rssBeforeTrainingMB"]);
                double offLive = Num(off["peakLiveMB"]) - Num(off["liveBeforeTrainingMB"]), onLive = Num(on["peakLiveMB"]) - Num(on["liveBeforeTrainingMB"]);
                s.AppendLine(CultureInfo.InvariantCulture, $"- {group.Key}: peak RSS {100 * (1 - onPeak / offPeak):F0} % lower with checkpointing; the RSS training adds on top of the loaded process {100 * (1 - onAdded / offAdded):F0} % lower; the peak memory training holds in live allocations {100 * (1 - onLive / offLive):F0} % lower; speed ×{Num(on["imagesPerSecond"]) / Num(off["imagesPerSecond"]):F2}.");
            }
        }
        return s.ToString();
    }

    private static (string Config, double Speed)? Best(JsonObject kind, string prefix)
        => kind.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal) && kv.Value?["bestImagesPerSecond"] is not null)
            .Select(kv => (kv.Key, Num(kv.Value!["bestImagesPerSecond"]))).OrderByDescending(x => x.Item2).Cast<(string, double)?>().FirstOrDefault();

    private static double? Speed(JsonObject kind, string config) => kind[config]?["bestImagesPerSecond"] is { } v ? Num(v) : null;

    private static double Num(JsonNode? n)
        => n is JsonValue v ? (v.TryGetValue(out double d) ? d : v.TryGetValue(out long l) ? l : v.TryGetValue(out int i) ? i : double.NaN) : double.NaN;

    private static string Yes(JsonNode? n) => n?.GetValue<bool>() == true ? "yes" : "no";
}
