using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Core;

namespace Diffusion.Models;

/// <summary>
/// Architecture of a <see cref="UNet"/>: the shape of the network, not how it is trained. Saved as JSON
/// next to every checkpoint (<see cref="ToJson"/>, <see cref="FromJson"/>) and loaded back without loss.
/// The layout follows diffusers' <c>UNet2DModel</c>: level i has <c>BaseChannels·ChannelMultipliers[i]</c>
/// channels and runs at resolution <c>SampleSize / 2^i</c>.
/// </summary>
public sealed record UNetOptions
{
    /// <summary>Channels of the input image x_t, e.g. 1 for grayscale, 3 for RGB. Default 1.</summary>
    public int InChannels { get; init; } = 1;

    /// <summary>Channels of the prediction; equal to <see cref="InChannels"/> for eps, v or x0 prediction. Default 1.</summary>
    public int OutChannels { get; init; } = 1;

    /// <summary>Height and width of the (square) input in pixels; must be divisible by 2^(levels − 1)
    /// where levels is the length of <see cref="ChannelMultipliers"/>. Default 28.</summary>
    public int SampleSize { get; init; } = 28;

    /// <summary>Channels of the first level (diffusers' <c>block_out_channels[0]</c>); also the width of the
    /// sinusoidal timestep encoding. Default 32.</summary>
    public int BaseChannels { get; init; } = 32;

    /// <summary>Channel multiplier per resolution level; level i has <c>BaseChannels·ChannelMultipliers[i]</c>
    /// channels and every level but the last halves the resolution. Default {1, 2, 2}.</summary>
    public int[] ChannelMultipliers { get; init; } = [1, 2, 2];

    /// <summary>Residual blocks per level on the way down; the way up has one more per level, which
    /// takes the skip connection from the downsampler (as in diffusers). Default 2.</summary>
    public int LayersPerBlock { get; init; } = 2;

    /// <summary>Indices of the levels (0 = full resolution) whose residual blocks are each followed by
    /// self-attention, on the way down and up. Default {1, 2}.</summary>
    public int[] AttentionLevels { get; init; } = [1, 2];

    /// <summary>Whether the middle block (at the lowest resolution) has self-attention between its two
    /// residual blocks. Default true.</summary>
    public bool MidAttention { get; init; } = true;

    /// <summary>Channels per attention head; the number of heads of a block is its channels divided by this,
    /// which must divide exactly. Default 32.</summary>
    public int AttentionHeadDim { get; init; } = 32;

    /// <summary>Number of classes for class-conditional models, or null for an unconditional model. When set,
    /// the class embedding has <c>NumClasses + 1</c> rows: label <c>NumClasses</c> is the "no class" row that
    /// classifier-free guidance uses (Ho &amp; Salimans 2022). Default null.</summary>
    public int? NumClasses { get; init; }

    /// <summary>Width D of the context vectors (<see cref="Condition.Context"/>, shape (B, L, D)) the network cross-attends to,
    /// or null for a network without cross-attention. When set, the attention at every level of
    /// <see cref="ResolvedCrossAttentionLevels"/> and in the middle block (when <see cref="MidAttention"/>) is a transformer
    /// (self-attention, cross-attention on the context, feed-forward; Rombach et al. 2022, section 3.3) and the context is
    /// required. May be combined with <see cref="NumClasses"/>. Default null (left out of the JSON when null).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? CrossAttentionDim { get; init; }

    /// <summary>Indices of the levels whose attention is cross-attention rather than self-attention, a subset of
    /// <see cref="AttentionLevels"/> (cross-attention takes the place of a level's self-attention); only with
    /// <see cref="CrossAttentionDim"/>. Null means every attention level. Default null (left out of the JSON when null).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int[]? CrossAttentionLevels { get; init; }

    /// <summary>Transformer layers in every cross-attention block (diffusers' <c>transformer_layers_per_block</c>), at least 1;
    /// only with <see cref="CrossAttentionDim"/>. Null means 1. Default null (left out of the JSON when null).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? TransformerLayersPerBlock { get; init; }

    /// <summary>What the network outputs: eps, v or x0. Default <see cref="Diffusion.Core.Prediction.Epsilon"/>.</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<Prediction>))]
    public Prediction Prediction { get; init; } = Prediction.Epsilon;

    /// <summary>Dropout probability inside residual and attention blocks, in [0, 1). Default 0.</summary>
    public double Dropout { get; init; }

    /// <summary>Groups of every group normalization; must divide the channel count of every level. Default 8.</summary>
    public int GroupNormGroups { get; init; } = 8;

