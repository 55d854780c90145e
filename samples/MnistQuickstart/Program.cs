// The README's snippet as a program: train a class-conditional UNet on MNIST, then draw sixteen 7s.
//   dotnet run -c Release --project samples/MnistQuickstart -- [minutes]      (data: $DIFFUSION_DATA or ./data)
using Diffusion.Core; using Diffusion.Core.Conditioning; using Diffusion.Core.Data;
using Diffusion.Core.Imaging; using Diffusion.Core.Schedules; using Diffusion.Core.Training;
using Diffusion.Models; using Diffusion.Samplers; using TorchSharp; using static TorchSharp.torch;

double minutes = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 10;
using var data = IdxDatasets.Mnist(dataDir: null, DatasetSplit.Train);          // $DIFFUSION_DATA or ./data
INoiseScheduler schedule = new NoiseSchedule(new ScheduleOptions { Kind = BetaSchedule.Linear });
using var unet = new UNet(UNetPresets.Mnist);                                    // IDenoiser, 10 classes + null
var classes = new ClassConditioner(10);                                          // IConditioner
using (var trainer = new Trainer(unet, schedule, classes, data, new TrainingOptions { MaxMinutes = minutes }, "runs/quickstart"))
    trainer.Run();                                                               // bf16 compute, EMA, checkpoints
StateDicts.LoadInto(unet.to(ScalarType.Float32), "runs/quickstart/checkpoints/latest/ema.safetensors");
var guided = new ClassifierFreeGuidance(unet, scale: 3, classes);                // batched cond + uncond pass
ISampler sampler = SamplerRegistry.Create("dpmpp_2m");
var sevens = sampler.Sample(new DenoiserView(guided, schedule), new SamplingRequest
    { Shape = [16, 1, 28, 28], Steps = 20, Condition = classes.Encode(Enumerable.Repeat(7, 16).ToArray(), CPU), Generator = new Generator(0) });
ImageGrid.SavePng(sevens, "sevens.png", columns: 4);
Console.WriteLine("sevens.png written");
