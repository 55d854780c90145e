using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Diffusion.Benchmarks;
using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Evaluation;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;
using Diffusion.Plotting;
using Diffusion.Text.Captions;
using Diffusion.Text.Encoders;
using Diffusion.Text.Tokenizers;
using static TorchSharp.torch;

// Prompt accuracy of text-to-digit (issue 17): trains the mnist-text preset for --minutes with each text encoder (a run
// folder that already exists is resumed, so a finished run is only evaluated), then draws images for every class from
// the HELD-OUT phrasings (never seen in training), from phrasings made of words absent from every training caption, and
// from prompts that name no digit, at each guidance scale; the project's MNIST classifier judges them. Also a t-SNE of
// the encoders' pooled caption embeddings, coloured by class. Writes text.json, text.md and PNGs into --out.
//   dotnet benchmarks/Diffusion.Benchmarks.Text/bin/Release/net10.0/Diffusion.Benchmarks.Text.dll --minutes 20
const string Help = """
    Prompt-accuracy benchmark of the mnist-text preset: train (or resume) one run per text encoder, then judge images
    drawn from held-out phrasings with the project's MNIST classifier.
      --minutes M        training budget per encoder (default 20; an existing run resumes up to it)
      --encoders LIST    minilm,learned (default both)
      --scales LIST      guidance scales (default 1,2,4)
      --per-prompt N     images per prompt (default 10: 10 classes x 4 held-out phrasings x 10 = 400 per scale)
      --sampler NAME     default ddim;  --steps N  default 20;  --seed N  default 0
      --runs DIR         run folders (default runs/text-benchmark/<encoder>)
      --out DIR          results (default benchmarks/results/text-<stamp>)
      --data-dir DIR     datasets (default $DIFFUSION_DATA);  --classifier-dir DIR  default <runs>/classifiers
      --threads N        CPU threads (default 2)
    """;