    /// <summary>Width of the timestep (and class) embedding fed to every residual block, or null for
    /// <c>4·BaseChannels</c> (see <see cref="ResolvedTimeEmbeddingDim"/>). Default null.</summary>
    public int? TimeEmbeddingDim { get; init; }

    /// <summary>The effective embedding width: <see cref="TimeEmbeddingDim"/> or <c>4·BaseChannels</c>.</summary>
    [JsonIgnore]
    public int ResolvedTimeEmbeddingDim => TimeEmbeddingDim ?? 4 * BaseChannels;

    /// <summary>The levels whose attention reads the context: <see cref="CrossAttentionLevels"/>, or every level of
    /// <see cref="AttentionLevels"/> when that is null; empty without <see cref="CrossAttentionDim"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<int> ResolvedCrossAttentionLevels => CrossAttentionDim is null ? [] : CrossAttentionLevels ?? AttentionLevels ?? [];

    /// <summary>The effective transformer depth: <see cref="TransformerLayersPerBlock"/> or 1.</summary>
    [JsonIgnore]
    public int ResolvedTransformerLayersPerBlock => TransformerLayersPerBlock ?? 1;

    /// <summary>Number of resolution levels, the length of <see cref="ChannelMultipliers"/>.</summary>
    [JsonIgnore]
    public int Levels => ChannelMultipliers?.Length ?? 0;

    /// <summary>Channels at level <paramref name="level"/>: <c>BaseChannels·ChannelMultipliers[level]</c>.</summary>
    public int ChannelsAt(int level) => BaseChannels * ChannelMultipliers[level];

    /// <summary>Checks every option and their consistency.</summary>
    /// <exception cref="DiffusionException">An option is out of range or inconsistent with another; the
    /// message names it and says what would be valid.</exception>
    public void Validate()
    {
        static void Require([DoesNotReturnIf(false)] bool ok, string message)
        {
            if (!ok) throw new DiffusionException("Invalid UNet options: " + message);
        }

        Require(InChannels >= 1, $"InChannels must be at least 1, got {InChannels}.");
        Require(OutChannels >= 1, $"OutChannels must be at least 1, got {OutChannels}.");
        Require(BaseChannels >= 1, $"BaseChannels must be at least 1, got {BaseChannels}.");
        Require(ChannelMultipliers is { Length: > 0 }, "ChannelMultipliers must list at least one level, e.g. [1, 2, 2].");
        Require(ChannelMultipliers.All(m => m >= 1), $"ChannelMultipliers must all be at least 1, got [{string.Join(", ", ChannelMultipliers)}].");
        Require(LayersPerBlock >= 1, $"LayersPerBlock must be at least 1, got {LayersPerBlock}.");
        Require(AttentionLevels is not null, "AttentionLevels must not be null; use [] for no attention.");
        Require(AttentionLevels.All(l => l >= 0 && l < Levels),
            $"AttentionLevels must be level indices in [0, {Levels - 1}], got [{string.Join(", ", AttentionLevels)}].");
        Require(AttentionLevels.Distinct().Count() == AttentionLevels.Length, $"AttentionLevels lists a level twice: [{string.Join(", ", AttentionLevels)}].");
        int factor = 1 << (Levels - 1);
        Require(SampleSize >= factor && SampleSize % factor == 0,
            $"SampleSize {SampleSize} must be a positive multiple of 2^(levels - 1) = {factor} for {Levels} levels; change SampleSize or ChannelMultipliers.");
        Require(GroupNormGroups >= 1, $"GroupNormGroups must be at least 1, got {GroupNormGroups}.");
        for (int level = 0; level < Levels; level++)
            Require(ChannelsAt(level) % GroupNormGroups == 0,
                $"GroupNormGroups {GroupNormGroups} must divide the {ChannelsAt(level)} channels of level {level}.");
        Require(AttentionHeadDim >= 1, $"AttentionHeadDim must be at least 1, got {AttentionHeadDim}.");
        foreach (int level in AttentionLevels.Concat(MidAttention ? [Levels - 1] : []))
            Require(ChannelsAt(level) % AttentionHeadDim == 0,
                $"AttentionHeadDim {AttentionHeadDim} must divide the {ChannelsAt(level)} channels of attention level {level}.");
        Require(NumClasses is null or >= 1, $"NumClasses must be at least 1 or null (unconditional), got {NumClasses}.");
        ValidateCrossAttention(Require);
        Require(Enum.IsDefined(Prediction), $"Unknown prediction {Prediction}; valid: {string.Join(", ", Enum.GetNames<Prediction>())}.");
        Require(Dropout >= 0 && Dropout < 1, $"Dropout must be in [0, 1), got {Dropout}.");
        Require(TimeEmbeddingDim is null or >= 1, $"TimeEmbeddingDim must be at least 1 or null (4·BaseChannels), got {TimeEmbeddingDim}.");
    }

