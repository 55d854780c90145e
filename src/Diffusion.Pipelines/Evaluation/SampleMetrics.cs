using Diffusion.Evaluation;
using static TorchSharp.torch;

namespace Diffusion.Pipelines.Evaluation;

/// <summary>The feature extractor and the <see cref="SampleEvaluator"/> for FID, KID, IS and precision/recall; disposes
/// what it opened (the real images belong to the caller's <see cref="RealData"/>, the classifier to the caller).</summary>
internal sealed class SampleMetrics : IDisposable
{
    private readonly IDisposable? _extractor;

    private SampleMetrics(IDisposable? extractor, SampleEvaluator evaluator)
    {
        _extractor = extractor;
        Evaluator = evaluator;
    }

    public SampleEvaluator Evaluator { get; }

    /// <summary>Opens the extractor <paramref name="kind"/> names (when <paramref name="wantFeatures"/>) and the evaluator;
    /// <paramref name="classifier"/> (the dataset's classifier, its folder and report name) is null when no metric needs it.</summary>
    public static SampleMetrics Open(RealData real, string referenceDirectory, FeatureKind kind, bool wantFeatures, string? inceptionWeights,
        (Classifier Classifier, string Folder, string Name)? classifier)
    {
        var judge = classifier is { } c ? new ClassifierFeatures(c.Classifier, c.Name) : null;
        IFeatureExtractor? features = null;
        IDisposable? owned = null;
        string fingerprint = "";
        try
        {
            if (wantFeatures)
            {
                switch (kind)
                {
                    case FeatureKind.Classifier:
                        features = judge ?? throw new InvalidOperationException("Classifier features need the classifier.");
                        fingerprint = ReferenceStatistics.FileFingerprint(Path.Combine(classifier!.Value.Folder, ClassifierStore.WeightsFile));
                        break;
                    case FeatureKind.ResNet18:
                        var resnet = ResNet18Features.FromPackage(threads: get_num_threads());
                        (features, owned, fingerprint) = (resnet, resnet, ReferenceStatistics.FileFingerprint(resnet.ModelPath));
                        break;
                    default:
                        var weights = inceptionWeights ?? throw new InvalidOperationException("Inception features need their weights.");
                        var inception = new InceptionV3Features(weights);
                        (features, owned, fingerprint) = (inception, inception, ReferenceStatistics.FileFingerprint(weights));
                        break;
                }
            }
            var evaluator = new SampleEvaluator(new RealImages(real.Key, real.Train, real.Test), new ReferenceStatistics(referenceDirectory), features, judge,
                featuresFingerprint: fingerprint);
            return new SampleMetrics(owned, evaluator);
        }
        catch
        {
            owned?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Evaluator.Dispose();
        _extractor?.Dispose();
    }
}
