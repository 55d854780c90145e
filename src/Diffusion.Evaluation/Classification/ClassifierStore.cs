using System.Diagnostics;
using System.Globalization;
using Diffusion.Core;
using Diffusion.Core.Data;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Diffusion.Evaluation;

/// <summary>What is known about a stored classifier: where it came from and how well it does.</summary>
public sealed record ClassifierInfo
{
    /// <summary>The dataset it was trained on, e.g. "mnist".</summary>
    public required string Dataset { get; init; }

    /// <summary>Accuracy on the held-out test images, in [0, 1].</summary>
    public required double TestAccuracy { get; init; }

    /// <summary>Number of test images the accuracy was measured on.</summary>
    public required long TestCount { get; init; }

    /// <summary>Wall-clock training time in seconds.</summary>
    public required double TrainSeconds { get; init; }

    /// <summary>The options it was trained with.</summary>
    public required ClassifierTrainingOptions Training { get; init; }
}

/// <summary>
/// Saves and loads classifiers as a folder of <c>classifier.safetensors</c> (weights),
/// <c>classifier.json</c> (<see cref="ClassifierOptions"/>) and <c>info.json</c> (<see cref="ClassifierInfo"/>),
/// and keeps one trained classifier per dataset in a cache folder.
/// </summary>
public static class ClassifierStore
{
    /// <summary>File name of the weights inside a classifier folder.</summary>
    public const string WeightsFile = "classifier.safetensors";

    /// <summary>File name of the architecture options inside a classifier folder.</summary>
    public const string OptionsFile = "classifier.json";

    /// <summary>File name of the training record inside a classifier folder.</summary>
    public const string InfoFile = "info.json";

    /// <summary>Writes <paramref name="classifier"/> (and <paramref name="info"/> when given) into <paramref name="directory"/>, creating it.</summary>
    /// <exception cref="DiffusionException">The folder cannot be written.</exception>
    public static void Save(Classifier classifier, string directory, ClassifierInfo? info = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        try
        {
            Directory.CreateDirectory(directory);
            AtomicFile.Write(Path.Combine(directory, WeightsFile), path => classifier.save_safetensors(path));
            OptionsJson.Save(classifier.Options, Path.Combine(directory, OptionsFile));
            if (info is not null) OptionsJson.Save(info, Path.Combine(directory, InfoFile));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiffusionException($"Cannot write the classifier to '{directory}': {e.Message}", e);
        }
    }

    /// <summary>Loads the classifier stored in <paramref name="directory"/> (in eval mode, float32, on the CPU).</summary>
    /// <exception cref="DiffusionException">A file is missing or corrupted, or the weights lack or add tensors (all named in the message).</exception>
    public static Classifier Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var options = OptionsJson.Load<ClassifierOptions>(Path.Combine(directory, OptionsFile));
        var weights = Path.Combine(directory, WeightsFile);
        if (!File.Exists(weights)) throw new DiffusionException($"Classifier weights '{weights}' do not exist.");

        var classifier = new Classifier(options);
        var expected = classifier.state_dict();
        var expectedNames = expected.Keys.ToHashSet();
        var (entries, _, _) = SafetensorsFile.ReadHeader(weights);
        StateDicts.CheckNames(entries.Keys, expectedNames, $"Classifier weights '{weights}'");
        var wrongShape = entries.Where(e => !e.Value.Shape.SequenceEqual(expected[e.Key].shape)).Select(e => e.Key).Order().ToList();
        if (wrongShape.Count > 0)
            throw new DiffusionException($"Classifier weights '{weights}' have tensors of the wrong shape for {OptionsFile}: [{string.Join(", ", wrongShape)}].");

