using System.CommandLine;
using Diffusion.Core.Data;
using Diffusion.Models;
using Diffusion.Pipelines.Training;

namespace Diffusion.Cli;

internal static partial class Commands
{
    private static Command TrainVae(CancellationToken ct)
    {
        var defaults = new VaeTrainRunOptions();
        var preset = Flags.Text("--preset", "Starting configuration: " + string.Join(", ", VaePresets.Names) + ".", defaults.Preset, VaePresets.Names);
        preset.HelpName = "name";
        var minutes = Flags.OptionalDouble("--minutes", "Training time budget in minutes (overrides the preset's 60).", 0.01, 1e6);
        var steps = Flags.OptionalInt("--steps", "Training step budget (overrides the preset).", 1);
        var output = Flags.Text("--out", "Run folder; an existing VAE run folder is resumed. [default: runs/<preset>]");
        var dataDir = Flags.Text("--data-dir", "Folder holding the datasets (else $DIFFUSION_DATA, else ./data).");
        var dataset = Flags.Text("--dataset", "Train on another dataset than the preset's: " + string.Join(", ", Datasets.Names) + " or folder:<path> (resized and centre-cropped to the preset's size).");
        var batch = Flags.OptionalInt("--batch", "Batch size (overrides the preset).", 1, 65536);
        var lr = Flags.OptionalDouble("--lr", "Peak learning rate (overrides the preset).", 1e-7, 1);
        var loss = Flags.Choice<ReconstructionLoss?>("--loss", "Reconstruction distance of a new run: l1 or l2. [default: l1]", "loss",
            [(["l1"], ReconstructionLoss.L1), (["l2", "mse"], ReconstructionLoss.L2)]);
        var kl = Flags.OptionalDouble("--kl-weight", "Weight of the KL term of a new run (KL summed over the latent, per pixel). [default: 1e-6]", 0, 1);
        var seed = Flags.Int("--seed", "Random seed.", (int)defaults.Seed, 0);
        var precision = PrecisionOption("auto (bf16 where the CPU has bf16 instructions, else fp32), bf16 (mixed precision), fp32 or autocast.");
        var threads = ThreadsOption("CPU threads for TorchSharp.");
        var device = DeviceOption();

        var command = new Command("train-vae", "Train an AutoencoderKL (VAE) for latent diffusion; writes model/ (a pipeline's vae/ component, with the latent scaling factor estimated from data), reconstructions.png (originals above reconstructions), vae-result.json (PSNR, SSIM of held-out images), checkpoints and a loss curve into --out.")
        {
            preset, minutes, steps, output, dataDir, dataset, batch, lr, loss, kl, seed, precision, threads, device,
        };
        command.SetAction(p =>
        {
            var request = new VaeTrainRunOptions
            {
                Preset = p.GetValue(preset)!,
                OutputDirectory = p.GetValue(output),
                Minutes = p.GetValue(minutes),
                Steps = p.GetValue(steps),
                BatchSize = p.GetValue(batch),
                LearningRate = p.GetValue(lr),
                Reconstruction = p.GetValue(loss),
                KlWeight = p.GetValue(kl),
                Dataset = p.GetValue(dataset),
                DataDirectory = p.GetValue(dataDir),
                Seed = p.GetValue(seed),
                Precision = p.GetValue(precision),
                Device = p.GetValue(device)!,
            };
            TorchSharp.torch.set_num_threads(p.GetValue(threads));
            var run = TrainingDisplay.Run((log, progress) => VaeRunTrainer.Run(request, log, progress, ct));
            var result = run.Training;
            if (result.Cancelled)
            {
                Console.WriteLine($"Stopped at step {result.Steps}; checkpoint saved. Run the same command again to resume.");
                return 130;
            }
            var e = run.Evaluation!;
            Console.WriteLine($"Done: {result.Steps} steps in {result.Elapsed:h\\:mm\\:ss}, final loss {result.FinalLoss:F4}, {result.ImagesPerSecond:F0} img/s.");
            Console.WriteLine($"Held-out reconstructions ({e.EvalCount} images): PSNR {e.Psnr:F2} dB, SSIM {e.Ssim:F4}; latents {string.Join("x", e.LatentShape)}, scaling factor {e.ScalingFactor:G5}.");
            Console.WriteLine($"Run folder: {Path.GetFullPath(run.RunDirectory)}  VAE: {Path.GetFullPath(run.ModelDirectory)}");
            return 0;
        });
        return command;
    }
}