    private void ValidateCrossAttention(Action<bool, string> require)
    {
        require(CrossAttentionDim is null or >= 1, $"CrossAttentionDim must be at least 1 (the context width) or null (no cross-attention), got {CrossAttentionDim}.");
        if (CrossAttentionDim is null)
        {
            require(CrossAttentionLevels is null, "CrossAttentionLevels is set but CrossAttentionDim is null; set CrossAttentionDim to the context width, or remove CrossAttentionLevels.");
            require(TransformerLayersPerBlock is null, "TransformerLayersPerBlock is set but CrossAttentionDim is null; set CrossAttentionDim to the context width, or remove TransformerLayersPerBlock.");
            return;
        }
        if (CrossAttentionLevels is { } cross)
        {
            require(cross.Distinct().Count() == cross.Length, $"CrossAttentionLevels lists a level twice: [{string.Join(", ", cross)}].");
            var missing = cross.Except(AttentionLevels).ToList();
            require(missing.Count == 0,
                $"CrossAttentionLevels [{string.Join(", ", cross)}] must be a subset of AttentionLevels [{string.Join(", ", AttentionLevels)}] " +
                $"(cross-attention takes the place of a level's self-attention); add level{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} to AttentionLevels.");
        }
        require(TransformerLayersPerBlock is null or >= 1, $"TransformerLayersPerBlock must be at least 1 or null (1), got {TransformerLayersPerBlock}.");
        require(ResolvedCrossAttentionLevels.Count > 0 || MidAttention,
            "CrossAttentionDim is set but no block would read the context: list levels in AttentionLevels (and CrossAttentionLevels) or set MidAttention.");
    }

    /// <summary>The options as JSON in the SDK's convention (<see cref="OptionsJson"/>: indented, camelCase,
    /// arrays as JSON arrays, enums as strings).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, OptionsJson.Options);

    /// <summary>Reads options written by <see cref="ToJson"/> and validates them.</summary>
    /// <exception cref="DiffusionException">The text is not valid JSON for these options, or the options are invalid.</exception>
    public static UNetOptions FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        UNetOptions? options;
        try
        {
            options = JsonSerializer.Deserialize<UNetOptions>(json, OptionsJson.Options);
        }
        catch (JsonException e)
        {
            throw new DiffusionException($"UNet options JSON is not valid: {e.Message}", e);
        }
        if (options is null) throw new DiffusionException("UNet options JSON is empty (null).");
        options.Validate();
        return options;
    }

    /// <summary>Value equality, comparing the arrays element by element (a record would compare their references).</summary>
    public bool Equals(UNetOptions? other) =>
        other is not null
        && InChannels == other.InChannels
        && OutChannels == other.OutChannels
        && SampleSize == other.SampleSize
        && BaseChannels == other.BaseChannels
        && SequenceEqual(ChannelMultipliers, other.ChannelMultipliers)
        && LayersPerBlock == other.LayersPerBlock
        && SequenceEqual(AttentionLevels, other.AttentionLevels)
        && MidAttention == other.MidAttention
        && AttentionHeadDim == other.AttentionHeadDim
        && NumClasses == other.NumClasses
        && CrossAttentionDim == other.CrossAttentionDim
        && SequenceEqual(CrossAttentionLevels, other.CrossAttentionLevels)
        && TransformerLayersPerBlock == other.TransformerLayersPerBlock
        && Prediction == other.Prediction
        && Dropout.Equals(other.Dropout)
        && GroupNormGroups == other.GroupNormGroups
        && TimeEmbeddingDim == other.TimeEmbeddingDim;

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(InChannels);
        hash.Add(OutChannels);
        hash.Add(SampleSize);
        hash.Add(BaseChannels);
        foreach (int m in ChannelMultipliers ?? []) hash.Add(m);
        hash.Add(LayersPerBlock);
        foreach (int l in AttentionLevels ?? []) hash.Add(l);
        hash.Add(MidAttention);
        hash.Add(AttentionHeadDim);
        hash.Add(NumClasses);
        hash.Add(CrossAttentionDim);
        foreach (int l in CrossAttentionLevels ?? []) hash.Add(l);
        hash.Add(CrossAttentionLevels is null);
        hash.Add(TransformerLayersPerBlock);
        hash.Add(Prediction);
        hash.Add(Dropout);
        hash.Add(GroupNormGroups);
        hash.Add(TimeEmbeddingDim);
        return hash.ToHashCode();
    }

    private static bool SequenceEqual(int[]? a, int[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
