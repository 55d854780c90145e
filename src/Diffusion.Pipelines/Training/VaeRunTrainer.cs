using Diffusion.Core;
using Diffusion.Core.Data;
using Diffusion.Core.Imaging;
using Diffusion.Core.Training;
using Diffusion.Evaluation;
using Diffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Training;

/// <summary>
/// Trains an <see cref="AutoencoderKL"/> from a VAE preset with the SDK's <see cref="Trainer"/> and a <see cref="VaeObjective"/>
/// (EMA, checkpoints and exact resume come with it), then estimates the latent scaling factor from training data,
/// writes the EMA autoencoder as a component folder (<c>model/</c>: what a latent pipeline's <c>vae/</c> holds), a
/// reconstructions grid of held-out images (<c>reconstructions.png</c>: originals above reconstructions), the loss
/// curve, and PSNR / SSIM of held-out reconstructions (<c>vae-result.json</c>). What <c>diffusion train-vae</c> does.
/// </summary>
public static class VaeRunTrainer
{
    /// <summary>The reconstructions grid in a VAE run folder.</summary>
    public const string GridFile = "reconstructions.png";

    /// <summary>The result file in a VAE run folder.</summary>
    public const string ResultFile = "vae-result.json";

    /// <summary>Resolves the options a run will train with: the preset, or the saved run when resuming, plus overrides.</summary>
    /// <exception cref="DiffusionException">The preset is unknown or an override is out of range.</exception>
    public static (VaeRunOptions Options, string OutputDirectory, bool Resuming) Resolve(VaeTrainRunOptions request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = VaePresets.Get(request.Preset);
        var outDir = request.OutputDirectory ?? Path.Combine("runs", options.Preset);
        bool resuming = File.Exists(Path.Combine(outDir, VaeRunOptions.FileName));
        if (!resuming && File.Exists(Path.Combine(outDir, RunOptions.FileName)))
            throw new DiffusionException($"{outDir} holds a diffusion run ({RunOptions.FileName}); train the VAE into another folder.");
        if (resuming) options = VaeRunOptions.Load(outDir);
        var t = options.Training;
        if (request.Minutes is double minutes) t = t with { MaxMinutes = minutes, MaxSteps = request.Steps };
        else if (request.Steps is int steps) t = t with { MaxSteps = steps, MaxMinutes = null };
        if (request.BatchSize is int b) t = t with { BatchSize = b };
        if (request.LearningRate is double lr) t = t with { LearningRate = lr };
        options = options with { Training = t with { Seed = request.Seed, Precision = request.Precision } };
        if (!resuming && (request.Reconstruction is not null || request.KlWeight is not null))
            options = options with { Objective = options.Objective with
            {
                Reconstruction = request.Reconstruction ?? options.Objective.Reconstruction, KlWeight = request.KlWeight ?? options.Objective.KlWeight,
            } };
        if (request.Dataset is { } dataset && !resuming) options = options with { Dataset = dataset };
        options.Validate();
        return (options, outDir, resuming);
    }

    /// <summary>Trains until the budget is reached or <paramref name="cancellationToken"/> fires (then saves a checkpoint and
    /// returns without evaluating), then writes the model, grid and result.</summary>
    /// <param name="request">Preset and overrides.</param>
    /// <param name="log">Receives one line per stage.</param>
    /// <param name="progress">Receives the trainer's reports.</param>
    /// <param name="cancellationToken">Stops the run at the next step.</param>
    /// <exception cref="DiffusionException">The options are invalid, or the data are missing or do not fit the model.</exception>
    public static VaeRunResult Run(VaeTrainRunOptions request, IProgress<string>? log = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var (options, outDir, resuming) = Resolve(request);
        if (resuming) log?.Report($"Resuming VAE run in {outDir} (preset {options.Preset}).");
        var device = Devices.Resolve(request.Device);
        var dataDir = DataDirectory.Resolve(request.DataDirectory);
        var m = options.Model;
        log?.Report($"Loading {options.Dataset} from {dataDir} ...");
        using var data = Datasets.Load(options.Dataset, dataDir, DatasetSplit.Train, m.SampleSize, m.ImageChannels, progress: log, cancellationToken: cancellationToken);
        log?.Report($"{data.Count:N0} images, {data.Size}x{data.Size}x{data.Channels}.");
        Directory.CreateDirectory(outDir);
        OptionsJson.Save(options, Path.Combine(outDir, VaeRunOptions.FileName));

        var t = options.Training;
        using var vae = new AutoencoderKL(m, new Generator((ulong)t.Seed, CPU));
        using var view = vae.ForTraining();
        log?.Report($"AutoencoderKL: {vae.ParameterCount:N0} parameters, x{m.DownsampleFactor} to {m.LatentChannels}x{m.SampleSize / m.DownsampleFactor}x{m.SampleSize / m.DownsampleFactor} latents; "
            + $"training {(t.MaxSteps is int s ? $"{s} steps" : $"{t.MaxMinutes} min")} in {t.Precision.Resolve(device)}, batch {t.BatchSize}, {options.Objective.Reconstruction} + {options.Objective.KlWeight:G3}·KL.");
        using var trainer = new Trainer(view, null, null, data, t, outDir, device, objective: new VaeObjective(options.Objective)) { Log = log };
        if (trainer.Step > 0) log?.Report($"Continuing from step {trainer.Step}.");
        var result = trainer.Run(progress, cancellationToken: cancellationToken);
        RunTrainer.WriteLossCurve(outDir);
        var modelDir = Path.Combine(outDir, RunFolders.ModelFolder);
        if (result.Cancelled) return new VaeRunResult(outDir, modelDir, options, result, null);

        using var scope = NewDisposeScope();
        using var ema = new AutoencoderKL(m);
        StateDicts.CopyInto(ema, trainer.EmaWeights, "EMA weights");
        ema.eval();
        log?.Report("Estimating the latent scaling factor and scoring held-out reconstructions ...");
        double scale = EstimateScalingFactor(ema, data, options.ScaleBatches, t.BatchSize, t.Seed);
        using var final = new AutoencoderKL(m with { ScalingFactor = scale });
        StateDicts.CopyInto(final, trainer.EmaWeights, "EMA weights");
        final.eval();
        SaveModel(final, modelDir);

        using var test = Datasets.Load(options.Dataset, dataDir, DatasetSplit.Test, m.SampleSize, m.ImageChannels, cancellationToken: cancellationToken);
        var (psnr, ssim, count) = Score(final, test, options.EvalCount, Math.Min(32, t.BatchSize * 2));
        WriteGrid(final, test, options.GridCount, Path.Combine(outDir, GridFile));
        var evaluation = new VaeEvaluation(result.Steps, result.Elapsed.TotalSeconds, result.ImagesPerSecond, result.FinalLoss, scale,
            final.LatentShape(m.SampleSize, m.SampleSize), count, psnr, ssim);
        OptionsJson.Save(evaluation, Path.Combine(outDir, ResultFile));
        OptionsJson.Save(result, Path.Combine(outDir, "train-result.json"));
        return new VaeRunResult(outDir, modelDir, options, result, evaluation);
    }

