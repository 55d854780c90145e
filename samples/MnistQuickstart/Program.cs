// The README's snippet as a program: compose a class-conditional UNet, train it on MNIST, save the EMA model as a
// pipeline folder (runs/quickstart/model) and draw sixteen 7s with it.
//   dotnet run -c Release --project samples/MnistQuickstart -- [minutes]      (data: $DIFFUSION_DATA or ./data)
using Diffusion.Core; using Diffusion.Core.Conditioning; using Diffusion.Core.Data; using Diffusion.Core.Schedules;
using Diffusion.Core.Training; using Diffusion.Models; using Diffusion.Pipelines;

double minutes = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 10;
using var data = IdxDatasets.Mnist(dataDir: null, DatasetSplit.Train);          // $DIFFUSION_DATA or ./data
var schedule = new NoiseSchedule(new ScheduleOptions { Kind = BetaSchedule.Linear }); // INoiseScheduler
using var unet = new UNet(UNetPresets.Mnist);                                    // IDenoiser, 10 classes + null
var classes = new ClassConditioner(10);                                          // IConditioner: labels, dropout for CFG
using var trainer = new Trainer(unet, schedule, classes, data, new TrainingOptions { MaxMinutes = minutes }, "runs/quickstart");
trainer.Run();                                                                   // EMA, checkpoints, bf16 if fast
var ema = new UNet(UNetPresets.Mnist);                                           // float32; the pipeline owns it
StateDicts.CopyInto(ema, trainer.EmaWeights, "EMA");
using var pipe = DiffusionPipeline.Create(new PipelineComponents { Denoiser = ema, Scheduler = schedule, Conditioner = classes, SampleShape = [1, 28, 28], ClipSample = 1 });
pipe.Save("runs/quickstart/model");                                              // what DiffusionPipeline.Load reads
using var sevens = pipe.Generate(new GenerationRequest { Classes = [7], Count = 16, Sampler = "dpmpp_2m", Steps = 20 }); // guidance 3
sevens.SaveGrid("sevens.png", columns: 4);
Console.WriteLine("sevens.png and runs/quickstart/model written");