        var loaded = new Dictionary<string, bool>();
        try
        {
            classifier.load_safetensors(weights, strict: true, loadedParameters: loaded);
        }
        catch (Exception e) when (e is not DiffusionException)
        {
            throw new DiffusionException($"Cannot load classifier weights '{weights}': {e.Message}. Retrain or restore the classifier.", e);
        }
        var notLoaded = expectedNames.Where(name => !loaded.GetValueOrDefault(name)).Order().ToList();
        if (notLoaded.Count > 0)
            throw new DiffusionException($"Classifier weights '{weights}' did not provide tensors [{string.Join(", ", notLoaded)}].");
        classifier.eval();
        return classifier;
    }

    /// <summary>Reads the training record in <paramref name="directory"/>, or null when there is none.</summary>
    /// <exception cref="DiffusionException">The record exists but is corrupted.</exception>
    public static ClassifierInfo? LoadInfo(string directory)
    {
        var path = Path.Combine(directory, InfoFile);
        return File.Exists(path) ? OptionsJson.Load<ClassifierInfo>(path) : null;
    }

    /// <summary>
    /// Returns the classifier cached for <paramref name="datasetName"/> under <paramref name="cacheDirectory"/> if one was trained
    /// with the same <paramref name="options"/>; otherwise trains one, measures its test accuracy, and stores both
    /// (written to a temporary folder first and then moved into place, so a crash never leaves a partial cache).
    /// </summary>
    /// <param name="cacheDirectory">Root of the cache; the classifier lives in <c>cacheDirectory/datasetName</c>.</param>
    /// <param name="datasetName">A file-name-safe dataset name, e.g. "mnist".</param>
    /// <param name="trainImages">Training images in [−1, 1], (N, C, S, S).</param>
    /// <param name="trainLabels">Training labels, int64 (N).</param>
    /// <param name="testImages">Held-out images for the accuracy record.</param>
    /// <param name="testLabels">Held-out labels.</param>
    /// <param name="options">Training options; null uses the defaults.</param>
    /// <param name="progress">Training progress (only when training happens).</param>
    /// <param name="cancellationToken">Cancels training; the cache is left as it was.</param>
    /// <exception cref="DiffusionException">The name is not a valid folder name, the data are malformed, or the cache is corrupted.</exception>
    public static (Classifier Classifier, ClassifierInfo Info) GetOrTrain(string cacheDirectory, string datasetName,
        Tensor trainImages, Tensor trainLabels, Tensor testImages, Tensor testLabels, ClassifierTrainingOptions? options = null,
        IProgress<ClassifierTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        CheckName(datasetName);
        options ??= new ClassifierTrainingOptions();
        var cached = TryLoadCached(Path.Combine(cacheDirectory, datasetName), options);
        if (cached is not null) return cached.Value;
        return TrainAndStore(cacheDirectory, datasetName, trainImages, trainLabels, testImages, testLabels, options, progress, cancellationToken);
    }

    /// <summary>As the tensor overload, on two datasets: every training and test image, scaled to [−1, 1].</summary>
    /// <exception cref="DiffusionException">See the tensor overload.</exception>
    public static (Classifier Classifier, ClassifierInfo Info) GetOrTrain(string cacheDirectory, string datasetName,
        ImageDataset train, ImageDataset test, ClassifierTrainingOptions? options = null,
        IProgress<ClassifierTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        using var scope = NewDisposeScope();
        var (trX, trY) = train.Batch(arange(train.Count));
        var (teX, teY) = test.Batch(arange(test.Count));
        return GetOrTrain(cacheDirectory, datasetName, trX, trY, teX, teY, options, progress, cancellationToken);
    }

    /// <summary>
    /// The project's classifier for <paramref name="datasetKey"/>, the one every evaluation of that dataset shares: the
    /// one cached in <c>cacheDirectory/datasetKey</c> when it loads, else a new one trained on every image of
    /// <paramref name="train"/>, measured on <paramref name="test"/> and stored there (as <see cref="GetOrTrain(string, string, Tensor, Tensor, Tensor, Tensor, ClassifierTrainingOptions?, IProgress{ClassifierTrainingProgress}?, CancellationToken)"/>
    /// stores it). A cache that is missing, corrupted or, when <paramref name="training"/> is given, trained with other
    /// options is retrained, and <paramref name="log"/> says why.
    /// </summary>
    /// <param name="cacheDirectory">Root of the cache, e.g. <c>runs/classifiers</c>.</param>
    /// <param name="datasetKey">A file-name-safe dataset key (<see cref="Datasets.Key"/>), e.g. "mnist".</param>
    /// <param name="train">Supplies the training split; called only when a classifier is trained. The caller owns the dataset.</param>
    /// <param name="test">Supplies the test split for the accuracy record; called only when a classifier is trained.</param>
    /// <param name="training">Training options; null accepts a cached classifier whatever it was trained with, and trains
    /// a missing one with the defaults.</param>
    /// <param name="log">Told when a classifier is retrained, why, and how training goes.</param>
    /// <param name="cancellationToken">Cancels training; the cache is left as it was.</param>
    /// <returns>The classifier (the caller owns it), its training record, and its folder.</returns>
    /// <exception cref="DiffusionException">The key is not a valid folder name, or the data are missing or malformed.</exception>
    /// <exception cref="OperationCanceledException">Training was cancelled.</exception>
    public static (Classifier Classifier, ClassifierInfo Info, string Folder) GetOrLoad(string cacheDirectory, string datasetKey,
        Func<ImageDataset> train, Func<ImageDataset> test, ClassifierTrainingOptions? training = null, IProgress<string>? log = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cacheDirectory);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        CheckName(datasetKey);
        var folder = Path.Combine(cacheDirectory, datasetKey);
        if (File.Exists(Path.Combine(folder, InfoFile)))
        {
            try
            {
                var info = LoadInfo(folder)!;
                if (training is null || info.Training == training) return (Load(folder), info, folder);
                log?.Report($"Cached classifier in {folder} was trained with other options; retraining.");
            }
            catch (DiffusionException e)
            {
                log?.Report($"Cached classifier unusable ({e.Message}); retraining.");
            }
        }
        log?.Report($"Training the {datasetKey} classifier once (cached in {folder}) ...");
        // Synchronous: Progress<T> would post the lines to the thread pool and reorder them.
        var progress = log is null ? null : new SyncProgress<ClassifierTrainingProgress>(p => log.Report(string.Create(CultureInfo.InvariantCulture,
            $"classifier training: epoch {p.Epoch}/{p.Epochs}, step {p.Step}/{p.TotalSteps}, loss {p.Loss:F4}, {p.Elapsed.TotalSeconds:F0} s")));
        // Read outside the scope below: the datasets belong to the caller and outlive this call.
        var trainData = train();
        var testData = test();
        (Classifier Classifier, ClassifierInfo Info) result;
        using (var scope = NewDisposeScope())
        {
            var (trX, trY) = trainData.Batch(arange(trainData.Count));
            var (teX, teY) = testData.Batch(arange(testData.Count));
            result = TrainAndStore(cacheDirectory, datasetKey, trX, trY, teX, teY, training ?? new ClassifierTrainingOptions(), progress, cancellationToken);
        }
        log?.Report(string.Create(CultureInfo.InvariantCulture, $"Classifier test accuracy: {result.Info.TestAccuracy:P2}"));
        return (result.Classifier, result.Info, folder);
    }

    private static void CheckName(string datasetName)
    {
        if (string.IsNullOrWhiteSpace(datasetName) || datasetName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || datasetName.StartsWith('.'))
            throw new DiffusionException($"'{datasetName}' is not a valid dataset name for the classifier cache; use letters, digits, '-' or '_'.");
    }

    /// <summary>Trains, measures and stores a classifier (written to a temporary folder first and then moved into place,
    /// so a crash never leaves a partial cache), replacing whatever the cache folder held.</summary>
    private static (Classifier Classifier, ClassifierInfo Info) TrainAndStore(string cacheDirectory, string datasetName,
        Tensor trainImages, Tensor trainLabels, Tensor testImages, Tensor testLabels, ClassifierTrainingOptions options,
        IProgress<ClassifierTrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(cacheDirectory, datasetName);
        var clock = Stopwatch.StartNew();
        var classifier = ClassifierTrainer.Train(trainImages, trainLabels, options, progress, cancellationToken);
        double seconds = clock.Elapsed.TotalSeconds;
        var accuracy = ClassAccuracy.Evaluate(classifier, testImages, testLabels, cancellationToken: cancellationToken);
        var info = new ClassifierInfo
        {
            Dataset = datasetName,
            TestAccuracy = accuracy.Accuracy,
            TestCount = accuracy.Count,
            TrainSeconds = seconds,
            Training = options,
        };

        var temp = Path.Combine(cacheDirectory, $".{datasetName}.tmp-{Guid.NewGuid():N}");
        Save(classifier, temp, info);
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            Directory.Move(temp, folder);
        }
        catch (IOException)
        {
            // Another process finished first; keep its result and drop ours.
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return (classifier, info);
    }

    private static (Classifier, ClassifierInfo)? TryLoadCached(string folder, ClassifierTrainingOptions options)
    {
        if (!File.Exists(Path.Combine(folder, InfoFile)) || !File.Exists(Path.Combine(folder, WeightsFile)) || !File.Exists(Path.Combine(folder, OptionsFile)))
            return null;
        var info = LoadInfo(folder)!;
        if (info.Training != options) return null;
        return (Load(folder), info);
    }
}