    /// <summary>1 / std of posterior samples of <paramref name="batches"/> batches of <paramref name="data"/> (a seeded
    /// permutation, so the estimate does not depend on the file order), as Rombach et al. 2022 (Sec. 4.3.2) set
    /// diffusers' <c>scaling_factor</c>.</summary>
    /// <exception cref="DiffusionException">The latents have zero spread.</exception>
    public static double EstimateScalingFactor(AutoencoderKL vae, ITrainingData data, int batches, int batchSize, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(data);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var g = new Generator((ulong)seed + 17, CPU);
        var order = randperm(data.Count, generator: g);
        var device = vae.parameters().First().device;
        double sum = 0, sumSquares = 0, n = 0;
        for (int i = 0; i < batches && i * batchSize < data.Count; i++)
        {
            using var step = NewDisposeScope();
            var idx = order.narrow(0, i * batchSize, Math.Min(batchSize, data.Count - i * batchSize));
            var z = vae.EncodeDistribution(data.GetBatch(idx).Images.to(device)).Sample(g).to(ScalarType.Float64);
            sum += z.sum().item<double>();
            sumSquares += z.square().sum().item<double>();
            n += z.numel();
        }
        double variance = sumSquares / n - Math.Pow(sum / n, 2);
        if (!(variance > 0)) throw new DiffusionException("The VAE's latents have no spread (std 0): the scaling factor cannot be estimated; the training failed.");
        return 1 / Math.Sqrt(variance);
    }

    /// <summary>Mean PSNR and SSIM (data range 2) of the first <paramref name="count"/> images of <paramref name="test"/>,
    /// reconstructed through the posterior mean and clamped to [−1, 1].</summary>
    public static (double Psnr, double Ssim, int Count) Score(AutoencoderKL vae, ImageDataset test, int count, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(test);
        var psnr = new List<double>();
        var ssim = new List<double>();
        int n = Math.Min(count, test.Count);
        var device = vae.parameters().First().device;
        using var noGrad = no_grad();
        for (int start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var (x, _) = test.Batch(arange(start, Math.Min(n, start + batchSize), dtype: ScalarType.Int64));
            var y = vae.forward(x.to(device)).clamp(-1, 1).cpu();
            psnr.AddRange(ImageQuality.Psnr(x, y));
            ssim.AddRange(ImageQuality.Ssim(x, y));
        }
        // A perfect reconstruction has infinite PSNR; the mean of finite values is reported then (and +inf if all are).
        var finite = psnr.Where(double.IsFinite).ToList();
        return (finite.Count > 0 ? finite.Average() : double.PositiveInfinity, ssim.Average(), n);
    }

    /// <summary>Writes the first <paramref name="count"/> images of <paramref name="test"/> in one row and their
    /// reconstructions (posterior mean) in the row below.</summary>
    public static void WriteGrid(AutoencoderKL vae, ImageDataset test, int count, string path)
    {
        ArgumentNullException.ThrowIfNull(vae);
        ArgumentNullException.ThrowIfNull(test);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int n = Math.Min(count, test.Count);
        var (x, _) = test.Batch(arange(n, dtype: ScalarType.Int64));
        var y = vae.forward(x.to(vae.parameters().First().device)).clamp(-1, 1).cpu();
        ImageGrid.SavePng(cat([x, y], 0), path, columns: n, scale: test.Size <= 64 ? 2 : 1);
    }

    /// <summary>Writes <paramref name="vae"/> into <paramref name="folder"/>, replacing it as a whole (written next to it, then renamed).</summary>
    public static void SaveModel(AutoencoderKL vae, string folder)
    {
        ArgumentNullException.ThrowIfNull(vae);
        var full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            vae.Save(tmp);
            if (Directory.Exists(full)) Directory.Delete(full, true);
            Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }
}
