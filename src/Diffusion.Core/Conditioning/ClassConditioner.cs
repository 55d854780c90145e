using Diffusion.Core.Components;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Core.Conditioning;

/// <summary>
/// Conditions on a class index. The "no class" token is the extra index <see cref="Classes"/>, which a
/// model with <c>Classes + 1</c> embedding rows learns when labels are dropped during training.
/// </summary>
public sealed class ClassConditioner : IConditioner<int>
{
    /// <summary>Creates a conditioner for <paramref name="classes"/> classes, optionally named.</summary>
    /// <exception cref="DiffusionException"><paramref name="classes"/> is below 1 or the names do not match it.</exception>
    public ClassConditioner(int classes, IReadOnlyList<string>? names = null)
    {
        if (classes < 1) throw new DiffusionException($"A class conditioner needs at least one class, got {classes}.");
        if (names is not null && names.Count != classes)
            throw new DiffusionException($"Got {names.Count} class names for {classes} classes.");
        Classes = classes;
        Names = names ?? Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Number of real classes; also the index of the null class.</summary>
    public int Classes { get; }

    /// <summary>Human-readable class names, index-aligned.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <inheritdoc />
    /// <exception cref="DiffusionException">A class is outside [0, <see cref="Classes"/>).</exception>
    public Condition Encode(IReadOnlyList<int> inputs, Device device)
    {
        foreach (int c in inputs)
            if (c < 0 || c >= Classes)
                throw new DiffusionException($"Class {c} is out of range: this model knows classes 0 to {Classes - 1} ({string.Join(", ", Names)}).");
        return new Condition { Labels = tensor(inputs.Select(i => (long)i).ToArray(), device: device) };
    }

    /// <summary>Wraps an existing label tensor (int64, shape (B)) without copying.</summary>
    public static Condition FromLabels(Tensor labels) => new() { Labels = labels };

    /// <inheritdoc />
    public Condition Unconditional(int batch, Device device) => new() { Labels = NullLabels(batch, device) };

    /// <inheritdoc />
    /// <remarks>Replaces the labels by the null class and keeps every other field.</remarks>
    /// <exception cref="DiffusionException">The condition has no field, so its batch size is unknown.</exception>
    public Condition Unconditional(Condition conditional)
    {
        ArgumentNullException.ThrowIfNull(conditional);
        if (conditional.BatchSize is not long b)
            throw new DiffusionException("An empty condition has no rows to make unconditional; use Unconditional(batch, device).");
        var device = (conditional.Labels ?? conditional.All.First().Value).device;
        return conditional.With(Condition.Fields.Labels, NullLabels(b, device));
    }

    /// <summary>The null class for <paramref name="batch"/> rows, int64 (B).</summary>
    private Tensor NullLabels(long batch, Device device) => full(new[] { batch }, Classes, dtype: ScalarType.Int64, device: device);

    /// <inheritdoc />
    /// <exception cref="DiffusionException">The batch has no labels.</exception>
    public Condition EncodeBatch(Training.TrainingBatch batch, Device device)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var labels = batch.Labels ?? throw new DiffusionException("A class-conditional model needs labelled training data; this dataset has no labels.");
        return new Condition { Labels = labels.to(ScalarType.Int64, device) };
    }

    /// <inheritdoc />
    public Condition DropForTraining(Condition condition, double probability, Generator generator)
        => ConditionDropout.Drop(this, condition, probability, generator);

    /// <summary>The <c>_class_name</c> of this component in a pipeline folder (this SDK's own: diffusers has no conditioner component).</summary>
    public const string ClassName = "ClassConditioner";

    /// <summary>Writes <c>config.json</c> (<c>num_classes</c>, <c>class_names</c>) into <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        var json = ComponentConfig.New(ClassName);
        json["num_classes"] = Classes;
        json["class_names"] = new System.Text.Json.Nodes.JsonArray(Names.Select(n => (System.Text.Json.Nodes.JsonNode?)n).ToArray());
        ComponentConfig.Write(json, Path.Combine(folder, "config.json"));
    }

    /// <summary>Reads a conditioner written by <see cref="Save"/>.</summary>
    /// <exception cref="DiffusionException">The config is missing, names another class, or is inconsistent.</exception>
    public static ClassConditioner Load(string folder)
    {
        var c = ComponentConfig.Read(Path.Combine(folder, "config.json"), "conditioner", ClassName);
        int classes = c.RequiredInt("num_classes");
        var names = c.StringArray("class_names");
        c.EnsureAllRead();
        return new ClassConditioner(classes, names);
    }
}