string[] known = ["minutes", "encoders", "scales", "per-prompt", "sampler", "steps", "seed", "runs", "out", "data-dir", "classifier-dir", "threads"];
string? outDirectory = null;
return ConsoleBenchmark.Run(args, Help, ct =>
{
    var o = new OptionValues(args, known);
    double minutes = o.TryGet("minutes", out var m) ? OptionValues.Number("--minutes", m, 0.05, 600) : 20;
    string[] encoders = o.TryGet("encoders", out var e) ? OptionValues.List(e) : ["minilm", "learned"];
    double[] scales = o.TryGet("scales", out var s) ? OptionValues.Numbers("--scales", s, 0, 20) : [1, 2, 4];
    int perPrompt = o.TryGet("per-prompt", out var pp) ? OptionValues.Int("--per-prompt", pp, 1, 1000) : 10;
    string sampler = o.TryGet("sampler", out var sa) ? sa : "ddim";
    int steps = o.TryGet("steps", out var st) ? OptionValues.Int("--steps", st, 1, 1000) : 20;
    int seed = o.TryGet("seed", out var se) ? OptionValues.Int("--seed", se, 0, int.MaxValue) : 0;
    int threads = o.TryGet("threads", out var th) ? OptionValues.Int("--threads", th, 1, 256) : 2;
    string runs = Path.GetFullPath(o.TryGet("runs", out var r) ? r : Path.Combine("runs", "text-benchmark"));
    string stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmm", CultureInfo.InvariantCulture);
    outDirectory = Path.GetFullPath(o.TryGet("out", out var od) ? od : Path.Combine("benchmarks", "results", $"text-{stamp}"));
    string dataDir = DataDirectory.Resolve(o.TryGet("data-dir", out var dd) ? dd : null);
    string classifierDir = o.TryGet("classifier-dir", out var cd) ? cd : Path.Combine(runs, "classifiers");
    foreach (var name in encoders)
        if (name is not ("minilm" or "learned")) throw new DiffusionException($"Unknown encoder '{name}'. Valid: minilm, learned.");
    if (scales.Length == 0) throw new DiffusionException("--scales needs at least one guidance scale.");
    set_num_threads(threads);
    Diffusion.Text.MiniLM.MiniLm.Register();
    Directory.CreateDirectory(outDirectory);
    void Log(string line) => Console.Error.WriteLine(line);

    var captions = LabelCaptions.Mnist;
    using var train = IdxDatasets.Mnist(dataDir, DatasetSplit.Train);
    using var test = IdxDatasets.Mnist(dataDir, DatasetSplit.Test);
    Log($"Classifier: {Path.Combine(classifierDir, "mnist")} (trained once if missing) ...");
    var (classifier, info, _) = ClassifierStore.GetOrLoad(classifierDir, "mnist", () => train, () => test, log: new SyncProgress<string>(l => Log("    " + l)), cancellationToken: ct);
    using var judge = classifier;

    // Held out of training by LabelCaptions; "unseen words": every word but the digit is absent from all training captions.
    var heldOut = Enumerable.Range(0, 10).SelectMany(c => captions.HeldOutPhrasings(c).Select(p => (Class: c, Prompt: p))).ToArray();
    string[] words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    var unseen = Enumerable.Range(0, 10).SelectMany(c => new[] { $"{words[c]} scrawled on a napkin", $"tiny doodle: {c}" }.Select(p => (Class: c, Prompt: p))).ToArray();
    string[] noClass = ["a cat", "a red car", "a photo of a dog", ""];

    var results = new List<EncoderResult>();
    foreach (var encoder in encoders)
    {
        ct.ThrowIfCancellationRequested();
        var runDir = Path.Combine(runs, encoder);
        Log($"== {encoder}: training mnist-text for {minutes} min into {runDir} (resumed if it exists) ...");
        var clock = Stopwatch.StartNew();
        var run = RunTrainer.Run(new TrainRunOptions { Preset = "mnist-text", Minutes = minutes, OutputDirectory = runDir, TextEncoder = encoder },
            new SyncProgress<string>(l => Log("    " + l)), null, ct);
        Log($"    {run.Training.Steps} steps, {run.Training.Elapsed.TotalMinutes:F1} min of training ({clock.Elapsed.TotalMinutes:F1} min this call)");
        using var pipe = DiffusionPipeline.Load(run.ModelDirectory);
        var text = pipe.Components.Conditioner as TextConditioner ?? throw new DiffusionException($"{run.ModelDirectory} is not a text model.");

        GenerationResult Draw((int Class, string Prompt)[] set, double scale) => pipe.Generate(new GenerationRequest
        {
            Count = set.Length * perPrompt, Prompts = set.SelectMany(x => Enumerable.Repeat(x.Prompt, perPrompt)).ToArray(),
            GuidanceScale = scale, Sampler = sampler, Steps = steps, Seed = seed,
        }, cancellationToken: ct);
        ClassAccuracyReport Judge(GenerationResult images, (int Class, string Prompt)[] set)
        {
            using var labels = tensor(set.SelectMany(x => Enumerable.Repeat((long)x.Class, perPrompt)).ToArray());
            return ClassAccuracy.Evaluate(judge, images.Images, labels, cancellationToken: ct);
        }
        var perScale = new List<ScaleResult>();
        foreach (var scale in scales)
        {
            Log(string.Create(CultureInfo.InvariantCulture, $"    guidance {scale}: {heldOut.Length * perPrompt} held-out, {unseen.Length * perPrompt} unseen-word, {noClass.Length * perPrompt} no-class images ..."));
            using var scope = NewDisposeScope();
            using var held = Draw(heldOut, scale);
            // Each image judged once, per prompt; the overall and per-class accuracies are sums of the prompts'.
            var promptAccuracy = heldOut.Select((x, i) => new PromptAccuracy(x.Prompt, x.Class, PromptCorrect(judge, held, i, perPrompt, x.Class, ct), perPrompt)).ToList();
            static double Share(IEnumerable<PromptAccuracy> prompts) => prompts.Sum(p => p.Correct) / (double)prompts.Sum(p => p.Count);
            double heldAccuracy = Share(promptAccuracy);
            double[] perClass = Enumerable.Range(0, 10).Select(c => Share(promptAccuracy.Where(p => p.Class == c))).ToArray();
            if (scale == scales.Max()) held.SaveGrid(Path.Combine(outDirectory, $"grid-{encoder}.png"), columns: 4 * perPrompt, scale: 1);
            using var novel = Draw(unseen, scale);
            var novelReport = Judge(novel, unseen);
            var noClassCounts = new List<NoClassResult>();
            foreach (var prompt in noClass)
            {
                using var none = Draw([(0, prompt)], scale);
                var judged = Judge(none, [(0, prompt)]);
                noClassCounts.Add(new NoClassResult(prompt, judged.Confusion[0]));
            }
            perScale.Add(new ScaleResult(scale, heldAccuracy, perClass, novelReport.Accuracy, promptAccuracy, noClassCounts));
            Log(string.Create(CultureInfo.InvariantCulture, $"      held-out {heldAccuracy:P1}, unseen words {novelReport.Accuracy:P1}"));
        }

        // Unknown words per prompt for a word-level tokenizer (the learned encoder): what it cannot read.
        int Unknown(string prompt) => text.Tokenizer is WordTokenizer w ? w.EncodeToIds(prompt).Count(id => id == w.UnknownId) : 0;
        var unknownWords = heldOut.Concat(unseen).Select(x => x.Prompt).Distinct().ToDictionary(p => p, Unknown);

        // t-SNE of the pooled embeddings of every training and held-out phrasing: held-out ones in their class colour, training ones grey.
        var all = Enumerable.Range(0, 10).SelectMany(c => captions.TrainingPhrasings(c).Select(p => (Class: c, Prompt: p, HeldOut: false))
            .Concat(captions.HeldOutPhrasings(c).Select(p => (Class: c, Prompt: p, HeldOut: true)))).ToArray();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var tokens = text.Tokenizer.Encode(all.Select(x => x.Prompt).ToArray(), CPU);
            var pooled = text.Encoder.Encode(tokens.Ids, tokens.Mask).Pooled.to(ScalarType.Float32);
            var embedding = Tsne.Embed(pooled, new TsneOptions { Perplexity = 15 }, ct);
            ScatterPlot.SavePng(embedding, tensor(all.Select(x => (long)x.Class).ToArray()), Path.Combine(outDirectory, $"tsne-{encoder}.png"), size: 400, radius: 3,
                highlight: tensor(all.Select(x => x.HeldOut).ToArray()));
        }
        results.Add(new EncoderResult(encoder, runDir, run.Training.Steps, run.Training.Elapsed.TotalMinutes, perScale, unknownWords));
    }

    var report = new TextReport(DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture), Machine(), minutes, sampler, steps, seed, perPrompt,
        info.TestAccuracy, heldOut.Length, unseen.Select(x => x.Prompt).Distinct().Count(), noClass, results);
    File.WriteAllText(Path.Combine(outDirectory, "text.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
    var md = Markdown(report);
    File.WriteAllText(Path.Combine(outDirectory, "text.md"), md);
    Console.WriteLine(md);
    Log($"-> {outDirectory}");
}, () => $"Cancelled; finished runs stay in their folders and resume; results so far are in {outDirectory}.");

