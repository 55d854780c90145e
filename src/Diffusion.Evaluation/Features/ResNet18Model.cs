using Diffusion.Core;

namespace Diffusion.Evaluation;

/// <summary>
/// Finds the ImageNet ResNet18 that NuGet package <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> ships as ONNX
/// content files (<c>tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx</c> and its preprocessing graph
/// <c>tools/DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx</c>). This library's project copies both next to
/// every program that references it; the NuGet package cache is searched after that.
/// </summary>
public static class ResNet18Model
{
    /// <summary>The NuGet package that ships the model.</summary>
    public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    /// <summary>The package version this library was built and tested with.</summary>
    public const string PackageVersion = "0.23.1";

    /// <summary>Where the network lies relative to a program's folder (and to the package's <c>tools</c> folder).</summary>
    public static readonly string ModelRelativePath = Path.Combine("DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    /// <summary>Where the preprocessing graph (channel reorder and mean image) lies, relative like <see cref="ModelRelativePath"/>.</summary>
    public static readonly string PreprocessRelativePath = Path.Combine("DnnImageModels", "ResNetPrepOnnx", "ResNetPreprocess.onnx");

    /// <summary>The places <see cref="Locate"/> looks, in order: the program's folder, then <c>$NUGET_PACKAGES</c>,
    /// then <c>~/.nuget/packages</c>.</summary>
    public static IReadOnlyList<string> Candidates()
    {
        var list = new List<string> { Path.Combine(AppContext.BaseDirectory, ModelRelativePath) };
        var packageFolder = Path.Combine(PackageId.ToLowerInvariant(), PackageVersion, "tools");
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache)
            list.Add(Path.Combine(cache, packageFolder, ModelRelativePath));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home))
            list.Add(Path.Combine(home, ".nuget", "packages", packageFolder, ModelRelativePath));
        return list;
    }

    /// <summary>The path of <c>ResNet18.onnx</c>: the first of <see cref="Candidates"/> that exists.</summary>
    /// <exception cref="DiffusionException">None exists; the message lists where it looked and how to get the file.</exception>
    public static string Locate()
    {
        var candidates = Candidates();
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new DiffusionException(
                $"The ImageNet ResNet18 ONNX model was not found (looked in {string.Join(", ", candidates)}). Restore NuGet package " +
                $"{PackageId} {PackageVersion} (it ships tools/{ModelRelativePath.Replace('\\', '/')}) or pass the model's path.");
    }

    /// <summary>The preprocessing graph that belongs to <paramref name="modelPath"/> in the package's layout
    /// (<c>../ResNetPrepOnnx/ResNetPreprocess.onnx</c> beside the model's folder).</summary>
    public static string PreprocessPathFor(string modelPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        var modelsRoot = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(modelPath))) ?? ".";
        return Path.Combine(modelsRoot, "ResNetPrepOnnx", "ResNetPreprocess.onnx");
    }
}
