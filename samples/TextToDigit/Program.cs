// Text to digit: train the mnist-text preset briefly (or load a run given as the first argument), then draw one row per
// prompt into a grid PNG. Usage: dotnet run --project samples/TextToDigit [-- RUN_FOLDER [MINUTES]]
using System.Globalization;
using Diffusion.Core;
using Diffusion.Pipelines;
using Diffusion.Pipelines.Training;

Diffusion.Text.MiniLM.MiniLm.Register(); // the preset's pretrained text encoder

string run = args.Length > 0 ? args[0] : Path.Combine("runs", "text-to-digit");
double minutes = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 2;
if (!PipelineFolder.IsModelFolder(Path.Combine(run, RunFolders.ModelFolder)) && !PipelineFolder.IsModelFolder(run))
{
    Console.WriteLine($"Training mnist-text for {minutes} min into {run} ...");
    RunTrainer.Run(new TrainRunOptions { Preset = "mnist-text", Minutes = minutes, OutputDirectory = run }, new SyncProgress<string>(Console.WriteLine));
}

string[] prompts = ["draw a seven", "a handwritten 3", "the number zero", "a scribbled 5"];
const int perPrompt = 8;
using var pipe = DiffusionPipeline.Load(run);
using var images = pipe.Generate(new GenerationRequest
{
    Count = prompts.Length * perPrompt,
    Prompts = Enumerable.Range(0, prompts.Length * perPrompt).Select(i => prompts[i / perPrompt]).ToArray(),
    GuidanceScale = 4, Sampler = "dpmpp_2m", Steps = 20, Seed = 0,
});
var grid = Path.Combine(run, "text-to-digit.png");
images.SaveGrid(grid, columns: perPrompt, scale: 2);
Console.WriteLine($"One row per prompt ({string.Join(", ", prompts.Select(p => $"\"{p}\""))}) -> {grid}");