// How many of one prompt's images (rows i·n … i·n+n−1 of the batch) the classifier gives the prompt's class.
static int PromptCorrect(Classifier judge, GenerationResult images, int prompt, int n, int cls, CancellationToken ct)
{
    using var scope = NewDisposeScope();
    var rows = images.Images.narrow(0, (long)prompt * n, n);
    using var labels = full(new long[] { n }, (long)cls, ScalarType.Int64);
    return (int)ClassAccuracy.Evaluate(judge, rows, labels, cancellationToken: ct).PerClass[cls].Correct;
}

static string Machine()
{
    string cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?" : "?";
    string flags = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
    string bf16 = flags.Contains("avx512_bf16", StringComparison.Ordinal) ? ", AVX-512 BF16" : flags.Contains(" avx2", StringComparison.Ordinal) ? ", AVX2" : "";
    return $"{Environment.ProcessorCount} cores, {cpu}{bf16}";
}

static string Markdown(TextReport r)
{
    var sb = new StringBuilder();
    var inv = CultureInfo.InvariantCulture;
    sb.AppendLine(inv, $"# Prompt accuracy, mnist-text ({r.DateUtc[..16]}Z, {r.Machine})");
    sb.AppendLine();
    sb.AppendLine(inv, $"Training budget {r.Minutes} min per encoder; {r.Sampler}, {r.Steps} steps, seed {r.Seed}; {r.PerPrompt} images per prompt; judged by the project's MNIST classifier (test accuracy {r.ClassifierTestAccuracy:P2}). Held-out phrasings: {r.HeldOutPrompts} prompts never seen in training; unseen words: {r.UnseenPrompts} prompts whose words, but the digit, appear in no training caption.");
    sb.AppendLine();
    sb.AppendLine("| encoder | steps | minutes | guidance | held-out accuracy | unseen-word accuracy | worst class |");
    sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    foreach (var e in r.Encoders)
        foreach (var s in e.Scales)
        {
            int worst = Array.IndexOf(s.PerClass, s.PerClass.Min());
            sb.AppendLine(inv, $"| {e.Encoder} | {e.Steps} | {e.TrainingMinutes:F1} | {s.Guidance} | {s.HeldOutAccuracy:P1} | {s.UnseenWordAccuracy:P1} | {worst} ({s.PerClass[worst]:P0}) |");
        }
    sb.AppendLine();
    foreach (var e in r.Encoders)
    {
        var best = e.Scales.MaxBy(s => s.HeldOutAccuracy)!;
        var one = e.Scales.FirstOrDefault(s => s.Guidance == 1);
        bool target = e.Encoder == "minilm" && r.Minutes <= 20 && best.HeldOutAccuracy >= 0.97 && (one is null || best.HeldOutAccuracy > one.HeldOutAccuracy);
        string baseline = one is null ? "" : string.Create(inv, $" (guidance 1: {one.HeldOutAccuracy:P1})");
        string verdict = e.Encoder == "minilm" ? $"; target (>= 97 % within 20 min, guidance above scale 1): {(target ? "met" : "not met")}" : "";
        sb.AppendLine(inv, $"- **{e.Encoder}**: best held-out accuracy {best.HeldOutAccuracy:P1} at guidance {best.Guidance}{baseline}{verdict}.");
        var unknown = e.UnknownWords.Where(kv => kv.Value > 0).ToList();
        if (unknown.Count > 0)
            sb.AppendLine(inv, $"  Prompts with words its tokenizer does not know: {unknown.Count} of {e.UnknownWords.Count} (e.g. \"{unknown[0].Key}\": {unknown[0].Value} unknown).");
        var top = e.Scales.MaxBy(s => s.Guidance)!;
        string counts = string.Join("; ", top.NoClass.Select(n => $"\"{n.Prompt}\" [{string.Join(" ", n.PredictedCounts)}]"));
        sb.AppendLine(inv, $"  No-class prompts at guidance {top.Guidance} (classifier's digit counts 0-9): {counts}.");
        var failing = top.Prompts.Where(p => p.Correct < p.Count).OrderBy(p => p.Correct).Take(5).ToList();
        if (failing.Count > 0)
        {
            string weakest = string.Join("; ", failing.Select(p => $"\"{p.Prompt}\" {p.Correct}/{p.Count}"));
            sb.AppendLine(inv, $"  Weakest held-out prompts at guidance {top.Guidance}: {weakest}.");
        }
        sb.AppendLine(inv, $"  ![grid {e.Encoder}](grid-{e.Encoder}.png) ![t-SNE {e.Encoder}](tsne-{e.Encoder}.png)");
    }
    return sb.ToString();
}

internal sealed record PromptAccuracy(string Prompt, int Class, int Correct, int Count);
internal sealed record NoClassResult(string Prompt, long[] PredictedCounts);
internal sealed record ScaleResult(double Guidance, double HeldOutAccuracy, double[] PerClass, double UnseenWordAccuracy, IReadOnlyList<PromptAccuracy> Prompts, IReadOnlyList<NoClassResult> NoClass);
internal sealed record EncoderResult(string Encoder, string Run, int Steps, double TrainingMinutes, IReadOnlyList<ScaleResult> Scales, IReadOnlyDictionary<string, int> UnknownWords);
internal sealed record TextReport(string DateUtc, string Machine, double Minutes, string Sampler, int Steps, int Seed, int PerPrompt, double ClassifierTestAccuracy,
    int HeldOutPrompts, int UnseenPrompts, IReadOnlyList<string> NoClassPrompts, IReadOnlyList<EncoderResult> Encoders);
